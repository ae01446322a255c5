// Hooks run as the component runs them: JSON in and out, HookErrors as the
// WIT variant, bugs as failures, logs to the host (kept natively), HTTP.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { exportsOf } from '../src/component.js';
import { HookError, http, inScope, log, matchKey, outOfScope, rejected } from '../src/index.js';
import { call, groupCreate, respondWith, takeLogs, userCreate } from '../src/testing.js';

const plugin = {
  scope: (doc, ctx, config) => (config?.everyone || ctx.isGroup() ? inScope() : outOfScope(`not ${doc.getStr('userName')}`)),
  transformIn(doc, ctx) {
    log.info(`in ${ctx.operation}`);
    if (doc.get('reject')) throw rejected('no');
    if (doc.get('bug')) return doc.value.missing.field;
    doc.set('nickName', 'n');
    return doc;
  },
  matchKeys: (doc) => [matchKey('userName', doc.getStr('userName'))],
  onEvent(event, doc) {
    const answer = http.send('POST', 'https://hooks.example/x', [['content-type', 'application/json']], JSON.stringify({ event }));
    log.info(`${answer.status} ${answer.body} ${doc.getStr('userName')}`);
  },
};

const errorOf = (f) => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof HookError, `${e}`);
    return [e.kind, e.message];
  }
  assert.fail('no error');
};

test('hooks answer in the SDK shapes and log natively', () => {
  takeLogs();
  assert.deepEqual(call(plugin, 'transform-in', { userName: 'u' }), { userName: 'u', nickName: 'n' });
  assert.deepEqual(takeLogs(), [['info', 'in create']]);
  assert.deepEqual(call(plugin, 'scope', { userName: 'u' }), { inScope: false, reason: 'not u' });
  assert.deepEqual(call(plugin, 'scope', { userName: 'u' }, { config: { everyone: true } }), { inScope: true });
  assert.deepEqual(call(plugin, 'scope', {}, { ctx: groupCreate() }), { inScope: true });
  assert.deepEqual(call(plugin, 'match-keys', { userName: 'u' }), [{ attribute: 'userName', value: 'u' }]);
});

test('errors: rejected, failed, and bugs as failures', () => {
  assert.deepEqual(errorOf(() => call(plugin, 'transform-in', { reject: true })), ['rejected', 'no']);
  const [kind, message] = errorOf(() => call(plugin, 'transform-in', { bug: true }));
  assert.equal(kind, 'failed');
  assert.match(message, /^transform-in threw TypeError: /);
  assert.deepEqual(errorOf(() => call({ scope: () => true }, 'scope', {})), [
    'failed',
    'scope must return inScope() or outOfScope(reason)',
  ]);
  assert.deepEqual(errorOf(() => call({ transformIn: () => undefined }, 'transform-in', {})), [
    'failed',
    'transform-in must return the document (a Resource or an object)',
  ]);
  assert.deepEqual(errorOf(() => call({ matchKeys: () => [{ attribute: 'a' }] }, 'match-keys', {})), [
    'failed',
    'match-keys must return a list of matchKey(attribute, value)',
  ]);
});

test('the component exports take WIT values and throw the WIT variant', () => {
  const exports = exportsOf(plugin);
  assert.deepEqual(Object.keys(exports), ['scopeHook', 'transformInHook', 'matchKeysHook', 'eventHook']);
  const ctx = { tenant: 't', idpProfile: 'okta', operation: 'replace', resourceType: 'User', resourceId: 'id-1' };
  assert.deepEqual(exports.scopeHook.scope('{"userName":"u"}', ctx, 'null'), { tag: 'out-of-scope', val: 'not u' });
  assert.deepEqual(exports.scopeHook.scope('{}', ctx, '{"everyone":true}'), { tag: 'in-scope' });
  assert.equal(exports.transformInHook.transformIn('{"a":1}', ctx, 'null'), '{"a":1,"nickName":"n"}');
  assert.throws(() => exports.transformInHook.transformIn('{"reject":1}', ctx, 'null'), { tag: 'rejected', val: 'no' });
  assert.throws(() => exports.transformInHook.transformIn('[]', ctx, 'null'), {
    tag: 'failed',
    val: 'the document is not a JSON object',
  });
  assert.throws(() => exports.transformInHook.transformIn('{}', ctx, '{'), ({ tag, val }) =>
    tag === 'failed' && val.startsWith('the plugin configuration is not valid JSON: '),
  );
  assert.deepEqual(Object.keys(exportsOf({ transformOut: (doc) => doc })), ['transformOutHook']);
  takeLogs();
});

test('HTTP answers what a test installed, else refuses natively', () => {
  takeLogs();
  assert.deepEqual(errorOf(() => call(plugin, 'on-event', { userName: 'u' })), [
    'failed',
    'on-event threw HttpError: POST https://hooks.example/x: no HTTP outside the gateway (set one with mockHttp)',
  ]);
  const seen = [];
  respondWith((request) => {
    seen.push(request);
    return { status: 202, headers: [], body: 'queued' };
  });
  try {
    call(plugin, 'on-event', { userName: 'u' }, { event: 'deactivated' });
    assert.deepEqual(seen, [
      { method: 'POST', url: 'https://hooks.example/x', headers: [['content-type', 'application/json']], body: '{"event":"deactivated"}' },
    ]);
    assert.deepEqual(takeLogs(), [['info', '202 queued u']]);
    respondWith(() => {
      throw { tag: 'timeout' };
    });
    assert.equal(errorOf(() => call(plugin, 'on-event', {}))[1], 'on-event threw HttpError: POST https://hooks.example/x: no answer in time');
    respondWith(() => {
      throw { payload: { tag: 'transport', val: 'connection refused' } };
    });
    assert.equal(errorOf(() => call(plugin, 'on-event', {}))[1], 'on-event threw HttpError: POST https://hooks.example/x: connection refused');
  } finally {
    respondWith(null);
  }
});

test('contexts for tests', () => {
  const ctx = userCreate();
  assert.ok(ctx.isUser() && !ctx.isGroup());
  assert.deepEqual({ ...ctx }, { tenant: 'test', idpProfile: 'generic', operation: 'create', resourceType: 'User', resourceId: null });
});
