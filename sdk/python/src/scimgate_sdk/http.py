"""Outbound HTTP, from connectors and `on_event` hooks.

The host decides where it may go: a connector to its tenant's upstream, an
on-event hook only to the origins the tenant granted for events, each with the
tenant's credential added by the host (a plugin never holds a secret). A
request anywhere else stops the plugin, as does exceeding the per-call budget.
Other hooks have no grant, and their components do not import HTTP. Natively
the requests go to the handler a test set with `testing.mock_http`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from . import _host


@dataclass
class Request:
    method: str
    """`GET`, `POST`, `PUT`, `PATCH` or `DELETE`."""
    url: str
    """An absolute URL."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    def header(self, name: str) -> str | None:
        """The first header of that name (compared case-insensitively), if any."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


class HttpError(Exception):
    """No answer came back (timeout, refused connection); the message names the request."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def send(method: str, url: str, headers: Iterable[tuple[str, str]] = (), body: str | None = None) -> Response:
    """Send a request and wait for the answer. Raises HttpError when no answer came."""
    request = Request(method, url, [(k, v) for k, v in headers], body)
    try:
        return _host.send(request)
    except _host.NoAnswer as e:
        why = "no answer in time" if e.timeout else e.reason
        raise HttpError(f"{method} {url}: {why}") from None
