// The rules of the gateway's `scim::document`, through Resource: the cases
// of its Rust tests (sdk/src/resource.rs, gateway/scim/src/document/tests.rs).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ENTERPRISE_USER_SCHEMA as ENTERPRISE, HookError, Resource, USER_SCHEMA } from '../src/index.js';

const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';

const user = () =>
  new Resource({
    schemas: [USER_SCHEMA],
    userName: 'Alice',
    name: { givenName: 'Alice', familyName: null },
    emails: [
      { value: 'alice@home.example', type: 'home' },
      { value: 'Alice@Work.example', type: 'work', primary: true },
      { value: 'alice2@work.example', type: 'Work' },
    ],
    [ENTERPRISE]: { department: 'Engineering' },
  });

const emails = () =>
  new Resource({
    emails: [
      { type: 'work', value: 'first@x' },
      { type: 'home', value: 'home@x' },
      { type: 'work', value: 'primary@x', primary: true },
    ],
  });

const failure = (f) => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof HookError && e.kind === 'failed', `${e}`);
    return e.message;
  }
  assert.fail('no failure');
};

test('gets simple, sub-attribute and filtered paths', () => {
  const doc = user();
  assert.equal(doc.getStr('userName'), 'Alice');
  assert.equal(doc.getStr('USERNAME'), 'Alice');
  assert.equal(doc.getStr('urn:ietf:params:scim:schemas:core:2.0:User:userName'), 'Alice');
  assert.equal(doc.getStr('name.givenName'), 'Alice');
  assert.equal(doc.get('name.familyName'), undefined, 'null reads as absent');
  assert.equal(doc.get('nickName'), undefined);
  // `type` is not case-exact: both work emails match.
  assert.deepEqual(doc.getAll('emails[type eq "work"].value'), ['Alice@Work.example', 'alice2@work.example']);
  assert.equal(doc.getStr('emails[type eq "work" and primary eq true].value'), 'Alice@Work.example');
  assert.equal(doc.getAll('emails.value').length, 3);
  assert.equal(doc.getStr('emails.value'), 'Alice@Work.example', "one value: the primary's");
  assert.equal(doc.get('emails').length, 3);
  assert.equal(doc.get('emails[type eq "other"]'), undefined);
  assert.equal(doc.getStr(`${ENTERPRISE}:department`), 'Engineering');
  assert.deepEqual(doc.get(ENTERPRISE), { department: 'Engineering' });
  assert.equal(doc.get('emails[type eq'), undefined, 'a bad path finds nothing');
  assert.equal(doc.getBool('emails[value sw "Alice@"].primary'), true);
});

test('filtered reads with zero, one and many matches', () => {
  let doc = emails();
  assert.equal(doc.get('emails[type eq "other"].value'), undefined);
  assert.deepEqual(doc.getAll('emails[type eq "home"].value'), ['home@x']);
  assert.equal(doc.get('emails[type eq "work"].value'), 'primary@x', 'the primary wins');
  assert.deepEqual(doc.getAll('emails[type eq "work"].value'), ['first@x', 'primary@x']);

  doc = new Resource({ emails: [{ type: 'work', value: 'a' }, { type: 'work', value: 'b', primary: 'True' }] });
  assert.equal(doc.get('emails[type eq "work"].value'), 'b', 'Entra\'s "True" is primary');
  doc = new Resource({ emails: [{ type: 'work', primary: true }, { type: 'work', value: 'v', display: null }] });
  assert.equal(doc.get('emails[type eq "work"].value'), 'v', 'elements without the value are not candidates');
  assert.equal(doc.get('emails[type eq "work"].display'), undefined);
  assert.deepEqual(doc.get('emails[value pr]'), { type: 'work', value: 'v', display: null });
  doc = new Resource({ emails: { type: 'work', value: 'lone' } });
  assert.equal(doc.get('emails[type eq "work"].value'), 'lone', 'a lone object is one element');
});

test('filter operators', () => {
  const doc = new Resource({
    emails: [
      { type: 'work', value: 'Ann@Corp.example', primary: 'False', rank: 2 },
      { type: 'home', value: 'ann@home.example', rank: 10 },
    ],
    meta: { resourceType: 'User' },
  });
  const values = (filter) => doc.getAll(`emails[${filter}].value`);
  assert.deepEqual(values('value co "corp"'), ['Ann@Corp.example'], 'case-insensitive');
  assert.deepEqual(values('value sw "ANN@"'), ['Ann@Corp.example', 'ann@home.example']);
  assert.deepEqual(values('value ew ".EXAMPLE" and not (type eq "work")'), ['ann@home.example']);
  assert.deepEqual(values('type ne "work"'), ['ann@home.example']);
  assert.deepEqual(values('primary eq false'), ['Ann@Corp.example'], 'a boolean from a string');
  assert.deepEqual(values('primary eq null'), ['ann@home.example'], 'eq null: no value');
  assert.deepEqual(values('rank gt 2 or type eq "work"'), ['Ann@Corp.example', 'ann@home.example']);
  assert.deepEqual(values('rank lt 10'), ['Ann@Corp.example'], 'numbers compare as numbers');
  assert.deepEqual(values('rank eq "2"'), [], 'a string is not a number');
  assert.deepEqual(values('display pr'), []);
  assert.equal(doc.get('meta[resourceType eq "user"].resourceType'), undefined, 'resourceType is case-exact');
  assert.equal(doc.get('meta[resourceType eq "User"].resourceType'), 'User');
});

test('core and extension URNs', () => {
  const doc = new Resource({
    name: { givenName: 'Alice' },
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:USER': { department: 'R&D' },
  });
  assert.equal(doc.get('URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:NAME.GIVENNAME'), 'Alice');
  assert.equal(doc.get(`${ENTERPRISE.toUpperCase()}:department`), 'R&D');
  assert.deepEqual(doc.get(ENTERPRISE), { department: 'R&D' }, 'a bare URN is the whole object');
  assert.equal(doc.get(`${ACME}:department`), undefined);
  assert.equal(doc.get(`${ENTERPRISE}:name.givenName`), undefined, 'extensions are not the top level');
});

test('sets attributes, creating what is missing and keeping spellings', () => {
  const doc = user();
  doc.set('username', 'alice');
  assert.equal(doc.value.userName, 'alice', 'the existing spelling is kept');
  doc.set('name.familyName', 'Smith');
  assert.deepEqual(doc.value.name, { givenName: 'Alice', familyName: 'Smith' });
  const empty = new Resource({});
  empty.set('name.formatted', 'A B');
  assert.deepEqual(empty.value, { name: { formatted: 'A B' } });
  const scalar = new Resource({ name: 'oops' });
  scalar.set('name.formatted', 'A B');
  assert.deepEqual(scalar.value, { name: { formatted: 'A B' } }, 'a scalar where an object belongs is replaced');
});

test('writes through filters', () => {
  const doc = emails();
  doc.set('emails[type eq "work"].value', 'new@x');
  assert.equal(doc.value.emails[2].value, 'new@x', 'the primary match');
  assert.equal(doc.value.emails[0].value, 'first@x', 'the other match is left alone');
  doc.set('emails[type eq "other" and primary eq false].value', 'o@x');
  assert.deepEqual(doc.value.emails[3], { type: 'other', primary: false, value: 'o@x' });
  doc.set('phoneNumbers[type eq "mobile"]', { value: '+1' });
  assert.deepEqual(doc.value.phoneNumbers, [{ type: 'mobile', value: '+1' }]);
  doc.set('phoneNumbers[type eq "mobile"]', { type: 'fax', value: '+2' });
  assert.deepEqual(doc.value.phoneNumbers, [{ type: 'fax', value: '+2' }], 'a match is replaced');
  assert.equal(
    failure(() => doc.set('emails[value co "z"].display', 'z')),
    "no element of 'emails' matches [value co \"z\"], and the filter is not a list of `eq` terms to build one from",
  );
  failure(() => doc.set('emails[type eq null].display', 'z'));
  assert.match(failure(() => doc.set('emails[', 'z')), /^invalid path "emails\[": /);

  const lone = new Resource({ emails: { type: 'home', value: 'h' } });
  lone.set('emails[type eq "work"].value', 'w');
  assert.deepEqual(lone.value.emails, [{ type: 'home', value: 'h' }, { type: 'work', value: 'w' }]);

  const unfiltered = new Resource({ emails: [{ value: 'a' }, { value: 'b', primary: true }] });
  unfiltered.set('emails.display', 'B');
  assert.deepEqual(unfiltered.value.emails, [{ value: 'a' }, { value: 'b', primary: true, display: 'B' }]);
  const none = new Resource({ emails: [] });
  none.set('emails.value', 'v');
  assert.deepEqual(none.value.emails, [{ value: 'v' }]);
});

test('names are case-insensitive on read and write', () => {
  const doc = new Resource({ userName: 'a', Name: { GivenName: 'A' }, emails: [{ TYPE: 'work', Value: 'w' }] });
  assert.equal(doc.get('EMAILS[type eq "WORK"].VALUE'), 'w');
  doc.set('username', 'b');
  doc.set('NAME.givenName', 'B');
  doc.set('Emails[Type eq "work"].value', 'v');
  doc.set('name.familyName', 'F');
  assert.equal(
    JSON.stringify(doc),
    JSON.stringify({ userName: 'b', Name: { GivenName: 'B', familyName: 'F' }, emails: [{ TYPE: 'work', Value: 'v' }] }),
  );
});

test('extension writes list the schema', () => {
  const doc = new Resource({ schemas: [USER_SCHEMA], userName: 'bob' });
  doc.set(`${ENTERPRISE}:manager.value`, 'm-1');
  assert.deepEqual(doc.value[ENTERPRISE], { manager: { value: 'm-1' } });
  assert.deepEqual(doc.value.schemas, [USER_SCHEMA, ENTERPRISE]);
  doc.set(`${ENTERPRISE.toLowerCase()}:department`, 'Sales');
  assert.deepEqual(doc.value.schemas, [USER_SCHEMA, ENTERPRISE], 'listed once, in any case');
  doc.value.schemas.push(ACME);
  doc.set(ACME, { badge: 7 });
  assert.deepEqual(doc.value[ACME], { badge: 7 }, 'a bare URN the document lists names the whole object');
  const bare = new Resource({});
  bare.set(`${ACME}:badge`, 1);
  assert.deepEqual(bare.value, { [ACME]: { badge: 1 } }, 'no `schemas` array, none made up');
});

test('removal takes every match', () => {
  const doc = user();
  assert.equal(doc.remove('emails[type eq "work"]'), 2);
  assert.equal(doc.remove('emails[type eq "home"].type'), 1);
  assert.equal(doc.remove('emails[value pr]'), 1);
  assert.equal(doc.get('emails'), undefined, 'an emptied multi-valued attribute is removed');
  assert.equal(doc.remove('name.givenName'), 1);
  assert.equal(doc.remove('name.familyName'), 0, 'null counts as absent');
  assert.equal(doc.remove('nickName'), 0);
  assert.equal(doc.remove(`${ENTERPRISE}:department`), 1);
  assert.equal(doc.remove(ENTERPRISE), 1);
  assert.deepEqual(doc.value.schemas, [USER_SCHEMA]);
  assert.match(failure(() => doc.remove('a.b.c')), /only one level of sub-attribute is allowed at position 3/);
});

test('non-objects read empty and refuse writes', () => {
  const doc = new Resource([1, 2]);
  assert.equal(doc.get('userName'), undefined);
  assert.equal(failure(() => doc.set('userName', 'x')), 'the document is not a JSON object');
  assert.equal(doc.remove('userName'), 0);
  assert.equal(failure(() => Resource.fromJSON('[]')), 'the document is not a JSON object');
  assert.match(failure(() => Resource.fromJSON('{')), /^the document is not valid JSON: /);
  assert.equal(JSON.stringify(Resource.fromJSON('{"a":1}')), '{"a":1}');
});

test('a member named __proto__ is plain data', () => {
  const doc = Resource.fromJSON('{"emails": []}');
  doc.set('emails[type eq "work"]', JSON.parse('{"__proto__": {"polluted": true}, "value": "v"}'));
  assert.equal({}.polluted, undefined);
  assert.deepEqual(Object.keys(doc.value.emails[0]), ['type', '__proto__', 'value']);
});
