// `legacy-hr-connector` (a connector): SCIM users and groups as
// `examples/legacy-hr`'s employees and teams. The JavaScript port of
// plugins/legacy-hr-connector: the same requests, answers and messages.
//
// | SCIM (what the pipeline produced)                | legacy-hr employee         |
// |--------------------------------------------------|----------------------------|
// | work email (else primary email, else `userName`) | `mail`                     |
// | `name.givenName`, `name.familyName`              | `first`, `last` (required) |
// | `displayName`, `title`                           | `display`, `title`         |
// | enterprise `department`, `employeeNumber`        | `dept`, `emp_no`           |
// | `active`                                         | `status`: `"A"` / `"T"`    |
//
// Groups are teams: `displayName` is `name`, `members` (the target's
// employee ids, as the gateway sends them) are the team's member list. The
// API has no PATCH: the gateway sends full documents, sent here as `PUT`.
// Its answers map back: `409 DUPLICATE` is a conflict (the gateway then
// finds the employee by mail and links it), `400`/`422` a refusal,
// `429`/`503` a request to wait, anything else a failure.
//
// Config (JSON): `{"base_url": "http://host:port"}`; the gateway fills it
// from the tenant's upstream URL. The API key is added by the host.
//
// Documents are read as JSON, member names exactly as the Rust connector
// reads them (not with SCIM paths, which ignore case).

import { HttpError, busy, conflict, failed, http, rejected } from '@scimgate/sdk';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const USER = { collection: '/api/v1/employees', wrapper: 'employee' };
const GROUP = { collection: '/api/v1/teams', wrapper: 'team' };

/** Users or groups: anything but `Group` (in any case) is a user. */
const kindOf = (ctx) => (ctx.isGroup() ? GROUP : USER);

// ---------------------------------------------------------------------------
// The connector operations.

export function create(doc, ctx, config) {
  const kind = kindOf(ctx);
  const answer = send(config, { method: 'POST', path: kind.collection, body: toLegacy(kind, doc.value) });
  if (answer === null) throw failed('legacy-hr answered a create without the new resource');
  return toScim(kind, answer);
}

export function get(id, ctx, config) {
  const kind = kindOf(ctx);
  const number = legacyId(id);
  if (number === null) return null;
  const answer = send(config, { method: 'GET', path: `${kind.collection}/${number}`, body: null });
  return answer === null ? null : toScim(kind, answer);
}

export function update(id, doc, ctx, config) {
  const kind = kindOf(ctx);
  const path = objectPath(kind, id);
  const answer = send(config, { method: 'PUT', path, body: toLegacy(kind, doc.value) });
  return answer === null ? null : toScim(kind, answer);
}

function remove(id, ctx, config) {
  const kind = kindOf(ctx);
  const number = legacyId(id);
  if (number === null) return;
  send(config, { method: 'DELETE', path: `${kind.collection}/${number}`, body: null });
}

export { remove as delete };

export function find(key, ctx, config) {
  const kind = kindOf(ctx);
  const call = findCall(kind, key.attribute, key.value);
  if (call === null) return null;
  const answer = send(config, call);
  return answer === null ? null : firstOfList(kind, answer);
}

// ---------------------------------------------------------------------------
// SCIM to legacy-hr.

/** The request body legacy-hr wants for a SCIM document. */
function toLegacy(kind, doc) {
  return kind === USER ? employee(doc) : team(doc);
}

function employee(doc) {
  const text = (v) => (typeof v === 'string' && trim(v) !== '' ? trim(v) : null);
  const address = mail(doc);
  if (address === null) throw rejected('legacy-hr needs a mail: the user has no email and no userName');
  const name = member(doc, 'name');
  const [first, last] = [text(member(name, 'givenName')), text(member(name, 'familyName'))];
  if (first === null || last === null) throw rejected('legacy-hr needs name.givenName and name.familyName');
  const enterprise = member(doc, ENTERPRISE);
  const active = member(doc, 'active');
  let isActive = true;
  if (typeof active === 'boolean') isActive = active;
  else if (typeof active === 'string') isActive = asciiLower(active) !== 'false';
  return {
    mail: address,
    first,
    last,
    display: text(member(doc, 'displayName')),
    title: text(member(doc, 'title')),
    dept: text(member(enterprise, 'department')),
    emp_no: text(member(enterprise, 'employeeNumber')),
    status: isActive ? 'A' : 'T',
  };
}

/** The work email, else the primary one, else the first, else `userName`. */
function mail(doc) {
  const emails = Array.isArray(member(doc, 'emails')) ? member(doc, 'emails') : [];
  const value = (e) => {
    const v = member(e, 'value');
    return typeof v === 'string' && v.includes('@') ? v : null;
  };
  const firstValue = (list) => list.map(value).find((v) => v !== null) ?? null;
  const userName = member(doc, 'userName');
  return (
    firstValue(emails.filter((e) => member(e, 'type') === 'work')) ??
    firstValue(emails.filter((e) => member(e, 'primary') === true)) ??
    firstValue(emails) ??
    (typeof userName === 'string' && userName.includes('@') ? userName : null)
  );
}

function team(doc) {
  const name = member(doc, 'displayName');
  if (typeof name !== 'string' || trim(name) === '') throw rejected('legacy-hr needs a team name (displayName)');
  const members = [];
  const seen = new Set();
  const listed = member(doc, 'members');
  for (const m of Array.isArray(listed) ? listed : []) {
    const id = parseInteger(member(m, 'value'), /^[+-]?[0-9]+$/, -(2n ** 63n), 2n ** 63n - 1n);
    if (id === null) throw rejected(`legacy-hr team members are employee ids, not ${JSON.stringify(m)}`);
    if (!seen.has(id)) {
      seen.add(id);
      members.push(Number(id));
    }
  }
  return { name, members };
}

// ---------------------------------------------------------------------------
// legacy-hr to SCIM.

/** The SCIM document of a legacy-hr object (the wrapped or bare JSON). */
function toScim(kind, answer) {
  const wrapped = member(answer, kind.wrapper);
  const object = wrapped === undefined ? answer : wrapped;
  const id = member(object, 'id');
  if (typeof id !== 'number') throw failed(`legacy-hr's answer has no ${kind.wrapper} id`);
  const field = (k) => {
    const v = member(object, k);
    return v === undefined || v === null ? null : v;
  };
  if (kind === GROUP) {
    const listed = member(object, 'members');
    const members = (Array.isArray(listed) ? listed : [])
      .filter((m) => Number.isInteger(m) && m >= -(2 ** 63) && m < 2 ** 63)
      .map((m) => ({ value: String(m) }));
    return { schemas: [GROUP_SCHEMA], id: String(id), displayName: field('name'), members };
  }
  const doc = { schemas: [USER_SCHEMA, ENTERPRISE], id: String(id) };
  const address = field('mail');
  if (address !== null) {
    doc.userName = address;
    doc.emails = [{ value: address, type: 'work', primary: true }];
  }
  doc.name = { givenName: field('first'), familyName: field('last') };
  if (field('display') !== null) doc.displayName = field('display');
  if (field('title') !== null) doc.title = field('title');
  doc.active = member(object, 'status') === 'A';
  const enterprise = {};
  if (field('dept') !== null) enterprise.department = field('dept');
  if (field('emp_no') !== null) enterprise.employeeNumber = field('emp_no');
  doc[ENTERPRISE] = enterprise;
  return doc;
}

/** The first object of a paged list answer. */
function firstOfList(kind, answer) {
  const items = member(answer, 'data');
  if (!Array.isArray(items)) throw failed('legacy-hr answered a list without data');
  return items.length === 0 ? null : toScim(kind, items[0]);
}

// ---------------------------------------------------------------------------
// Requests and answers.

/**
 * The query that finds a resource by a SCIM attribute legacy-hr can
 * search: users by mail (`userName`, `emails`), groups by name. Null for
 * any other attribute.
 */
function findCall(kind, attribute, value) {
  const a = asciiLower(attribute);
  let param = null;
  if (kind === USER && (a === 'username' || a === 'emails' || a === 'emails.value' || a.startsWith('emails['))) {
    param = 'mail';
  } else if (kind === GROUP && a === 'displayname') {
    param = 'name';
  }
  return param === null ? null : { method: 'GET', path: `${kind.collection}?${param}=${encode(value)}`, body: null };
}

/** An id is legacy-hr's integer (a u64); null for anything else. */
function legacyId(id) {
  const number = parseInteger(id, /^\+?[0-9]+$/, 0n, 2n ** 64n - 1n);
  return number === null ? null : number.toString();
}

function objectPath(kind, id) {
  const number = legacyId(id);
  if (number === null) throw rejected(`'${id}' is not a legacy-hr id`);
  return `${kind.collection}/${number}`;
}

/**
 * Send a call to `config.base_url`: the answer's JSON, or null for a 404 (or
 * a 204). Any other answer but 200 and 201 throws its failure.
 */
function send(config, call) {
  const baseUrl = member(config, 'base_url');
  const base = (typeof baseUrl === 'string' ? baseUrl : '').replace(/\/+$/, '');
  const headers = [['accept', 'application/json']];
  if (call.body !== null) headers.push(['content-type', 'application/json']);
  const body = call.body === null ? undefined : JSON.stringify(call.body);
  let response;
  try {
    response = http.send(call.method, `${base}${call.path}`, headers, body);
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    throw failed(`legacy-hr: ${e.message}`);
  }
  switch (response.status) {
    case 200:
    case 201:
      try {
        return JSON.parse(response.body);
      } catch (e) {
        throw failed(`legacy-hr answered malformed JSON: ${e.message}`);
      }
    case 204:
    case 404:
      return null;
    default: {
      const retryAfter = response.headers.find(([k]) => asciiLower(k) === 'retry-after');
      throw failure(response.status, response.body, retryAfter === undefined ? null : retryAfter[1]);
    }
  }
}

/** What a non-2xx answer means. `retryAfter` is the header's value. */
function failure(status, body, retryAfter) {
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const text = member(member(parsed, 'error'), 'message');
  const message = typeof text === 'string' ? `legacy-hr: ${text}` : `legacy-hr answered ${status}`;
  switch (status) {
    case 409:
      return conflict(message);
    case 400:
    case 422:
      return rejected(message);
    case 429:
    case 503: {
      const seconds = retryAfter === null ? null : parseInteger(trim(retryAfter), /^\+?[0-9]+$/, 0n, 2n ** 32n - 1n);
      return busy(seconds === null ? 1 : Number(seconds));
    }
    default:
      return failed(message);
  }
}

// ---------------------------------------------------------------------------
// Rust's rules, where JavaScript's differ.

/** `value[name]` when `value` is a JSON object that has it (serde_json's `Value::get`). */
function member(value, name) {
  const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
  return isObject && Object.hasOwn(value, name) ? value[name] : undefined;
}

/** A string of `digits` (Rust's integer parsing: an optional sign, ASCII digits) in `[min, max]`, as a BigInt. */
function parseInteger(text, digits, min, max) {
  if (typeof text !== 'string' || !digits.test(text)) return null;
  const n = BigInt(text);
  return n >= min && n <= max ? n : null;
}

/** Percent-encode a query value (RFC 3986 unreserved characters stay). */
const encode = (value) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const asciiLower = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** Rust's `str::trim`: Unicode White_Space (JavaScript's also strips U+FEFF, and keeps U+0085). */
const trim = (s) => s.replace(WHITE_SPACE, '');
const WHITE_SPACE =
  /^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
