// `work-email` (transform-in): a user's `userName` becomes their primary work
// email, lower-cased. The JavaScript port of plugins/work-email.
//
// The work email is the `emails` element of type `work` marked `primary`, or
// else the first work email. A user without one is rejected, since the
// target could not identify them. Groups pass through unchanged. No
// configuration.

import { log, rejected } from '@scimgate/sdk';

/** Only these cross into the component (see `reads` in docs/plugins.md). */
export const reads = ['userName', 'emails'];

export function transformIn(doc, ctx) {
  if (!ctx.isUser()) return doc;
  const email = workEmail(doc);
  if (email === undefined) {
    throw rejected(
      'work-email: the user has no work email (an emails entry with type "work"), ' +
        'so no userName can be derived from it',
    );
  }
  const userName = trim(email).toLowerCase();
  if (doc.getStr('userName') !== userName) {
    log.debug(`userName set from the work email: ${userName}`);
    doc.set('userName', userName);
  }
  return doc;
}

/** The primary work email, else the first work email with a non-blank value. */
function workEmail(doc) {
  const usable = (v) => typeof v === 'string' && trim(v) !== '';
  const primary = doc.getStr('emails[type eq "work" and primary eq true].value');
  return usable(primary) ? primary : doc.getAll('emails[type eq "work"].value').find(usable);
}

/** Rust's `str::trim`: Unicode White_Space (JavaScript's also strips U+FEFF, and keeps U+0085). */
const trim = (s) => s.replace(WHITE_SPACE, '');
const WHITE_SPACE =
  /^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
