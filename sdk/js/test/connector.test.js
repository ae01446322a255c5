// Connector operations run as the component runs them: JSON in and out,
// errors as the connector-error variant, bugs as failures, HTTP answered by
// the test and the requests kept.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { exportsOf } from '../src/component.js';
import { pluginKind } from '../src/connector.js';
import { ConnectorError, HttpError, Resource, busy, conflict, failed, http, rejected } from '../src/index.js';
import { callConnector, cannedHttp, mockHttp, takeRequests, timeout, transport } from '../src/testing.js';

const USERS = 'https://hr.example/users';

function remove(id, ctx, config) {
  http.send('DELETE', `${config.base}/users/${id}`);
}

const plugin = {
  create(doc, ctx, config) {
    if (!doc.getStr('userName')) throw rejected('no userName');
    const answer = http.send('POST', `${config.base}/users`, [['content-type', 'application/json']], JSON.stringify(doc));
    if (answer.status === 409) throw conflict(`taken: ${doc.getStr('userName')}`);
    if (answer.status === 429) throw busy(Number(answer.headers.find(([k]) => k === 'retry-after')?.[1] ?? 1));
    if (answer.status !== 201) throw failed(`answered ${answer.status}`);
    doc.set('id', JSON.parse(answer.body).id);
    return doc;
  },
  get(id, ctx, config) {
    if (id === 'bug') return null.field;
    if (id === 'list') return [];
    const answer = http.send('GET', `${config.base}/users/${id}`);
    return answer.status === 404 ? null : { id, resourceType: ctx.resourceType, ...JSON.parse(answer.body) };
  },
  update: (id, doc) => (id === 'gone' ? undefined : new Resource({ ...doc.value, id })),
  delete: remove,
  find: (key) => (key.attribute === 'userName' ? { id: '1', userName: key.value } : null),
};

const errorOf = (f) => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ConnectorError, `${e}`);
    return e.kind === 'busy' ? [e.kind, e.seconds] : [e.kind, e.message];
  }
  assert.fail('no error');
};

const config = { base: 'https://hr.example' };

test('a module is hooks or a connector, not both, and a connector has all five operations', () => {
  assert.deepEqual(pluginKind(plugin), { connector: true, hooks: [] });
  assert.equal(pluginKind({ scope() {} }).connector, false);
  assert.throws(() => pluginKind({ ...plugin, transformIn() {} }), {
    message:
      'exports hooks (transformIn) and connector operations (create, get, update, delete, find): ' +
      'a plugin is either hooks or a connector',
  });
  assert.throws(() => pluginKind({ create() {}, find() {} }), {
    message:
      'is a connector (it exports create, find) but does not export get, update, delete: ' +
      'a connector exports all of create, get, update, delete, find',
  });
  assert.throws(() => pluginKind({}), /^Error: exports no hook \(scope, .*\) and no connector operations/);
});

test('a declaration of what the hooks read is one more export, and must name attributes', () => {
  const kind = pluginKind({ transformIn() {}, reads: ['userName', 'emails'] });
  assert.deepEqual(
    kind.hooks.map((h) => h.export),
    ['transformInHook', 'attributes'],
  );
  assert.deepEqual(exportsOf({ transformIn() {}, reads: ['userName'] }).attributes.reads(), ['userName']);
  assert.throws(() => pluginKind({ scope() {}, reads: 'userName' }), /`reads`, which must be an array/);
  assert.throws(() => pluginKind({ scope() {}, reads: [''] }), /`reads`, which must be an array/);
  assert.throws(() => pluginKind({ reads: ['userName'] }), /exports no hook/);
});

test('operations answer documents, null for none, and keep the requests', () => {
  takeRequests();
  mockHttp((request) =>
    request.method === 'POST' ? { status: 201, body: '{"id":"7"}' } : { status: 200, headers: [], body: '{"active":true}' },
  );
  try {
    const created = callConnector(plugin, 'create', { doc: { userName: 'ann' }, config });
    assert.deepEqual(created, { userName: 'ann', id: '7' });
    assert.deepEqual(callConnector(plugin, 'get', { id: '7', resourceType: 'Group', config }), {
      id: '7',
      resourceType: 'Group',
      active: true,
    });
    assert.deepEqual(takeRequests(), [
      { method: 'POST', url: USERS, headers: [['content-type', 'application/json']], body: '{"userName":"ann"}' },
      { method: 'GET', url: `${USERS}/7`, headers: [], body: null },
    ]);
    assert.deepEqual(takeRequests(), []);
    assert.deepEqual(callConnector(plugin, 'update', { id: '7', doc: { userName: 'b' } }), { userName: 'b', id: '7' });
    assert.equal(callConnector(plugin, 'update', { id: 'gone', doc: {} }), null);
    assert.equal(callConnector(plugin, 'delete', { id: '7', config }), undefined);
    assert.deepEqual(takeRequests().map((r) => `${r.method} ${r.url}`), [`DELETE ${USERS}/7`]);
    const key = { attribute: 'userName', value: 'ann' };
    assert.deepEqual(callConnector(plugin, 'find', { key }), { id: '1', userName: 'ann' });
    assert.equal(callConnector(plugin, 'find', { key: { attribute: 'externalId', value: 'x' } }), null);
  } finally {
    mockHttp(null);
  }
});

test('errors: the four kinds, HookErrors as theirs, bugs and bad answers as failures', () => {
  mockHttp(cannedHttp([
    { method: 'POST', url: USERS, status: 409 },
    { method: 'post', url: `${USERS}*`, status: 429, headers: [['retry-after', '30']] },
    { url: USERS, status: 500 },
  ]));
  try {
    const create = (doc) => () => callConnector(plugin, 'create', { doc, config });
    assert.deepEqual(errorOf(create({ userName: 'ann' })), ['conflict', 'taken: ann']);
    assert.deepEqual(errorOf(create({ userName: 'ann' })), ['busy', 30]);
    assert.deepEqual(errorOf(create({ userName: 'ann' })), ['failed', 'answered 500']);
    assert.deepEqual(errorOf(create({ userName: 'ann' })), [
      'failed',
      `create threw HttpError: POST ${USERS}: no canned answer for POST ${USERS}`,
    ]);
    assert.deepEqual(errorOf(create({})), ['rejected', 'no userName']);
  } finally {
    mockHttp(null);
  }
  const [kind, message] = errorOf(() => callConnector(plugin, 'get', { id: 'bug' }));
  assert.equal(kind, 'failed');
  assert.match(message, /^get threw TypeError: /);
  assert.deepEqual(errorOf(() => callConnector(plugin, 'get', { id: 'list' })), [
    'failed',
    'get must return the document (a Resource or an object) or null',
  ]);
  assert.deepEqual(errorOf(() => callConnector({ ...plugin, create: () => null }, 'create', { doc: {} })), [
    'failed',
    'create must return the document (a Resource or an object)',
  ]);
  assert.deepEqual(errorOf(() => callConnector({ ...plugin, create: () => { throw busy(1.5); } }, 'create', { doc: {} })), [
    'failed',
    'busy(seconds) takes a whole number from 0 to 4294967295, not 1.5',
  ]);
  assert.deepEqual(errorOf(() => callConnector(plugin, 'get', { id: '1', config })), [
    'failed',
    'get threw HttpError: GET https://hr.example/users/1: no HTTP outside the gateway (set one with mockHttp)',
  ]);
});

test('a handler throws timeout() or transport(message) for no answer: an HttpError naming the request', () => {
  const caught = (handler) => {
    mockHttp(handler);
    try {
      http.send('GET', USERS);
    } catch (e) {
      assert.ok(e instanceof HttpError);
      return e.message;
    } finally {
      mockHttp(null);
    }
    assert.fail('no error');
  };
  assert.equal(caught(() => { throw timeout(); }), `GET ${USERS}: no answer in time`);
  assert.equal(caught(() => { throw transport('connection refused'); }), `GET ${USERS}: connection refused`);
  // As the component's import throws it.
  assert.equal(caught(() => { throw { payload: { tag: 'transport', val: 'reset' } }; }), `GET ${USERS}: reset`);
  takeRequests();
});

test('canned answers: in order, by method and url prefix, repeated, bodies as text', () => {
  const answer = cannedHttp([
    { method: 'GET', url: 'https://x.example/a', status: 201, body: { id: 1 } },
    { url: 'https://x.example/*', status: 404, repeat: true },
  ]);
  const req = (method, url) => ({ method, url, headers: [], body: null });
  assert.deepEqual(answer(req('get', 'https://x.example/a')), { status: 201, headers: [], body: '{"id":1}' });
  assert.deepEqual(answer(req('GET', 'https://x.example/a')), { status: 404, headers: [], body: '' });
  assert.equal(answer(req('PUT', 'https://x.example/b')).status, 404);
  assert.throws(() => answer(req('GET', 'https://y.example/')), {
    tag: 'transport',
    val: 'no canned answer for GET https://y.example/',
  });
  assert.throws(() => cannedHttp([{ url: 'x', code: 1 }]), /unknown field code/);
});

test('the component export takes WIT values and throws the connector-error variant', () => {
  const { connector } = exportsOf(plugin);
  assert.deepEqual(Object.keys(exportsOf(plugin)), ['connector']);
  const ctx = { tenant: 't', idpProfile: 'okta', operation: 'replace', resourceType: 'User', resourceId: '9' };
  assert.equal(connector.update('9', '{"a":1}', ctx, 'null'), '{"a":1,"id":"9"}');
  assert.equal(connector.update('gone', '{}', ctx, 'null'), null);
  assert.equal(connector.find({ attribute: 'userName', value: 'u' }, ctx, 'null'), '{"id":"1","userName":"u"}');
  assert.throws(() => connector.create('{}', ctx, '{}'), { tag: 'rejected', val: 'no userName' });
  assert.throws(() => connector.create('[]', ctx, '{}'), { tag: 'failed', val: 'the document is not a JSON object' });
  mockHttp(cannedHttp([{ url: 'https://hr.example/users', status: 429, headers: [['retry-after', '5']] }]));
  try {
    assert.throws(() => connector.create('{"userName":"u"}', ctx, JSON.stringify(config)), { tag: 'busy', val: 5 });
    assert.throws(() => connector.delete('9', ctx, '{'), ({ tag, val }) =>
      tag === 'failed' && val.startsWith('the plugin configuration is not valid JSON: '),
    );
  } finally {
    mockHttp(null);
  }
  takeRequests();
});
