// Types of @scimgate/sdk/testing.

import type { Context, Event, Json, MatchKey, Operation, ScopeDecision } from './index.js';

/** A request as `http.send` made it natively (`body` null when none). */
export interface Request {
  method: string;
  url: string;
  headers: [string, string][];
  body: string | null;
}
/** What a `mockHttp` handler answers (`headers` default to none, `body` to ''). */
export interface Answer {
  status: number;
  headers?: [string, string][];
  body?: string;
}
/** What a `mockHttp` handler throws for no answer: `timeout()` or `transport(message)`. */
export type NoAnswer = { tag: 'timeout' } | { tag: 'transport'; val: string };

/** The lines logged natively since the last call, as `[level, message]`. */
export function takeLogs(): [string, string][];
/** A context for tests: tenant `test`, IdP profile `generic`, no id. */
export function context(operation: Operation, resourceType: string, resourceId?: string | null): Context;
export function userCreate(): Context;
export function groupCreate(): Context;
/**
 * Run one hook of a plugin module as the gateway would (JSON in and out).
 * Throws the HookError the component would return.
 */
export function call(
  plugin: object,
  hook: 'scope' | 'transform-in' | 'transform-out' | 'match-keys' | 'on-event',
  doc: { [member: string]: Json },
  options?: { ctx?: Context; config?: Json; event?: Event },
): { [member: string]: Json } | ScopeDecision | MatchKey[] | undefined;
/**
 * Answer `http.send` natively with `handler`, which returns an answer or
 * throws `timeout()` or `transport(message)`; `null` restores the refusal.
 */
export function mockHttp(handler: ((request: Request) => Answer) | null): void;
/** The earlier name of `mockHttp`. */
export function respondWith(handler: ((request: Request) => Answer) | null): void;
/** The requests `http.send` made natively since the last call, in order. */
export function takeRequests(): Request[];
export function timeout(): NoAnswer;
export function transport(message: string): NoAnswer;
/** One answer of `cannedHttp`, as `scimgate plugin test --http` reads them. */
export interface Canned {
  method?: string;
  /** Exact, or a prefix when it ends in `*`. */
  url: string;
  status?: number;
  headers?: [string, string][];
  /** Text, or any JSON sent as its text. */
  body?: Json;
  /** Serve every request that fits, not just one. */
  repeat?: boolean;
}
/**
 * A `mockHttp` handler answering from a list, as `scimgate plugin test --http`
 * does; a request no answer fits fails like a refused connection.
 */
export function cannedHttp(answers: Canned[]): (request: Request) => Answer;
/**
 * Run one connector operation of a plugin module as the gateway would (JSON
 * in and out): the document, null for none, or undefined (`delete`). Throws
 * the ConnectorError the component would return.
 */
export function callConnector(
  plugin: object,
  operation: 'create' | 'get' | 'update' | 'delete' | 'find',
  args?: {
    doc?: { [member: string]: Json };
    id?: string;
    key?: MatchKey;
    resourceType?: string;
    ctx?: Context;
    config?: Json;
  },
): { [member: string]: Json } | null | undefined;
