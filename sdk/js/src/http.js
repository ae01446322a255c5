// Outbound HTTP from an `onEvent` hook. The host decides where it may go:
// only to the origins the tenant granted for events, with the tenant's
// credential added by the host (a plugin never holds a secret). A request
// anywhere else stops the plugin, as does exceeding the per-call budget.
// Other hooks have no grant, and their components do not import HTTP.

import { host } from './host.js';

/** No answer came back (timeout, refused connection). */
export class HttpError extends Error {
  constructor(message) {
    super(message);
    this.name = 'HttpError';
  }
}

export const http = {
  /**
   * Send a request and wait for the answer: `{status, headers, body}`.
   * Throws an HttpError when no answer came.
   *
   * @param {string} method `GET`, `POST`, `PUT`, `PATCH` or `DELETE`
   * @param {string} url an absolute URL
   * @param {[string, string][]} [headers]
   * @param {string} [body]
   */
  send(method, url, headers = [], body = undefined) {
    const request = { method, url, headers: headers.map(([k, v]) => [k, v]), body };
    let response;
    try {
      response = host.send(request);
    } catch (e) {
      throw new HttpError(describe(e, method, url));
    }
    return { status: response.status, headers: response.headers, body: response.body };
  },
};

/** The message for an import's error: the WIT `http-error` variant, or a native failure. */
function describe(error, method, url) {
  const variant = error?.payload ?? error;
  if (variant?.tag === 'timeout') return `${method} ${url}: no answer in time`;
  if (variant?.tag === 'transport') return `${method} ${url}: ${variant.val}`;
  return String(error?.message ?? error);
}
