// What the SDK calls on the host. Inside the component the generated entry
// module binds the WIT imports here (`bindHost`); natively, log lines and
// HTTP requests are kept for tests, and HTTP answers only what a test
// installed (`mockHttp`).

const captured = [];
const requests = [];
let handler = null;

/** Natively: keep the request, and answer it with the test's handler, if any. */
function nativeSend(request) {
  const { method, url, headers, body } = request;
  requests.push({ method, url, headers: headers.map(([k, v]) => [k, v]), body: body ?? null });
  if (handler === null) throw { tag: 'transport', val: 'no HTTP outside the gateway (set one with mockHttp)' };
  return handler({ method, url, headers: headers.map(([k, v]) => [k, v]), body: body ?? null });
}

/** The functions in use: `log(level, message)` and `send(request)`, in WIT shapes. */
export const host = {
  log(level, message) {
    captured.push([level, message]);
  },
  send: nativeSend,
};

/** Bind the host's functions (the component's imports). */
export function bindHost(functions) {
  Object.assign(host, functions);
}

/** The lines logged natively since the last call, as `[level, message]`. */
export function takeLogs() {
  return captured.splice(0);
}

/**
 * Answer `http.send` natively with `handler(request)`: `request` is
 * `{method, url, headers, body}` (`body` null when none); return `{status,
 * headers, body}` (`headers` default to none and `body` to ''), or throw
 * `timeout()` or `transport(message)` for no answer. `null` restores the
 * refusal (a transport error).
 */
export function mockHttp(answer) {
  handler = answer ?? null;
}

/** The earlier name of `mockHttp`. */
export const respondWith = mockHttp;

/** The requests `http.send` made natively since the last call, in order. */
export function takeRequests() {
  return requests.splice(0);
}
