// Log lines from a plugin: to the gateway's log, tagged with the plugin and
// the tenant (the host caps their number and length per call). Natively they
// are kept for tests: `takeLogs()` in `@scimgate/sdk/testing`.

import { host } from './host.js';

const line = (level) => (message) => host.log(level, String(message));

export const log = {
  trace: line('trace'),
  debug: line('debug'),
  info: line('info'),
  warn: line('warn'),
  error: line('error'),
};
