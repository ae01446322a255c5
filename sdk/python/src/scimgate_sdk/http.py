"""Outbound HTTP from an `on_event` hook.

The host decides where it may go: only to the origins the tenant granted for
events, with the tenant's credential added by the host (a plugin never holds a
secret). A request anywhere else stops the plugin, as does exceeding the
per-call budget. Other hooks have no grant, and their components do not
import HTTP.
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
    headers: list[tuple[str, str]]
    body: str


class HttpError(Exception):
    """No answer came back (timeout, refused connection)."""


def send(method: str, url: str, headers: Iterable[tuple[str, str]] = (), body: str | None = None) -> Response:
    """Send a request and wait for the answer. Raises HttpError when no answer came."""
    request = Request(method, url, [(k, v) for k, v in headers], body)
    if _host.send is None:
        raise HttpError(f"{method} {url}: no HTTP outside the gateway (native build)")
    return _host.send(request)
