// Outbound HTTP, from connectors and `onEvent` hooks. The host decides where
// it may go: a connector to its tenant's upstream, an on-event hook only to
// the origins the tenant granted for events, each with the tenant's
// credential added by the host (a plugin never holds a secret). A request
// anywhere else stops the plugin, as does exceeding the per-call budget.
// Other hooks have no grant, and their components do not import HTTP.
// Natively the requests go to the handler a test set with `mockHttp`
// (`@scimgate/sdk/testing`).

import { host } from './host.js';

/** No answer came back (timeout, refused connection); the message names the request. */
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
    const request = { method, url, headers: headers.map(([k, v]) => [k, v]), body: body ?? undefined };
    let response;
    try {
      response = host.send(request);
    } catch (e) {
      throw noAnswer(e, method, url);
    }
    return { status: response.status, headers: response.headers ?? [], body: response.body ?? '' };
  },
};

/**
 * The HttpError for an import's error: the WIT `http-error` variant (from
 * the host, or thrown by a test's handler), an HttpError as it is, or any
 * other failure as a transport error.
 */
function noAnswer(error, method, url) {
  if (error instanceof HttpError) return error;
  const variant = error?.payload ?? error;
  if (variant?.tag === 'timeout') return new HttpError(`${method} ${url}: no answer in time`);
  const reason = variant?.tag === 'transport' ? String(variant.val) : String(error?.message ?? error);
  return new HttpError(`${method} ${url}: ${reason}`);
}
