// `match-by-email` (match-keys): the keys to find a user's target account,
// in order: `externalId`, then the work email (`emails.value`: the primary
// work email, else the first one), then `userName`. Absent or blank values
// give no key. Groups are matched by `externalId`, then `displayName`. No
// configuration. The JavaScript port of plugins/match-by-email.

import { matchKey } from '@scimgate/sdk';

/** Only these cross into the component (see `reads` in docs/plugins.md). */
export const reads = ['externalId', 'displayName', 'emails', 'userName'];

export function matchKeys(doc, ctx) {
  const keys = [];
  const externalId = nonBlank(doc.getStr('externalId'));
  if (externalId !== undefined) keys.push(matchKey('externalId', externalId));
  if (ctx.isGroup()) {
    const name = nonBlank(doc.getStr('displayName'));
    if (name !== undefined) keys.push(matchKey('displayName', name));
    return keys;
  }
  const workEmail =
    nonBlank(doc.getStr('emails[type eq "work" and primary eq true].value')) ??
    doc.getAll('emails[type eq "work"].value').map(nonBlank).find((v) => v !== undefined);
  if (workEmail !== undefined) keys.push(matchKey('emails.value', workEmail));
  const userName = nonBlank(doc.getStr('userName'));
  if (userName !== undefined) keys.push(matchKey('userName', userName));
  return keys;
}

/** The trimmed string, unless it is blank or not a string. */
function nonBlank(value) {
  const trimmed = typeof value === 'string' ? trim(value) : '';
  return trimmed === '' ? undefined : trimmed;
}

/** Rust's `str::trim`: Unicode White_Space (JavaScript's also strips U+FEFF, and keeps U+0085). */
const trim = (s) => s.replace(WHITE_SPACE, '');
const WHITE_SPACE =
  /^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
