// What the SDK calls on the host. Inside the component the generated entry
// module binds the WIT imports here (`bindHost`); natively, log lines are
// kept for tests, and HTTP answers only what a test installed.

const captured = [];

function nativeSend(request) {
  throw new Error(`${request.method} ${request.url}: no HTTP outside the gateway (native build)`);
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
 * Answer `http.send` natively with `handler(request)` (`request` is
 * `{method, url, headers, body}`; return `{status, headers, body}`, or throw
 * `{tag: 'timeout'}` or `{tag: 'transport', val: message}`). `null` restores
 * the refusal.
 */
export function respondWith(handler) {
  host.send = handler ?? nativeSend;
}
