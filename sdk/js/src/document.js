// Reading and writing values at SCIM paths in a loosely typed JSON document:
// a port of the gateway's `scim::document` (Rust) and of the element filters
// it evaluates. The rules, shared with the gateway's mapping steps:
//
// - Names match members case-insensitively (ASCII); a write keeps an
//   existing member's spelling and a new member takes the path's.
// - Any `urn:ietf:params:scim:schemas:core:2.0:` prefix means the top level;
//   any other URN is an extension object, created on write and then listed
//   in `schemas` when the document has that array. A bare extension URN names
//   the whole extension object when the document knows it (or it is the
//   Enterprise User's).
// - Reads treat `null` as absent. `all` gives every value a path selects;
//   `first` the primary matching element's, else the first.
// - Writes go to the element `first` would read; when no element matches a
//   filter, one is appended built from the filter's `eq` terms.
// - Removal takes every matching value, and drops a multi-valued attribute
//   its filter left empty.

import { asciiLower, eqIgnoreAsciiCase, showFilter } from './path.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const CORE_SCHEMA_PREFIX = 'urn:ietf:params:scim:schemas:core:2.0:';

/** A write that cannot be carried out; `message` is the gateway's. */
export class WriteError extends Error {}

// What element filters need of the built-in schemas: the sub-attributes that
// do not compare as case-insensitive strings. Every other attribute, known
// or not, does.
const BOOLEAN = { boolean: true };
const CASE_EXACT = { caseExact: true };
const WITH_PRIMARY = { primary: BOOLEAN };
const META = { resourcetype: CASE_EXACT, location: CASE_EXACT, version: CASE_EXACT };
const USER_ATTRIBUTES = {
  emails: WITH_PRIMARY,
  phonenumbers: WITH_PRIMARY,
  ims: WITH_PRIMARY,
  photos: WITH_PRIMARY,
  addresses: WITH_PRIMARY,
  entitlements: WITH_PRIMARY,
  roles: WITH_PRIMARY,
  x509certificates: WITH_PRIMARY,
  meta: META,
};
const GROUP_ATTRIBUTES = { meta: META };

/**
 * The schema a document looks like: Group if `schemas` lists the Group URN,
 * else User. `core` is its URN, `attributes` its special sub-attributes.
 */
export function schemaOf(doc) {
  const schemas = isObject(doc) ? getCi(doc, 'schemas') : undefined;
  const isGroup = Array.isArray(schemas) && lists(schemas, GROUP_SCHEMA);
  return isGroup
    ? { core: GROUP_SCHEMA, attributes: GROUP_ATTRIBUTES }
    : { core: USER_SCHEMA, attributes: USER_ATTRIBUTES };
}

/** The sub-attribute definitions of a value path's attribute (`{}` if none matter). */
function parentDefs(schema, attr) {
  if (attr.schema !== null && !eqIgnoreAsciiCase(attr.schema, schema.core)) return {};
  return schema.attributes[asciiLower(attr.attr)] ?? {};
}

export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Set a member without ever touching the prototype (`__proto__` is a plain key). */
function put(map, key, value) {
  Object.defineProperty(map, key, { value, writable: true, enumerable: true, configurable: true });
}

/** The key under which `name` is stored, compared case-insensitively. */
function keyCi(map, name) {
  if (Object.hasOwn(map, name)) return name;
  const lower = asciiLower(name);
  return Object.keys(map).find((k) => asciiLower(k) === lower);
}

function getCi(map, name) {
  const key = keyCi(map, name);
  return key === undefined ? undefined : map[key];
}

function insertCi(map, name, value) {
  put(map, keyCi(map, name) ?? name, value);
}

/** Remove `name` in any spelling; the removed value, if any. */
function removeCi(map, name) {
  const key = keyCi(map, name);
  if (key === undefined) return undefined;
  const value = map[key];
  delete map[key];
  return value;
}

/** The key of member `name`, inserted as `null` when missing. */
function memberKey(map, name) {
  const key = keyCi(map, name);
  if (key !== undefined) return key;
  put(map, name, null);
  return name;
}

/** The object member `name`, a missing or non-object value replaced by `{}`. */
function objectMember(map, name) {
  const key = memberKey(map, name);
  if (!isObject(map[key])) put(map, key, {});
  return map[key];
}

/**
 * The array member `name`: created when missing or `null`, and a lone value
 * kept as its first element.
 */
function arrayMember(map, name) {
  const key = memberKey(map, name);
  const slot = map[key];
  if (!Array.isArray(slot)) put(map, key, slot === null ? [] : [slot]);
  return map[key];
}

const lists = (schemas, urn) => schemas.some((s) => typeof s === 'string' && eqIgnoreAsciiCase(s, urn));

function listSchema(doc, urn) {
  const schemas = getCi(doc, 'schemas');
  if (Array.isArray(schemas) && !lists(schemas, urn)) schemas.push(urn);
}

function unlistSchema(doc, urn) {
  const schemas = getCi(doc, 'schemas');
  if (!Array.isArray(schemas)) return;
  const kept = schemas.filter((s) => !(typeof s === 'string' && eqIgnoreAsciiCase(s, urn)));
  schemas.splice(0, schemas.length, ...kept);
}

const isCoreUrn = (urn) => eqIgnoreAsciiCase(urn.slice(0, CORE_SCHEMA_PREFIX.length), CORE_SCHEMA_PREFIX);

/** The extension object `attr` lives in; null for top-level attributes. */
const extensionUrn = (attr) => (attr.schema !== null && !isCoreUrn(attr.schema) ? attr.schema : null);

/**
 * The URN when `path` names a whole extension object: a bare URN without
 * filter that is the Enterprise User's, a member of `doc`, or listed in its
 * `schemas`. (A bare URN parses as schema `...:2.0` and attribute `User`.)
 */
function wholeExtension(doc, path) {
  if (path.filter !== null || path.attr.schema === null || path.attr.sub !== null) return null;
  const urn = `${path.attr.schema}:${path.attr.attr}`;
  if (isCoreUrn(urn)) return null;
  const schemas = getCi(doc, 'schemas');
  const known =
    eqIgnoreAsciiCase(urn, ENTERPRISE_USER_SCHEMA) ||
    keyCi(doc, urn) !== undefined ||
    (Array.isArray(schemas) && lists(schemas, urn));
  return known ? urn : null;
}

/** Whether an element says `"primary": true` (or Entra's `"True"`). */
function isPrimary(element) {
  const primary = isObject(element) ? getCi(element, 'primary') : undefined;
  return primary === true || (typeof primary === 'string' && eqIgnoreAsciiCase(primary, 'true'));
}

/**
 * The element an `eq`-only filter describes (`type eq "work" and primary eq
 * true` gives `{type: "work", primary: true}`); null for any other filter,
 * including `eq null`.
 */
function elementFromFilter(filter) {
  if (filter.type === 'compare') {
    const { path, op, value } = filter;
    if (op !== 'eq' || path.schema !== null || path.sub !== null || value === null) return null;
    const element = {};
    put(element, path.attr, value);
    return element;
  }
  if (filter.type === 'and') {
    const a = elementFromFilter(filter.a);
    const b = a && elementFromFilter(filter.b);
    if (!b) return null;
    for (const [k, v] of Object.entries(b)) put(a, k, v);
    return a;
  }
  return null;
}

/** Every `[element, value]` pair `path` selects: the element decides primacy. */
function selected(doc, path, schema) {
  const sub = path.attr.sub;
  let items = [];
  let filter = null;
  if (isObject(doc)) {
    const urn = wholeExtension(doc, path);
    if (urn !== null) {
      const extension = getCi(doc, urn);
      items = extension === undefined ? [] : [extension];
    } else {
      const ext = extensionUrn(path.attr);
      const container = ext === null ? doc : getCi(doc, ext);
      const top = isObject(container) ? getCi(container, path.attr.attr) : undefined;
      if (top === undefined) items = [];
      else if (path.filter === null) items = Array.isArray(top) && sub !== null ? top : [top];
      else [items, filter] = [Array.isArray(top) ? top : [top], path.filter];
    }
  }
  const defs = filter === null ? {} : parentDefs(schema, path.attr);
  const pairs = [];
  for (const element of items) {
    if (filter !== null && !matches(filter, element, defs)) continue;
    const value = sub === null ? element : isObject(element) ? getCi(element, sub) : undefined;
    if (value !== undefined && value !== null) pairs.push([element, value]);
  }
  return pairs;
}

/** Every value `path` selects in `doc`, in document order. */
export function all(doc, path, schema) {
  return selected(doc, path, schema).map(([, value]) => value);
}

/** The one value `path` selects: the primary matching element's, else the first's. */
export function first(doc, path, schema) {
  const candidates = selected(doc, path, schema);
  if (candidates.length === 0) return undefined;
  return (candidates.find(([element]) => isPrimary(element)) ?? candidates[0])[1];
}

/** The index of the element a write goes to: the primary object element accepted, else the first. */
function targetIndex(items, accept) {
  const candidates = [...items.keys()].filter((i) => isObject(items[i]) && accept(items[i]));
  if (candidates.length === 0) return undefined;
  return candidates.find((i) => isPrimary(items[i])) ?? candidates[0];
}

/** Set `sub` on the complex value at `holder[key]`, replacing anything that is not an object. */
function setSub(holder, key, sub, value) {
  if (isObject(holder[key])) {
    insertCi(holder[key], sub, value);
  } else {
    const object = {};
    put(object, sub, value);
    put(holder, key, object);
  }
}

/** Set the value at `path` (see the rules at the top). */
export function set(doc, path, value, schema) {
  if (!isObject(doc)) throw new WriteError('the document is not a JSON object');
  const urn = wholeExtension(doc, path);
  if (urn !== null) {
    listSchema(doc, urn);
    insertCi(doc, urn, value);
    return;
  }
  const ext = extensionUrn(path.attr);
  if (ext !== null) listSchema(doc, ext);
  const container = ext === null ? doc : objectMember(doc, ext);
  const { attr, sub } = path.attr;
  if (path.filter === null) {
    if (sub === null) {
      insertCi(container, attr, value);
      return;
    }
    const key = memberKey(container, attr);
    const items = container[key];
    if (!Array.isArray(items)) {
      setSub(container, key, sub, value);
      return;
    }
    let index = targetIndex(items, () => true);
    if (index === undefined) index = items.push({}) - 1;
    setSub(items, index, sub, value);
    return;
  }
  const defs = parentDefs(schema, path.attr);
  const items = arrayMember(container, attr);
  const index = targetIndex(items, (e) => matches(path.filter, e, defs));
  if (index !== undefined) {
    if (sub === null) items[index] = value;
    else setSub(items, index, sub, value);
    return;
  }
  let element = elementFromFilter(path.filter);
  if (element === null) {
    throw new WriteError(
      `no element of '${attr}' matches [${showFilter(path.filter)}], ` +
        'and the filter is not a list of `eq` terms to build one from',
    );
  }
  if (sub !== null) put(element, sub, value);
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) put(element, k, v);
  else element = value;
  items.push(element);
}

/** Remove the values at `path`; returns how many non-null values went. */
export function remove(doc, path, schema) {
  if (!isObject(doc)) return 0;
  const counted = (v) => (v === undefined || v === null ? 0 : 1);
  const urn = wholeExtension(doc, path);
  if (urn !== null) {
    unlistSchema(doc, urn);
    return counted(removeCi(doc, urn));
  }
  const ext = extensionUrn(path.attr);
  const container = ext === null ? doc : getCi(doc, ext);
  if (!isObject(container)) return 0;
  const { attr, sub } = path.attr;
  const defs = parentDefs(schema, path.attr);
  const matching = (e) => path.filter === null || matches(path.filter, e, defs);
  const top = getCi(container, attr);
  if (sub === null && path.filter === null) return counted(removeCi(container, attr));
  if (Array.isArray(top) && sub === null) {
    const kept = top.filter((e) => !matching(e));
    const removed = top.length - kept.length;
    top.splice(0, top.length, ...kept);
    if (top.length === 0) removeCi(container, attr);
    return removed;
  }
  if (Array.isArray(top)) {
    return top.filter((e) => isObject(e) && matching(e)).reduce((n, e) => n + counted(removeCi(e, sub)), 0);
  }
  if (isObject(top) && matching(top)) return counted(sub === null ? removeCi(container, attr) : removeCi(top, sub));
  return 0;
}

// ---------------------------------------------------------------------------
// Element filters: `filter` against one element of a multi-valued attribute,
// its paths relative to the element; `defs` are the element's sub-attributes.

function matches(filter, element, defs) {
  switch (filter.type) {
    case 'compare': {
      const { path, op, value } = filter;
      const def = path.sub === null ? defs[asciiLower(path.attr)] : undefined;
      return compare(op, value, member(element, path.attr), path.sub, def);
    }
    case 'present': {
      const top = member(element, filter.path.attr);
      if (top === undefined) return false;
      return filter.path.sub === null ? isPresent(top) : anyLeaf(top, filter.path.sub, isPresent);
    }
    case 'and':
      return matches(filter.a, element, defs) && matches(filter.b, element, defs);
    case 'or':
      return matches(filter.a, element, defs) || matches(filter.b, element, defs);
    case 'not':
      return !matches(filter.inner, element, defs);
  }
}

const member = (value, name) => (isObject(value) ? getCi(value, name) : undefined);

/** `f` on each element of an array, or on a lone value. */
const anyItem = (value, f) => (Array.isArray(value) ? value.some(f) : f(value));

/**
 * `f` on each value a path reaches below its top-level value: with a
 * sub-attribute, that member of each element; without one, each element,
 * objects being read through their `value` member.
 */
function anyLeaf(top, sub, f) {
  return anyItem(top, (element) => {
    if (sub !== null) {
      const leaf = member(element, sub);
      return leaf !== undefined && anyItem(leaf, f);
    }
    if (isObject(element)) {
      const leaf = member(element, 'value');
      return leaf !== undefined && f(leaf);
    }
    return f(element);
  });
}

/** `pr`: not null, not an empty string, array or object. */
function isPresent(value) {
  if (value === null) return false;
  if (typeof value === 'string') return value !== '';
  if (Array.isArray(value)) return value.some(isPresent);
  if (isObject(value)) return Object.values(value).some(isPresent);
  return true;
}

/** A comparison over every value the path reaches: `ne` is `not eq`, `eq null` means no value. */
function compare(op, literal, top, sub, def) {
  const any = (f) => top !== undefined && anyLeaf(top, sub, f);
  if (op === 'ne') return !compare('eq', literal, top, sub, def);
  if (op === 'eq' && literal === null) return !any((v) => v !== null);
  if (literal === null) return false;
  return any((v) => v !== null && compareOne(op, v, literal, def));
}

function compareOne(op, actual, literal, def) {
  if (def?.boolean || typeof actual === 'boolean' || typeof literal === 'boolean') {
    const a = asBool(actual);
    return op === 'eq' && a !== undefined && a === asBool(literal);
  }
  if (typeof actual === 'number' || typeof literal === 'number') {
    return typeof actual === 'number' && typeof literal === 'number' && accepts(op, Math.sign(actual - literal));
  }
  if (typeof actual !== 'string' || typeof literal !== 'string') return false;
  const [a, b] = def?.caseExact ? [actual, literal] : [actual.toLowerCase(), literal.toLowerCase()];
  if (op === 'co') return a.includes(b);
  if (op === 'sw') return a.startsWith(b);
  if (op === 'ew') return a.endsWith(b);
  return accepts(op, compareCodePoints(a, b));
}

/** A JSON boolean, or the strings "true"/"false" in any case (Entra sends `"False"`). */
function asBool(value) {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && eqIgnoreAsciiCase(value, 'true')) return true;
  if (typeof value === 'string' && eqIgnoreAsciiCase(value, 'false')) return false;
  return undefined;
}

/** Whether an ordering (-1, 0, 1) satisfies an operator. */
function accepts(op, ord) {
  return { eq: ord === 0, ne: ord !== 0, gt: ord > 0, ge: ord >= 0, lt: ord < 0, le: ord <= 0 }[op] ?? false;
}

/** Strings in code point order, as Rust compares them (JS's `<` compares UTF-16 units). */
function compareCodePoints(a, b) {
  const [x, y] = [[...a], [...b]];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i].codePointAt(0) < y[i].codePointAt(0) ? -1 : 1;
  }
  return Math.sign(x.length - y.length);
}
