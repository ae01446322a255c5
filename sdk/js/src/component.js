// The component side: the entry module scimgate-js-build generates binds the
// host's imports (`bindHost`) and exports `exportsOf(plugin)`'s members for
// the hooks the plugin implements, or for the connector interface.
// componentize-js calls them with WIT values and takes a thrown `{tag, val}`
// as the error variant (`hook-error`, `connector-error`).

import * as connector from './connector.js';
import * as glue from './glue.js';

export { bindHost } from './host.js';

/** The WIT exports of a plugin module (its hooks, or the connector), by export name. */
export function exportsOf(plugin) {
  const kind = connector.pluginKind(plugin);
  if (kind.connector) {
    return {
      connector: {
        create: (doc, ctx, config) => witConnector(() => connector.create(plugin, doc, ctx, config)),
        get: (id, ctx, config) => witConnector(() => connector.get(plugin, id, ctx, config)),
        update: (id, doc, ctx, config) => witConnector(() => connector.update(plugin, id, doc, ctx, config)),
        delete: (id, ctx, config) => witConnector(() => connector.remove(plugin, id, ctx, config)),
        find: (key, ctx, config) => witConnector(() => connector.find(plugin, key, ctx, config)),
      },
    };
  }
  const all = {
    scopeHook: {
      scope: (doc, ctx, config) =>
        wit(() => {
          const decision = glue.scope(plugin, doc, ctx, config);
          return decision.inScope ? { tag: 'in-scope' } : { tag: 'out-of-scope', val: decision.reason };
        }),
    },
    transformInHook: {
      transformIn: (doc, ctx, config) => wit(() => glue.transformIn(plugin, doc, ctx, config)),
    },
    transformOutHook: {
      transformOut: (doc, ctx, config) => wit(() => glue.transformOut(plugin, doc, ctx, config)),
    },
    matchKeysHook: {
      matchKeys: (doc, ctx, config) => wit(() => glue.matchKeys(plugin, doc, ctx, config)),
    },
    eventHook: {
      onEvent: (event, doc, ctx, config) => wit(() => glue.onEvent(plugin, event, doc, ctx, config)),
    },
    attributes: {
      reads: () => [...glue.readsOf(plugin)],
    },
  };
  return Object.fromEntries(kind.hooks.map(({ export: name }) => [name, all[name]]));
}

/** A HookError (the glue throws nothing else) as the WIT variant. */
function wit(body) {
  try {
    return body();
  } catch (e) {
    throw { tag: e.kind, val: e.message };
  }
}

/** A ConnectorError (the connector glue throws nothing else) as the WIT variant. */
function witConnector(body) {
  try {
    return body();
  } catch (e) {
    throw { tag: e.kind, val: e.kind === 'busy' ? e.seconds : e.message };
  }
}
