// Running a connector's operations on what crosses the component boundary
// (JSON text, ids, the WIT context and match key) and checking what they
// return. The component's exports (component.js) and native tests
// (testing.js `callConnector`) both go through here.
//
// A connector module exports the five functions `create`, `get`, `update`,
// `delete` and `find` (`delete` is a reserved word: define the function
// under another name and `export { remove as delete }`), and no hook.

import { isObject } from './document.js';
import { HOOKS, READS, hooksOf, readsOf } from './glue.js';
import { Resource } from './resource.js';
import { Context, ConnectorError, HookError, matchKey } from './types.js';

/** The connector operations, as a connector module exports them. */
export const OPERATIONS = ['create', 'get', 'update', 'delete', 'find'];

/** The WIT world of a connector, and its export (componentize-js's name for the interface). */
export const CONNECTOR = { world: 'connector-plugin', export: 'connector' };

const MAX_SECONDS = 0xffffffff;

/** The connector operations a module exports. */
export const operationsOf = (plugin) => OPERATIONS.filter((op) => typeof plugin[op] === 'function');

/**
 * What a plugin module is: `{connector: true}` when it exports the five
 * connector operations, else `{connector: false, hooks}` for its hooks (and
 * `READS` when it declares what they read: one more export).
 * Throws an Error saying why when it is neither, or mixes the two.
 */
export function pluginKind(plugin) {
  const hooks = hooksOf(plugin);
  const ops = operationsOf(plugin);
  if (ops.length === 0) {
    if (hooks.length === 0) {
      const names = HOOKS.map((h) => h.fn).join(', ');
      throw new Error(`exports no hook (${names}) and no connector operations (${OPERATIONS.join(', ')})`);
    }
    return { connector: false, hooks: readsOf(plugin) ? [...hooks, READS] : hooks };
  }
  if (hooks.length > 0) {
    throw new Error(
      `exports hooks (${hooks.map((h) => h.fn).join(', ')}) and connector operations (${ops.join(', ')}): ` +
        'a plugin is either hooks or a connector',
    );
  }
  const missing = OPERATIONS.filter((op) => !ops.includes(op));
  if (missing.length > 0) {
    throw new Error(
      `is a connector (it exports ${ops.join(', ')}) but does not export ${missing.join(', ')}: ` +
        `a connector exports all of ${OPERATIONS.join(', ')}`,
    );
  }
  return { connector: true, hooks: [] };
}

/** `create(doc, ctx, config)`: the new resource's JSON. */
export function create(plugin, doc, ctx, config) {
  return run('create', () => {
    const [resource, context, value] = [document(doc), new Context(ctx), configOf(config)];
    return answer('create', plugin.create(resource, context, value), false);
  });
}

/** `get(id, ctx, config)`: the resource's JSON, or null. */
export function get(plugin, id, ctx, config) {
  return run('get', () => answer('get', plugin.get(id, new Context(ctx), configOf(config)), true));
}

/** `update(id, doc, ctx, config)`: the resource's JSON, or null. */
export function update(plugin, id, doc, ctx, config) {
  return run('update', () => {
    const [resource, context, value] = [document(doc), new Context(ctx), configOf(config)];
    return answer('update', plugin.update(id, resource, context, value), true);
  });
}

/** `delete(id, ctx, config)`: nothing. */
export function remove(plugin, id, ctx, config) {
  run('delete', () => {
    plugin.delete(id, new Context(ctx), configOf(config));
  });
}

/** `find(key, ctx, config)`: the resource's JSON, or null. */
export function find(plugin, key, ctx, config) {
  return run('find', () => {
    const found = plugin.find(matchKey(key.attribute, key.value), new Context(ctx), configOf(config));
    return answer('find', found, true);
  });
}

function document(json) {
  return Resource.fromJSON(json);
}

function configOf(json) {
  try {
    return JSON.parse(json);
  } catch (e) {
    throw new ConnectorError('failed', `the plugin configuration is not valid JSON: ${e.message}`);
  }
}

/** A document an operation returned, as JSON text; null for none where `optional`. */
function answer(op, doc, optional) {
  if (optional && (doc === null || doc === undefined)) return null;
  const value = doc instanceof Resource ? doc.value : doc;
  if (!isObject(value)) {
    const what = optional ? 'the document (a Resource or an object) or null' : 'the document (a Resource or an object)';
    throw new ConnectorError('failed', `${op} must return ${what}`);
  }
  return JSON.stringify(value);
}

/**
 * Run an operation. A ConnectorError is the answer (a `busy` with a bad
 * number of seconds is a failure); a HookError (`rejected`, `failed`, from
 * the SDK's helpers too) answers the variant of its kind; anything else
 * thrown is a bug, and fails the call with what was thrown.
 */
function run(op, body) {
  try {
    return body();
  } catch (e) {
    if (e instanceof ConnectorError) {
      if (e.kind !== 'busy') return rethrow(e);
      const valid = Number.isInteger(e.seconds) && e.seconds >= 0 && e.seconds <= MAX_SECONDS;
      if (valid) throw e;
      throw new ConnectorError('failed', `busy(seconds) takes a whole number from 0 to ${MAX_SECONDS}, not ${e.seconds}`);
    }
    if (e instanceof HookError) throw new ConnectorError(e.kind, e.message);
    throw new ConnectorError('failed', `${op} threw ${e}`);
  }
}

function rethrow(e) {
  if (['rejected', 'conflict', 'failed'].includes(e.kind) && typeof e.message === 'string') throw e;
  throw new ConnectorError('failed', `a ConnectorError of unknown kind ${JSON.stringify(e.kind)}: ${e.message}`);
}
