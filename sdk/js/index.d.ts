// Types of @scimgate/sdk for TypeScript plugins.

/** A JSON value as a document holds it. */
export type Json = null | boolean | number | string | Json[] | { [member: string]: Json };

/** What the IdP asked for. */
export type Operation = 'create' | 'replace' | 'patch' | 'delete' | 'get' | 'list';

/** Lifecycle events, raised after a write succeeded. */
export type Event = 'created' | 'updated' | 'deactivated' | 'reactivated' | 'deleted';

export const USER_SCHEMA: 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA: 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

/**
 * A SCIM resource document addressed with SCIM paths, by the gateway's rules:
 * `userName`, `name.givenName`, `emails[type eq "work"].value`,
 * `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`.
 * Reads treat `null` as absent; a bad path finds nothing with `get` and
 * throws a `failed` HookError from `set` and `remove`.
 */
export class Resource {
  constructor(doc: { [member: string]: Json });
  /** Parse a JSON document, which must be an object; else a `failed` HookError. */
  static fromJSON(json: string): Resource;
  /** The document itself. */
  value: { [member: string]: Json };
  toJSON(): { [member: string]: Json };
  /** The one value at `path`: of several matching elements, the primary one, else the first. */
  get(path: string): Json | undefined;
  getStr(path: string): string | undefined;
  getBool(path: string): boolean | undefined;
  /** Every value at `path`, in document order. */
  getAll(path: string): Json[];
  /** Set the value at `path`, on the element `get` reads, creating what is missing. */
  set(path: string, value: Json): void;
  /** Remove the values at `path`; how many went. */
  remove(path: string): number;
}

/** Context handed to every hook call. */
export class Context {
  constructor(fields: {
    tenant: string;
    idpProfile: string;
    operation: Operation;
    resourceType: string;
    resourceId?: string | null;
  });
  tenant: string;
  /** The IdP profile the tenant configured (`entra`, `okta`, `onelogin`, `generic`). */
  idpProfile: string;
  operation: Operation;
  /** `User` or `Group`. */
  resourceType: string;
  /** The resource's id, when it has one (not on create). */
  resourceId: string | null;
  isUser(): boolean;
  isGroup(): boolean;
}

/** Why a hook did not succeed: throw one made by `rejected` or `failed`. */
export class HookError extends Error {
  kind: 'rejected' | 'failed';
}
/** The plugin refused the document on purpose: the IdP gets a 400 with this message. */
export function rejected(message: string): HookError;
/** The plugin could not do its work (bad configuration, a bug). */
export function failed(message: string): HookError;

export type ScopeDecision = { inScope: true } | { inScope: false; reason: string };
export function inScope(): ScopeDecision;
export function outOfScope(reason: string): ScopeDecision;

export interface MatchKey {
  attribute: string;
  value: string;
}
export function matchKey(attribute: string, value: string): MatchKey;

/**
 * Why a connector operation did not succeed: throw one made by `conflict`
 * or `busy`, or the HookErrors of `rejected` and `failed`.
 */
export class ConnectorError extends Error {
  constructor(kind: 'rejected' | 'conflict' | 'busy' | 'failed', message: string, seconds?: number | null);
  kind: 'rejected' | 'conflict' | 'busy' | 'failed';
  /** For `busy`: the seconds the target asks to wait; else null. */
  seconds: number | null;
}
/** The target already has such an account: the gateway may find and link it, else the IdP gets a 409. */
export function conflict(message: string): ConnectorError;
/** The target asks to slow down: the seconds to wait (a whole number, 0 to 2^32 - 1). */
export function busy(seconds: number): ConnectorError;

type Line = (message: string) => void;
/** Lines to the gateway's log, tagged with the plugin and the tenant. */
export const log: { trace: Line; debug: Line; info: Line; warn: Line; error: Line };

export interface Response {
  status: number;
  headers: [string, string][];
  body: string;
}
/** No answer came back (timeout, refused connection); the message names the request. */
export class HttpError extends Error {}
/** Outbound HTTP, for connectors (to the tenant's upstream) and `onEvent` hooks (to the origins the tenant granted). */
export const http: {
  send(method: string, url: string, headers?: [string, string][], body?: string): Response;
};

/** The hooks a plugin module may export. */
export type Scope = (doc: Resource, ctx: Context, config: Json) => ScopeDecision;
export type TransformIn = (doc: Resource, ctx: Context, config: Json) => Resource | { [member: string]: Json };
export type TransformOut = TransformIn;
export type MatchKeys = (doc: Resource, ctx: Context, config: Json) => MatchKey[];
export type OnEvent = (event: Event, doc: Resource, ctx: Context, config: Json) => void;

/**
 * A connector module exports all five, and no hook. `delete` is a reserved
 * word: define the function under another name and `export { remove as delete }`.
 * A document answered is a Resource or an object; null (or undefined) is none.
 */
export type Create = (doc: Resource, ctx: Context, config: Json) => Resource | { [member: string]: Json };
export type Get = (id: string, ctx: Context, config: Json) => Resource | { [member: string]: Json } | null | undefined;
export type Update = (
  id: string,
  doc: Resource,
  ctx: Context,
  config: Json,
) => Resource | { [member: string]: Json } | null | undefined;
export type Delete = (id: string, ctx: Context, config: Json) => void;
export type Find = (key: MatchKey, ctx: Context, config: Json) => Resource | { [member: string]: Json } | null | undefined;
