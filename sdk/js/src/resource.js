// Typed access to a SCIM document with SCIM paths.

import * as document from './document.js';
import { PathError, parseValuePath } from './path.js';
import { failed } from './types.js';

/**
 * A SCIM resource document (a JSON object) addressed with SCIM paths, by
 * the gateway's rules: `userName`, `name.givenName`,
 * `emails[type eq "work"].value`,
 * `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, or a
 * bare extension URN for the whole extension object. Attribute names match
 * case-insensitively; filters compare with the built-in User and Group
 * schemas' case-exactness. A core-schema URN prefix names a top-level
 * attribute.
 *
 * Reads treat `null` as absent and give `undefined`. A path that does not
 * parse finds nothing with `get` and throws a `failed` HookError from `set`
 * and `remove`.
 */
export class Resource {
  /** Wrap a document (the object itself, not a copy). */
  constructor(doc) {
    /** The document. */
    this.value = doc;
  }

  /** Parse a JSON document, which must be an object; else a `failed` HookError. */
  static fromJSON(json) {
    let doc;
    try {
      doc = JSON.parse(json);
    } catch (e) {
      throw failed(`the document is not valid JSON: ${e.message}`);
    }
    if (!document.isObject(doc)) throw failed('the document is not a JSON object');
    return new Resource(doc);
  }

  /** The document, so that `JSON.stringify(resource)` is its JSON. */
  toJSON() {
    return this.value;
  }

  /**
   * The one value at `path`: of several matching elements of a
   * multi-valued attribute, the `primary` one, else the first. Without a
   * filter or sub-attribute a multi-valued attribute is the whole array.
   */
  get(path) {
    const parsed = tryParse(path);
    return parsed && document.first(this.value, parsed, document.schemaOf(this.value));
  }

  /** `get` when the value is a string. */
  getStr(path) {
    const value = this.get(path);
    return typeof value === 'string' ? value : undefined;
  }

  /** `get` when the value is a boolean. */
  getBool(path) {
    const value = this.get(path);
    return typeof value === 'boolean' ? value : undefined;
  }

  /** Every value at `path`, in document order: one per matching element. */
  getAll(path) {
    const parsed = tryParse(path);
    return parsed ? document.all(this.value, parsed, document.schemaOf(this.value)) : [];
  }

  /**
   * Set the value at `path`, on the element `get` reads. A missing parent
   * (`name`, an extension object) is created; a filter that matches no
   * element appends one built from its `eq` terms
   * (`emails[type eq "work"].value` adds `{type: "work", value}`).
   */
  set(path, value) {
    const parsed = parse(path);
    try {
      document.set(this.value, parsed, value, document.schemaOf(this.value));
    } catch (e) {
      if (e instanceof document.WriteError) throw failed(e.message);
      throw e;
    }
  }

  /**
   * Remove the value at `path`; returns how many values went. A filter
   * removes every matching element, and a multi-valued attribute left empty
   * is removed.
   */
  remove(path) {
    return document.remove(this.value, parse(path), document.schemaOf(this.value));
  }
}

function parse(path) {
  try {
    return parseValuePath(path);
  } catch (e) {
    if (e instanceof PathError) throw failed(e.message);
    throw e;
  }
}

function tryParse(path) {
  try {
    return parseValuePath(path);
  } catch (e) {
    if (e instanceof PathError) return undefined;
    throw e;
  }
}
