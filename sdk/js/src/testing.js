// Helpers for a plugin's native tests (`node --test`): contexts, the hooks
// run through the same glue as in the component, the captured log lines,
// and canned HTTP answers (`respondWith`).

import * as glue from './glue.js';
import { Context } from './types.js';

export { takeLogs, respondWith } from './host.js';

/** A context for tests: tenant `test`, IdP profile `generic`, no id. */
export function context(operation, resourceType) {
  return new Context({ tenant: 'test', idpProfile: 'generic', operation, resourceType, resourceId: null });
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
