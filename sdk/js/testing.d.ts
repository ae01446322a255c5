// Types of @scimgate/sdk/testing.

import type { Context, Event, Json, MatchKey, Operation, ScopeDecision } from './index.js';

/** The lines logged natively since the last call, as `[level, message]`. */
export function takeLogs(): [string, string][];
/** A context for tests: tenant `test`, IdP profile `generic`, no id. */
export function context(operation: Operation, resourceType: string): Context;
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
/** Answer `http.send` natively with `handler`; `null` restores the refusal. */
export function respondWith(
  handler:
    | ((request: { method: string; url: string; headers: [string, string][]; body?: string }) => {
        status: number;
        headers: [string, string][];
        body: string;
      })
    | null,
): void;
