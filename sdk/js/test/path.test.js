// Paths parse as the gateway's `scim::path` parses them, with its messages.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseValuePath, showFilter } from '../src/path.js';

/** The message of the error a path raises; undefined if it parses. */
function messageOf(path) {
  try {
    parseValuePath(path);
  } catch (e) {
    return e.message;
  }
}

test('parses attribute, sub-attribute, URN and filtered paths', () => {
  assert.deepEqual(parseValuePath('  name.givenName \t'), {
    attr: { schema: null, attr: 'name', sub: 'givenName' },
    filter: null,
  });
  const enterprise = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
  assert.deepEqual(parseValuePath(`${enterprise}:manager.value`).attr, {
    schema: enterprise,
    attr: 'manager',
    sub: 'value',
  });
  assert.deepEqual(parseValuePath(enterprise).attr, {
    schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0',
    attr: 'User',
    sub: null,
  });
  assert.equal(parseValuePath('groups.$ref').attr.sub, '$ref');
  const vp = parseValuePath('emails[value eq "a]b"].display');
  assert.equal(showFilter(vp.filter), 'value eq "a]b"', "a ']' inside a string does not close the filter");
  assert.equal(vp.attr.sub, 'display');
});

test('filters print canonically', () => {
  const shown = (filter) => showFilter(parseValuePath(`x[${filter}]`).filter);
  assert.equal(shown('TYPE EQ "work" AND primary eq TRUE'), 'TYPE eq "work" and primary eq true');
  assert.equal(shown('type eq "work" and (primary eq true or region pr)'), 'type eq "work" and (primary eq true or region pr)');
  assert.equal(shown('(a eq 1 or b eq 2) and not (c eq "\\u00e9\\n")'), '(a eq 1 or b eq 2) and not (c eq "é\\n")');
});

test('rejects bad paths with the gateway messages and positions', () => {
  const cases = [
    ['', 'invalid path "": expected an attribute name at position 0'],
    ['1abc', "invalid path \"1abc\": an attribute name must start with a letter, found '1' at position 0"],
    ['a.b.c', 'invalid path "a.b.c": only one level of sub-attribute is allowed at position 3'],
    [' user name', "invalid path \" user name\": invalid character ' ' in attribute name at position 5"],
    ['urn:foo', "invalid path \"urn:foo\": a URN-qualified path needs 'urn:<schema>:<attribute>' at position 0"],
    ['urn::x', "invalid path \"urn::x\": expected a schema URN after 'urn:' at position 4"],
    ['emails[type eq "work"', "expected ']' (to close the one opened at position 6), 'and' or 'or', found the end of the input at position 21"],
    ['emails[type eq "work"]value', "expected '.' and a sub-attribute or the end of the path after ']' at position 22"],
    ['emails[type zz "work"]', "expected a known operator after 'type' (one of eq, ne, co, sw, ew, gt, ge, lt, le, pr), found 'zz' at position 12"],
    ['emails[type eq "work]', 'unterminated string starting at position 15'],
    ['emails[]', "expected an attribute path, '(' or 'not', found ']' at position 7"],
    ['emails.value[type eq "work"]', "a filtered attribute cannot have a sub-attribute before '[' at position 0"],
    ['emails[addresses[type eq "work"]]', 'value paths cannot be nested inside a value path at position 16'],
    ['emails[type eq 01]', "invalid number '01' at position 15"],
    ['emails[type eq "\\x"]', 'invalid escape sequence \\x at position 16'],
    ['emails[not type eq 1]', "expected '(' after 'not', found 'type' at position 11"],
    [`emails[${'('.repeat(64)}a pr${')'.repeat(64)}]`, 'filter nested deeper than 64 levels at position 70'],
  ];
  for (const [path, message] of cases) {
    assert.ok(messageOf(path)?.endsWith(message), `${path}: ${messageOf(path)}`);
  }
});
