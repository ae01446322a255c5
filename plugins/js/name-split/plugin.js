// `name-split` (transform-in): fill in a user's `name` from what was sent.
// The JavaScript port of plugins/name-split.
//
// - When neither `name.givenName` nor `name.familyName` is sent but
//   `displayName` is, they are derived from it: `"Last, First"` splits at
//   the comma; otherwise the last word is the family name and the words
//   before it the given name (`"Mary Ann Smith"` -> `Mary Ann` / `Smith`).
//   A single word becomes the given name.
// - When `name.formatted` is not sent, it is composed from
//   `honorificPrefix givenName middleName familyName honorificSuffix`.
//
// Values that were sent are never overwritten. Groups pass through. No
// configuration.

const PARTS = ['honorificPrefix', 'givenName', 'middleName', 'familyName', 'honorificSuffix'];

/** Only these cross into the component (see `reads` in docs/plugins.md). */
export const reads = ['name', 'displayName'];

export function transformIn(doc, ctx) {
  if (!ctx.isUser()) return doc;
  const present = (path) => trim(doc.getStr(path) ?? '') !== '';
  if (!present('name.givenName') && !present('name.familyName')) {
    const display = doc.getStr('displayName');
    const split = display === undefined ? undefined : splitDisplayName(display);
    if (split !== undefined) {
      doc.set('name.givenName', split.given);
      if (split.family !== undefined) doc.set('name.familyName', split.family);
    }
  }
  if (!present('name.formatted')) {
    const parts = PARTS.map((sub) => trim(doc.getStr(`name.${sub}`) ?? '')).filter((v) => v !== '');
    if (parts.length > 0) doc.set('name.formatted', parts.join(' '));
  }
  return doc;
}

/** `{given, family}` from a display name (`family` may be undefined); undefined when it is blank. */
function splitDisplayName(display) {
  const comma = display.indexOf(',');
  if (comma >= 0) {
    const [family, given] = [trim(display.slice(0, comma)), trim(display.slice(comma + 1))];
    if (family !== '' && given !== '') return { given, family };
  }
  const words = display.split(WHITE_SPACE_RUN).filter((w) => w !== '');
  if (words.length === 0) return undefined;
  if (words.length === 1) return { given: words[0], family: undefined };
  return { given: words.slice(0, -1).join(' '), family: words.at(-1) };
}

// Rust's `str::trim` and `split_whitespace`: Unicode White_Space (JavaScript's
// `trim` and `\s` also take U+FEFF, and leave U+0085).
const trim = (s) => s.replace(WHITE_SPACE_ENDS, '');
const WHITE_SPACE_ENDS =
  /^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
const WHITE_SPACE_RUN = /[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;
