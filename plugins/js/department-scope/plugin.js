// `department-scope` (scope): only users of the configured departments and
// user types are provisioned. The JavaScript port of plugins/department-scope.
//
// Configuration (both lists optional, compared case-insensitively):
//
//     { "departments": ["Engineering", "Sales"], "user_types": ["Employee"] }
//
// A user is in scope when their Enterprise User `department` is one of
// `departments` (if that list is configured) and their `userType` is one of
// `user_types` (if configured). A user missing a configured attribute is out
// of scope. Groups are always in scope; so is everyone when neither list is
// configured.

import { ENTERPRISE_USER_SCHEMA, failed, inScope, outOfScope } from '@scimgate/sdk';

/** Only these cross into the component (see `reads` in docs/plugins.md). */
export const reads = [ENTERPRISE_USER_SCHEMA, 'userType'];

export function scope(doc, ctx, config) {
  const { departments, user_types: userTypes } = readConfig(config);
  if (!ctx.isUser()) return inScope();
  const checks = [
    ['department', `${ENTERPRISE_USER_SCHEMA}:department`, departments],
    ['userType', 'userType', userTypes],
  ];
  for (const [label, path, allowed] of checks) {
    if (allowed === null) continue;
    const value = trim(doc.getStr(path) ?? '');
    if (value === '') return outOfScope(`the user has no ${label}`);
    if (!allowed.some((a) => asciiLower(trim(a)) === asciiLower(value))) {
      return outOfScope(`${label} ${quote(value)} is not one of [${allowed.map(quote).join(', ')}]`);
    }
  }
  return inScope();
}

const FIELDS = ['departments', 'user_types'];

/**
 * The configuration as the Rust plugin reads it (serde, `deny_unknown_fields`):
 * `null` is `{}`, both lists optional, and serde's messages for what does
 * not fit.
 */
function readConfig(config) {
  const lists = { departments: null, user_types: null };
  if (config === null) return lists;
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw invalid(`invalid type: ${unexpected(config)}, expected struct Config`);
  }
  for (const [field, value] of Object.entries(config)) {
    if (!FIELDS.includes(field)) throw invalid(`unknown field \`${field}\`, expected \`departments\` or \`user_types\``);
    if (value === null) continue;
    if (!Array.isArray(value)) throw invalid(`invalid type: ${unexpected(value)}, expected a sequence`);
    const other = value.find((item) => typeof item !== 'string');
    if (other !== undefined) throw invalid(`invalid type: ${unexpected(other)}, expected a string`);
    lists[field] = value;
  }
  return lists;
}

const invalid = (detail) => failed(`invalid plugin configuration: ${detail}`);

/** A JSON value as serde_json's messages name it. */
function unexpected(value) {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return `boolean \`${value}\``;
  if (typeof value === 'number') return Number.isInteger(value) ? `integer \`${value}\`` : `floating point \`${value}\``;
  if (typeof value === 'string') return `string ${quote(value)}`;
  return Array.isArray(value) ? 'sequence' : 'map';
}

/**
 * A string as Rust's `{:?}` shows it: quoted, with `\t \r \n \0 \\ \"` and
 * `\u{...}` for controls, separators other than the space, format characters,
 * surrogates, private use, and combining marks (of the Combining Diacritical
 * Marks blocks, and variation selectors). Rust also escapes the other
 * combining marks and unassigned code points: the engine in the component
 * has no Unicode categories to find them by.
 */
function quote(s) {
  const escapes = { '\t': '\\t', '\r': '\\r', '\n': '\\n', '\0': '\\0', '\\': '\\\\', '"': '\\"' };
  const shown = [...s].map((c) => escapes[c] ?? (ESCAPED.test(c) ? `\\u{${c.codePointAt(0).toString(16)}}` : c));
  return `"${shown.join('')}"`;
}
const ESCAPED = new RegExp(
  '^(?:[\\0-\\x1f\\x7f-\\xa0\\xad\\u0300-\\u036f\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890\\u0891\\u08e2' +
    '\\u1680\\u180e\\u1ab0-\\u1aff\\u1dc0-\\u1dff\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u20d0-\\u20ff' +
    '\\u3000\\ud800-\\uf8ff\\ufe00-\\ufe0f\\ufe20-\\ufe2f\\ufeff\\ufff9-\\ufffb]' +
    // Format characters, tags, variation selectors and private use beyond the BMP.
    '|\\ud804[\\udcbd\\udccd]|\\ud80d[\\udc30-\\udc3f]|\\ud82f[\\udca0-\\udca3]|\\ud834[\\udd73-\\udd7a]' +
    '|\\udb40[\\udc01\\udc20-\\udc7f\\udd00-\\uddef]|[\\udb80-\\udbff][\\udc00-\\udfff])$',
);

/** Rust's `str::trim`: Unicode White_Space (JavaScript's also strips U+FEFF, and keeps U+0085). */
const trim = (s) => s.replace(WHITE_SPACE, '');
const WHITE_SPACE =
  /^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** ASCII-only lower case, as Rust's `eq_ignore_ascii_case` compares. */
const asciiLower = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
