// The contract's types (the WIT `types` interface) as plain JavaScript.

import { eqIgnoreAsciiCase } from './path.js';

/** Context handed to every hook call. */
export class Context {
  /**
   * @param {object} fields `tenant`, `idpProfile`, `operation` (`create`,
   *   `replace`, `patch`, `delete`, `get`, `list`), `resourceType` (`User` or
   *   `Group`) and `resourceId` (absent on create).
   */
  constructor({ tenant, idpProfile, operation, resourceType, resourceId }) {
    this.tenant = tenant;
    this.idpProfile = idpProfile;
    this.operation = operation;
    this.resourceType = resourceType;
    this.resourceId = resourceId ?? null;
  }

  /** Whether the resource is a User (compared case-insensitively). */
  isUser() {
    return eqIgnoreAsciiCase(this.resourceType, 'User');
  }

  /** Whether the resource is a Group (compared case-insensitively). */
  isGroup() {
    return eqIgnoreAsciiCase(this.resourceType, 'Group');
  }
}

/** Why a hook did not succeed: throw one made by `rejected` or `failed`. */
export class HookError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'HookError';
    /** `rejected` or `failed`. */
    this.kind = kind;
  }
}

/**
 * The plugin refused the document on purpose (e.g. a required attribute is
 * missing): the IdP gets a 400 with this message.
 */
export const rejected = (message) => new HookError('rejected', message);

/** The plugin could not do its work (bad configuration, a bug). */
export const failed = (message) => new HookError('failed', message);

/** A scope hook's answer: the gateway provisions this resource. */
export const inScope = () => ({ inScope: true });

/** A scope hook's answer: the gateway ignores this resource; `reason` is logged. */
export const outOfScope = (reason) => ({ inScope: false, reason });

/** One key to find an existing target account: a SCIM attribute path and the value it must equal. */
export const matchKey = (attribute, value) => ({ attribute, value });

/**
 * Why a connector operation did not succeed. Throw one made by `conflict`
 * or `busy`, or the `rejected` and `failed` HookErrors, which a connector
 * answers as the connector variants of the same names.
 */
export class ConnectorError extends Error {
  /**
   * @param {'rejected' | 'conflict' | 'busy' | 'failed'} kind
   * @param {string} message
   * @param {number | null} [seconds] how long to wait, for `busy`
   */
  constructor(kind, message, seconds = null) {
    super(message);
    this.name = 'ConnectorError';
    /** `rejected`, `conflict`, `busy` or `failed`. */
    this.kind = kind;
    /** For `busy`: the seconds the target asks to wait; else null. */
    this.seconds = seconds;
  }
}

/**
 * The target already has such an account: the gateway may find (with the
 * connector's `find`) and link it, else the IdP gets a 409 with this message.
 */
export const conflict = (message) => new ConnectorError('conflict', message);

/** The target asks to slow down: the seconds to wait (a whole number, 0 to 2^32 - 1). */
export const busy = (seconds) => new ConnectorError('busy', `the target asks to retry after ${seconds} s`, seconds);
