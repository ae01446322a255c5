// Write scimgate plugins in JavaScript.
//
// A plugin is an ES module that exports any of the hook functions `scope`,
// `transformIn`, `transformOut`, `matchKeys` and `onEvent`, or a connector:
// the five operations `create`, `get`, `update`, `delete` and `find`.
// `scimgate-js-build` turns it into a Wasm component that exports exactly
// those hooks, or the connector interface. See README.md.

export { Resource } from './resource.js';
export {
  Context,
  HookError,
  rejected,
  failed,
  inScope,
  outOfScope,
  matchKey,
  ConnectorError,
  conflict,
  busy,
} from './types.js';
export { USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA } from './document.js';
export { log } from './log.js';
export { http, HttpError } from './http.js';
