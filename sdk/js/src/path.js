// SCIM paths (RFC 7644 §3.5.2): `userName`, `name.givenName`,
// `urn:...:enterprise:2.0:User:department`, `emails[type eq "work"].value`.
//
// A port of the gateway's `scim::path` and the bracketed part of
// `scim::filter` (Rust), with the same grammar and error messages, so that a
// path means the same thing in a JavaScript plugin as in the gateway.
// Positions count UTF-16 code units where the Rust counts bytes; they agree
// on ASCII paths.

/** The deepest nesting of `( )`, `not ( )` and `[ ]` a filter may have. */
const MAX_DEPTH = 64;
/** The most comparisons one filter may hold. */
const MAX_TERMS = 256;
const OPERATORS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'];

/** A path that does not parse; `message` is the gateway's. */
export class PathError extends Error {}

/**
 * Rust's `char::is_whitespace`: the Unicode White_Space property, spelt out
 * because the engine inside the component has no `\p{...}` classes.
 */
const WHITE_SPACE = '[\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const WHITE_SPACE_CHAR = new RegExp(`^${WHITE_SPACE}$`);
const LEADING_WHITE_SPACE = new RegExp(`^${WHITE_SPACE}+`);
const TRAILING_WHITE_SPACE = new RegExp(`${WHITE_SPACE}+$`);
const isWhitespace = (c) => WHITE_SPACE_CHAR.test(c);
const trimStart = (s) => s.replace(LEADING_WHITE_SPACE, '');
const trimEnd = (s) => s.replace(TRAILING_WHITE_SPACE, '');
/** A control character (general category Cc). */
const isControl = (c) => /^[\0-\x1f\x7f-\x9f]$/.test(c);

/** ASCII-only lower case, as Rust's `eq_ignore_ascii_case` compares. */
export const asciiLower = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
export const eqIgnoreAsciiCase = (a, b) => a.length === b.length && asciiLower(a) === asciiLower(b);

/** A character as Rust's `{:?}` shows it in messages: `'x'`. */
function quoteChar(c) {
  const escapes = { '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0', "'": "\\'", '\\': '\\\\' };
  if (escapes[c]) return `'${escapes[c]}'`;
  if (isControl(c)) return `'\\u{${c.codePointAt(0).toString(16)}}'`;
  return `'${c}'`;
}

/**
 * Parse a PATCH path: `{attr: {schema, attr, sub}, filter}`; `schema`, `sub`
 * and `filter` are null when absent. Throws a PathError.
 */
export function parseValuePath(s) {
  const trimmed = trimEnd(trimStart(s));
  const lead = s.length - trimStart(s).length;
  const fail = (pos, msg) => new PathError(`invalid path ${JSON.stringify(s)}: ${msg} at position ${pos}`);
  const attrPath = (text, offset) => {
    try {
      return parseAttrPath(text);
    } catch (e) {
      if (!Array.isArray(e)) throw e;
      throw fail(offset + e[0], e[1]);
    }
  };
  const open = trimmed.indexOf('[');
  if (open < 0) return { attr: attrPath(trimmed, lead), filter: null };
  const attr = attrPath(trimmed.slice(0, open), lead);
  if (attr.sub !== null) throw fail(lead, "a filtered attribute cannot have a sub-attribute before '['");
  const end = lead + trimmed.length;
  const parser = new Parser(s.slice(0, end), lead + open + 1);
  let filter;
  try {
    filter = parser.parseGroup(lead + open, ']');
  } catch (e) {
    if (!Array.isArray(e)) throw e;
    throw fail(e[0], e[1]);
  }
  const close = parser.pos - 1;
  const rest = s.slice(close + 1, end);
  if (rest !== '') {
    if (!rest.startsWith('.')) {
      throw fail(close + 1, "expected '.' and a sub-attribute or the end of the path after ']'");
    }
    const sub = rest.slice(1);
    try {
      checkName(sub, close + 2);
    } catch (e) {
      throw fail(e[0], e[1]);
    }
    attr.sub = sub;
  }
  return { attr, filter };
}

/**
 * `[urn:...:]attr[.sub]` without surrounding whitespace. Throws
 * `[position, message]`.
 */
function parseAttrPath(s) {
  let schema = null;
  let rest = s;
  let restAt = 0;
  if (eqIgnoreAsciiCase(s.slice(0, 4), 'urn:')) {
    // URNs contain dots (`...:2.0:User`), so the schema ends at the last ':'.
    const colon = s.lastIndexOf(':');
    checkUrn(s.slice(0, colon));
    schema = s.slice(0, colon);
    rest = s.slice(colon + 1);
    restAt = colon + 1;
  }
  const dot = rest.indexOf('.');
  const attr = dot < 0 ? rest : rest.slice(0, dot);
  const sub = dot < 0 ? null : rest.slice(dot + 1);
  checkName(attr, restAt);
  if (sub !== null) checkName(sub, restAt + attr.length + 1);
  return { schema, attr, sub };
}

/** `ALPHA *( "-" / "_" / "$" / DIGIT / ALPHA )`, or the literal `$ref`. */
function checkName(name, at) {
  if (name === '') throw [at, 'expected an attribute name'];
  if (eqIgnoreAsciiCase(name, '$ref')) return;
  const first = String.fromCodePoint(name.codePointAt(0));
  if (!/^[A-Za-z]$/.test(first)) throw [at, `an attribute name must start with a letter, found ${quoteChar(first)}`];
  for (let i = first.length; i < name.length; ) {
    const c = String.fromCodePoint(name.codePointAt(i));
    if (c === '.') throw [at + i, 'only one level of sub-attribute is allowed'];
    if (!/^[A-Za-z0-9_$-]$/.test(c)) throw [at + i, `invalid character ${quoteChar(c)} in attribute name`];
    i += c.length;
  }
}

/** `urn:` and non-empty `:`-separated segments of printable, non-delimiter characters. */
function checkUrn(urn) {
  let at = 0;
  urn.split(':').forEach((segment, i) => {
    if (segment === '') {
      throw [at, i === 1 ? "expected a schema URN after 'urn:'" : 'empty segment in schema URN'];
    }
    for (let j = 0; j < segment.length; ) {
      const c = String.fromCodePoint(segment.codePointAt(j));
      if (isWhitespace(c) || isControl(c) || `()[]"'`.includes(c)) {
        throw [at + j, `invalid character ${quoteChar(c)} in schema URN`];
      }
      j += c.length;
    }
    at += segment.length + 1;
  });
  if (!urn.includes(':')) throw [0, "a URN-qualified path needs 'urn:<schema>:<attribute>'"];
}

/** What ends a word: whitespace and the filter's punctuation. */
const isDelimiter = (c) => isWhitespace(c) || '()[]"'.includes(c);

/**
 * The recursive descent of `scim::filter` for the inside of `[ ]`, where
 * value paths cannot nest. Errors are thrown as `[position, message]`.
 */
class Parser {
  constructor(src, pos) {
    this.src = src;
    this.pos = pos;
    this.depth = 0;
    this.terms = 0;
  }

  peek() {
    const code = this.src.codePointAt(this.pos);
    return code === undefined ? undefined : String.fromCodePoint(code);
  }

  skipWs() {
    const rest = this.src.slice(this.pos);
    this.pos += rest.length - trimStart(rest).length;
  }

  /** The run of non-delimiter characters at `pos` (possibly empty). */
  wordAt(pos) {
    let end = pos;
    while (end < this.src.length) {
      const c = String.fromCodePoint(this.src.codePointAt(end));
      if (isDelimiter(c)) break;
      end += c.length;
    }
    return this.src.slice(pos, end);
  }

  readWord() {
    const word = this.wordAt(this.pos);
    this.pos += word.length;
    return word;
  }

  /** What is at the current position, for error messages. */
  found() {
    const c = this.peek();
    if (c === undefined) return 'the end of the input';
    if (isDelimiter(c)) return quoteChar(c);
    const chars = [...this.wordAt(this.pos)];
    return chars.length > 40 ? `'${chars.slice(0, 40).join('')}…'` : `'${chars.join('')}'`;
  }

  expected(what) {
    return [this.pos, `expected ${what}, found ${this.found()}`];
  }

  eatKeyword(keyword) {
    const save = this.pos;
    this.skipWs();
    const word = this.wordAt(this.pos);
    if (eqIgnoreAsciiCase(word, keyword)) {
      this.pos += word.length;
      return true;
    }
    this.pos = save;
    return false;
  }

  parseOr() {
    let left = this.parseAnd();
    while (this.eatKeyword('or')) left = { type: 'or', a: left, b: this.parseAnd() };
    return left;
  }

  parseAnd() {
    let left = this.parseUnary();
    while (this.eatKeyword('and')) left = { type: 'and', a: left, b: this.parseUnary() };
    return left;
  }

  /** The inside of `( )` or `[ ]`: `pos` is just past the opening character at `open`. */
  parseGroup(open, close) {
    this.depth += 1;
    if (this.depth > MAX_DEPTH) throw [open, `filter nested deeper than ${MAX_DEPTH} levels`];
    const inner = this.parseOr();
    this.skipWs();
    if (this.peek() !== close) {
      throw this.expected(`'${close}' (to close the one opened at position ${open}), 'and' or 'or'`);
    }
    this.pos += 1;
    this.depth -= 1;
    return inner;
  }

  parseUnary() {
    this.skipWs();
    const start = this.pos;
    const c = this.peek();
    if (c === '(') {
      this.pos += 1;
      return this.parseGroup(start, ')');
    }
    if (c !== undefined && !isDelimiter(c)) {
      const open = this.notParen();
      if (open === undefined) return this.parseTerm();
      this.pos = open + 1;
      return { type: 'not', inner: this.parseGroup(open, ')') };
    }
    throw this.expected("an attribute path, '(' or 'not'");
  }

  /** The position of the `(` when a `not (` starts at `pos`. */
  notParen() {
    const word = this.wordAt(this.pos);
    if (!eqIgnoreAsciiCase(word, 'not')) return undefined;
    const rest = this.src.slice(this.pos + word.length);
    const open = this.src.length - trimStart(rest).length;
    return this.src.startsWith('(', open) ? open : undefined;
  }

  /** `attrPath pr` or `attrPath op value`. */
  parseTerm() {
    const start = this.pos;
    const word = this.readWord();
    if (eqIgnoreAsciiCase(word, 'not')) {
      // Not `not (`, so `not` can only be an attribute of that name.
      const after = this.pos;
      this.skipWs();
      const next = this.wordAt(this.pos);
      const operatorFollows = eqIgnoreAsciiCase(next, 'pr') || operator(next) !== undefined;
      if (!operatorFollows && !this.src.startsWith('[', after)) throw this.expected("'(' after 'not'");
      this.pos = after;
    }
    let path;
    try {
      path = parseAttrPath(word);
    } catch ([i, msg]) {
      throw [start + i, msg];
    }
    if (this.peek() === '[') throw [this.pos, 'value paths cannot be nested inside a value path'];
    this.terms += 1;
    if (this.terms > MAX_TERMS) throw [start, `a filter may hold at most ${MAX_TERMS} comparisons`];
    this.skipWs();
    const opAt = this.pos;
    const opWord = this.readWord();
    if (eqIgnoreAsciiCase(opWord, 'pr')) return { type: 'present', path };
    const op = operator(opWord);
    if (op === undefined) {
      this.pos = opAt;
      const what = opWord === '' ? 'an operator' : 'a known operator';
      throw this.expected(`${what} after '${word}' (one of eq, ne, co, sw, ew, gt, ge, lt, le, pr)`);
    }
    this.skipWs();
    return { type: 'compare', path, op, value: this.parseValue(op) };
  }

  /** A JSON string or number, `true`, `false` or `null`. */
  parseValue(op) {
    if (this.peek() === '"') return this.parseString();
    const start = this.pos;
    const word = this.readWord();
    for (const [keyword, value] of [['true', true], ['false', false], ['null', null]]) {
      if (eqIgnoreAsciiCase(word, keyword)) return value;
    }
    if (/^[-0-9]/.test(word)) {
      const number = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(word) ? Number(word) : NaN;
      if (!Number.isFinite(number)) throw [start, `invalid number '${word}'`];
      return number;
    }
    this.pos = start;
    throw this.expected(`a value (a quoted string, number, true, false or null) after '${op}'`);
  }

  /** A JSON string; `pos` is on the opening quote. */
  parseString() {
    const open = this.pos;
    this.pos += 1;
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined) throw [open, 'unterminated string starting'];
      if (c === '"') {
        this.pos += 1;
        return out;
      }
      if (c === '\\') {
        out += this.parseEscape();
      } else if (c < ' ') {
        throw [this.pos, `control character ${quoteChar(c)} in a string must be escaped`];
      } else {
        out += c;
        this.pos += c.length;
      }
    }
  }

  /** One escape sequence; `pos` is on the backslash. */
  parseEscape() {
    const at = this.pos;
    this.pos += 1;
    const c = this.peek();
    const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[c];
    if (simple !== undefined) {
      this.pos += 1;
      return simple;
    }
    if (c === undefined) throw [at, 'unterminated escape sequence'];
    if (c !== 'u') throw [at, `invalid escape sequence \\${c}`];
    this.pos += 1;
    const high = this.hex4(at);
    if (high >= 0xdc00 && high <= 0xdfff) throw [at, 'unpaired low surrogate'];
    if (high < 0xd800 || high > 0xdbff) return String.fromCodePoint(high);
    const lowAt = this.pos;
    if (!this.src.startsWith('\\u', this.pos)) {
      throw [at, 'a high surrogate must be followed by a \\u low surrogate'];
    }
    this.pos += 2;
    const low = this.hex4(lowAt);
    if (low < 0xdc00 || low > 0xdfff) throw [lowAt, 'expected a low surrogate (\\uDC00-\\uDFFF)'];
    return String.fromCodePoint(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00));
  }

  /** Four hex digits for the `\u` escape at `at`. */
  hex4(at) {
    const digits = this.src.slice(this.pos, this.pos + 4);
    if (!/^[0-9A-Fa-f]{4}$/.test(digits)) throw [at, '\\u must be followed by four hex digits'];
    this.pos += 4;
    return parseInt(digits, 16);
  }
}

const operator = (word) => OPERATORS.find((op) => eqIgnoreAsciiCase(op, word));

/** An attribute path as the gateway prints it. */
export function showAttrPath({ schema, attr, sub }) {
  return `${schema === null ? '' : `${schema}:`}${attr}${sub === null ? '' : `.${sub}`}`;
}

/**
 * A filter's canonical text: single spaces, lower-case keywords, JSON values,
 * and parentheses exactly where the tree differs from left-associative
 * parsing with `and` above `or`.
 */
export function showFilter(filter) {
  const operand = (f, parenthesise) => (parenthesise ? `(${showFilter(f)})` : showFilter(f));
  switch (filter.type) {
    case 'compare':
      return `${showAttrPath(filter.path)} ${filter.op} ${JSON.stringify(filter.value)}`;
    case 'present':
      return `${showAttrPath(filter.path)} pr`;
    case 'and':
      return `${operand(filter.a, filter.a.type === 'or')} and ${operand(filter.b, ['or', 'and'].includes(filter.b.type))}`;
    case 'or':
      return `${showFilter(filter.a)} or ${operand(filter.b, filter.b.type === 'or')}`;
    case 'not':
      return `not (${showFilter(filter.inner)})`;
  }
}
