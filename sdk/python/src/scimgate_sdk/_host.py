"""What the SDK calls on the host.

Inside the component, `scimgate_sdk._component` binds the WIT imports here;
natively, log lines and HTTP requests are kept for tests, and HTTP answers
only what a test installed (`testing.mock_http`).
"""

from __future__ import annotations

import copy
from typing import Any, Callable

captured: list[tuple[str, str]] = []
requests: list[Any] = []
"""The `http.Request`s sent natively."""
handler: Callable[[Any], Any] | None = None
"""The test's `mock_http` handler."""


class NoAnswer(Exception):
    """What `send` raises when no answer came: `http.send` turns it into an HttpError
    naming the request."""

    def __init__(self, timeout: bool, reason: str | None = None):
        super().__init__(reason or "timeout")
        self.timeout = timeout
        self.reason = reason


def _capture(level: str, message: str) -> None:
    captured.append((level, message))


def _native_send(request: Any) -> Any:
    requests.append(copy.deepcopy(request))
    if handler is None:
        raise NoAnswer(False, "no HTTP outside the gateway (set one with testing.mock_http)")
    return handler(request)


log: Callable[[str, str], None] = _capture
"""`log(level, message)`."""

send: Callable[[Any], Any] = _native_send
"""`send(request) -> Response`, raising `NoAnswer` (or `HttpError`)."""
