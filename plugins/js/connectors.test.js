// Every case of the connector fixtures in plugins/fixtures (`"connector":
// true`), run through the JavaScript connector of its name the way the
// gateway calls it (JSON in, JSON out), with `http.send` answered from the
// case's canned answers as `scimgate plugin test --http` answers: the
// requests made and the answer must be the Rust connector's.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

import { ConnectorError } from '@scimgate/sdk';
import { callConnector, cannedHttp, mockHttp, takeRequests } from '@scimgate/sdk/testing';

const fixtures = new URL('../fixtures/', import.meta.url);

for (const file of readdirSync(fixtures).filter((f) => f.endsWith('.json'))) {
  const { plugin: name, connector, cases } = JSON.parse(readFileSync(new URL(file, fixtures), 'utf8'));
  if (!connector) continue;
  const plugin = await import(`./${name}/plugin.js`);
  for (const c of cases) {
    test(`${name}: ${c.name}`, () => {
      takeRequests();
      mockHttp(cannedHttp(c.http ?? []));
      let actual;
      try {
        actual = answer(() =>
          callConnector(plugin, c.operation, {
            doc: c.doc,
            id: c.id,
            key: c.key,
            resourceType: c.resource_type,
            config: c.config,
          }),
        );
      } finally {
        mockHttp(null);
      }
      const requests = takeRequests().map(({ method, url, body }) => ({
        method,
        url,
        body: body === null ? null : JSON.parse(body),
      }));
      const got = { requests, ...actual };
      assert.deepStrictEqual(got, c.expect);
      assert.equal(JSON.stringify(got), JSON.stringify(c.expect), 'the members are in the same order');
    });
  }
}

/** An operation's answer in the fixtures' terms: `{result}` or `{error: {kind: message or seconds}}`. */
function answer(run) {
  try {
    return { result: run() ?? null };
  } catch (e) {
    if (!(e instanceof ConnectorError)) throw e;
    return { error: { [e.kind]: e.kind === 'busy' ? e.seconds : e.message } };
  }
}
