"""What the SDK calls on the host.

Inside the component, `scimgate_sdk._component` binds the WIT imports here;
natively, log lines are kept for tests, and HTTP answers only what a test
installed (`testing.respond_with`).
"""

from __future__ import annotations

from typing import Callable

captured: list[tuple[str, str]] = []


def _capture(level: str, message: str) -> None:
    captured.append((level, message))


log: Callable[[str, str], None] = _capture
"""`log(level, message)`."""

send: Callable | None = None
"""`send(request) -> Response`, raising `HttpError`; None where there is no HTTP."""
