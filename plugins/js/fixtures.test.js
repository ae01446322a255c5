// Every case of plugins/fixtures (but the connectors', which
// connectors.test.js runs), run through the JavaScript plugin of its name the
// way the gateway calls it (JSON in, JSON out): each answer, and the number
// of log lines, must be the Rust plugin's.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

import { HookError } from '@scimgate/sdk';
import { call, context, takeLogs } from '@scimgate/sdk/testing';

const fixtures = new URL('../fixtures/', import.meta.url);

for (const file of readdirSync(fixtures).filter((f) => f.endsWith('.json'))) {
  const { plugin: name, hook, connector, cases } = JSON.parse(readFileSync(new URL(file, fixtures), 'utf8'));
  if (connector) continue;
  const plugin = await import(`./${name}/plugin.js`);
  for (const c of cases) {
    test(`${name}: ${c.name}`, () => {
      takeLogs();
      const actual = answer(hook, () =>
        call(plugin, hook, c.doc, { ctx: context(c.operation, c.resource_type), config: c.config }),
      );
      assert.deepStrictEqual(actual, c.expect);
      assert.equal(JSON.stringify(actual), JSON.stringify(c.expect), 'the members are in the same order');
      if (c.logs !== undefined) assert.equal(takeLogs().length, c.logs, 'log lines');
    });
  }
}

/** A hook's answer in the fixtures' terms. */
function answer(hook, run) {
  let out;
  try {
    out = run();
  } catch (e) {
    if (e instanceof HookError) return { [e.kind]: e.message };
    throw e;
  }
  switch (hook) {
    case 'scope':
      return out.inScope ? { in_scope: true } : { out_of_scope: out.reason };
    case 'match-keys':
      return { keys: out.map((k) => [k.attribute, k.value]) };
    default:
      return { doc: out };
  }
}
