// Helpers for a plugin's native tests (`node --test`): contexts, the hooks
// and connector operations run through the same glue as in the component,
// the captured log lines, and HTTP answered by the test (`mockHttp`,
// `cannedHttp`) with the requests kept (`takeRequests`).

import * as connector from './connector.js';
import * as glue from './glue.js';
import { asciiLower } from './path.js';
import { Context } from './types.js';

export { takeLogs, mockHttp, respondWith, takeRequests } from './host.js';

/** A context for tests: tenant `test`, IdP profile `generic`, no id. */
export function context(operation, resourceType, resourceId = null) {
  return new Context({ tenant: 'test', idpProfile: 'generic', operation, resourceType, resourceId });
}

/** A `create` context for a User. */
export const userCreate = () => context('create', 'User');

/** A `create` context for a Group. */
export const groupCreate = () => context('create', 'Group');

/**
 * Run one hook of a plugin module as the gateway would: `doc` and `config`
 * cross as JSON text. Returns the output document (transform hooks), the
 * decision (`scope`), the keys (`match-keys`) or nothing (`on-event`);
 * throws the HookError the component would return.
 *
 * @param {object} plugin the plugin module (`import * as plugin from ...`)
 * @param {string} hook `scope`, `transform-in`, `transform-out`, `match-keys` or `on-event`
 */
export function call(plugin, hook, doc, { ctx = userCreate(), config = null, event = 'created' } = {}) {
  const [json, configJson] = [JSON.stringify(doc), JSON.stringify(config)];
  switch (hook) {
    case 'scope':
      return glue.scope(plugin, json, ctx, configJson);
    case 'transform-in':
      return JSON.parse(glue.transformIn(plugin, json, ctx, configJson));
    case 'transform-out':
      return JSON.parse(glue.transformOut(plugin, json, ctx, configJson));
    case 'match-keys':
      return glue.matchKeys(plugin, json, ctx, configJson);
    case 'on-event':
      return glue.onEvent(plugin, event, json, ctx, configJson);
    default:
      throw new Error(`unknown hook ${hook}`);
  }
}

/** The context operation the gateway is in when it calls each connector operation. */
const CONTEXT_OPERATION = { create: 'create', get: 'get', update: 'replace', delete: 'delete', find: 'list' };

/**
 * Run one operation of a connector module as the gateway would: documents
 * and `config` cross as JSON text. Returns the answered document (an
 * object), null for none, or nothing (`delete`); throws the ConnectorError
 * the component would return. The context defaults to tenant `test`, the
 * given `resourceType`, and `id` as its resource id.
 *
 * @param {object} plugin the connector module (`import * as plugin from ...`)
 * @param {string} operation `create`, `get`, `update`, `delete` or `find`
 * @param {{doc?: object, id?: string, key?: {attribute: string, value: string},
 *   resourceType?: string, ctx?: Context, config?: any}} [args] `doc` for
 *   create and update, `id` for get, update and delete, `key` for find
 */
export function callConnector(plugin, operation, { doc, id, key, resourceType = 'User', ctx, config = null } = {}) {
  const op = CONTEXT_OPERATION[operation];
  if (op === undefined) throw new Error(`unknown connector operation ${operation}`);
  ctx ??= context(op, resourceType, id ?? null);
  const configJson = JSON.stringify(config);
  const parsed = (json) => (json === null ? null : JSON.parse(json));
  switch (operation) {
    case 'create':
      return JSON.parse(connector.create(plugin, JSON.stringify(doc), ctx, configJson));
    case 'get':
      return parsed(connector.get(plugin, id, ctx, configJson));
    case 'update':
      return parsed(connector.update(plugin, id, JSON.stringify(doc), ctx, configJson));
    case 'delete':
      return connector.remove(plugin, id, ctx, configJson);
    case 'find':
      return parsed(connector.find(plugin, key, ctx, configJson));
  }
}

/** For a `mockHttp` handler to throw: no answer in time. */
export const timeout = () => ({ tag: 'timeout' });

/** For a `mockHttp` handler to throw: the transport failed (refused, reset, TLS...). */
export const transport = (message) => ({ tag: 'transport', val: message });

const CANNED_FIELDS = new Set(['method', 'url', 'status', 'headers', 'body', 'repeat']);

/**
 * A `mockHttp` handler that answers from a list, as `scimgate plugin test
 * --http` does: each answer `{method?, url, status = 200, headers = [],
 * body, repeat = false}` serves the first request it fits (`method`
 * compared case-insensitively, when given; `url` exactly, or as a prefix
 * when it ends in `*`), once unless `repeat`. `body` is text, or any JSON
 * sent as its text. A request no answer fits fails like a refused
 * connection.
 */
export function cannedHttp(answers) {
  if (!Array.isArray(answers)) throw new Error('canned answers are a list');
  for (const a of answers) {
    const unknown = Object.keys(a ?? {}).find((k) => !CANNED_FIELDS.has(k));
    if (unknown !== undefined) throw new Error(`a canned answer has an unknown field ${unknown}`);
    if (typeof a.url !== 'string') throw new Error('a canned answer needs a url');
  }
  const used = answers.map(() => false);
  const fits = (a, { method, url }) =>
    (a.method === undefined || a.method === null || asciiLower(a.method) === asciiLower(method)) &&
    (a.url.endsWith('*') ? url.startsWith(a.url.slice(0, -1)) : url === a.url);
  return (request) => {
    const index = answers.findIndex((a, i) => (a.repeat || !used[i]) && fits(a, request));
    if (index < 0) throw transport(`no canned answer for ${request.method} ${request.url}`);
    used[index] = true;
    const { status = 200, headers = [], body = null } = answers[index];
    return { status, headers, body: typeof body === 'string' ? body : body === null ? '' : JSON.stringify(body) };
  };
}
