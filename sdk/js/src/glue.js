// Running a plugin's hooks on what crosses the component boundary (JSON text
// and the WIT context record) and checking what they return. The component's
// exports (component.js) and native tests (testing.js `call`) both go
// through here, so a test sees the translation the gateway sees.

import { isObject } from './document.js';
import { Resource } from './resource.js';
import { Context, HookError, failed } from './types.js';

/**
 * The hooks: the function a plugin module exports, the hook's name in the
 * contract, and its WIT world and export (componentize-js names an
 * interface's export in camelCase).
 */
export const HOOKS = [
  { fn: 'scope', hook: 'scope', world: 'scope-plugin', export: 'scopeHook' },
  { fn: 'transformIn', hook: 'transform-in', world: 'transform-in-plugin', export: 'transformInHook' },
  { fn: 'transformOut', hook: 'transform-out', world: 'transform-out-plugin', export: 'transformOutHook' },
  { fn: 'matchKeys', hook: 'match-keys', world: 'match-keys-plugin', export: 'matchKeysHook' },
  { fn: 'onEvent', hook: 'on-event', world: 'event-plugin', export: 'eventHook' },
];

/** The hooks a plugin module implements. */
export const hooksOf = (plugin) => HOOKS.filter(({ fn }) => typeof plugin[fn] === 'function');

/**
 * The optional declaration of what the hooks read (`export const reads =
 * ['userName', 'emails']`): exported as `scimgate:plugin/attributes`, so the
 * gateway hands the hooks only those attributes (and `schemas`).
 */
export const READS = { fn: 'reads', hook: 'reads', world: 'attributes-plugin', export: 'attributes' };

/** The attributes a plugin module declares it reads, or null. Throws on a malformed declaration. */
export function readsOf(plugin) {
  const reads = plugin.reads;
  if (reads === undefined) return null;
  if (!Array.isArray(reads) || !reads.every((name) => typeof name === 'string' && name.trim() !== '')) {
    throw new Error('exports `reads`, which must be an array of attribute names');
  }
  return reads;
}

export function scope(plugin, doc, ctx, config) {
  return run('scope', () => {
    const decision = plugin.scope(...inputs(doc, ctx, config));
    const valid =
      isObject(decision) && (decision.inScope === true || (decision.inScope === false && typeof decision.reason === 'string'));
    if (!valid) throw failed('scope must return inScope() or outOfScope(reason)');
    return decision;
  });
}

export function transformIn(plugin, doc, ctx, config) {
  return run('transform-in', () => output('transform-in', plugin.transformIn(...inputs(doc, ctx, config))));
}

export function transformOut(plugin, doc, ctx, config) {
  return run('transform-out', () => output('transform-out', plugin.transformOut(...inputs(doc, ctx, config))));
}

export function matchKeys(plugin, doc, ctx, config) {
  return run('match-keys', () => {
    const keys = plugin.matchKeys(...inputs(doc, ctx, config));
    const valid =
      Array.isArray(keys) && keys.every((k) => typeof k?.attribute === 'string' && typeof k?.value === 'string');
    if (!valid) throw failed('match-keys must return a list of matchKey(attribute, value)');
    return keys.map(({ attribute, value }) => ({ attribute, value }));
  });
}

export function onEvent(plugin, event, doc, ctx, config) {
  run('on-event', () => {
    plugin.onEvent(event, ...inputs(doc, ctx, config));
  });
}

function inputs(doc, ctx, config) {
  const resource = Resource.fromJSON(doc);
  let value;
  try {
    value = JSON.parse(config);
  } catch (e) {
    throw failed(`the plugin configuration is not valid JSON: ${e.message}`);
  }
  return [resource, new Context(ctx), value];
}

/** A transform's answer as JSON text. */
function output(hook, doc) {
  const value = doc instanceof Resource ? doc.value : doc;
  if (!isObject(value)) throw failed(`${hook} must return the document (a Resource or an object)`);
  return JSON.stringify(value);
}

/** Run a hook; anything it throws but a HookError is a bug, and fails the call with its message. */
function run(hook, body) {
  try {
    return body();
  } catch (e) {
    if (e instanceof HookError) throw e;
    throw failed(`${hook} threw ${e}`);
  }
}
