"""Helpers for a plugin's native tests: contexts, the hooks and connector
operations run through the same glue as in the component, the captured log
lines, and HTTP answered by the test (`mock_http`, `canned_http`) with the
requests kept (`take_requests`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Callable

from . import _connector, _glue, _host
from ._path import ascii_lower
from .http import Request, Response
from .types import Context, In, MatchKey, Out


def take_logs() -> list[tuple[str, str]]:
    """The lines logged since the last call, as `(level, message)`."""
    lines = list(_host.captured)
    _host.captured.clear()
    return lines


def context(operation: str = "create", resource_type: str = "User", resource_id: str | None = None) -> Context:
    """A context for tests: tenant `test`, IdP profile `generic`, no id unless given."""
    return Context("test", "generic", operation, resource_type, resource_id)


def user_create() -> Context:
    """A `create` context for a User."""
    return context("create", "User")


def group_create() -> Context:
    """A `create` context for a Group."""
    return context("create", "Group")


def call(
    plugin: ModuleType,
    hook: str,
    doc: dict,
    *,
    ctx: Context | None = None,
    config: Any = None,
    event: str = "created",
) -> dict | In | Out | list[MatchKey] | None:
    """Run one hook of a plugin module as the gateway would: `doc` and `config` cross as
    JSON text. Returns the output document (transform hooks), the decision (`scope`), the
    keys (`match-keys`) or None (`on-event`); raises the HookError the component would
    return. `hook` is `scope`, `transform-in`, `transform-out`, `match-keys` or `on-event`."""
    ctx = ctx or user_create()
    doc_json = json.dumps(doc, ensure_ascii=False)
    config_json = json.dumps(config, ensure_ascii=False)
    match hook:
        case "scope":
            return _glue.scope(plugin, doc_json, ctx, config_json)
        case "transform-in":
            return json.loads(_glue.transform_in(plugin, doc_json, ctx, config_json))
        case "transform-out":
            return json.loads(_glue.transform_out(plugin, doc_json, ctx, config_json))
        case "match-keys":
            return _glue.match_keys(plugin, doc_json, ctx, config_json)
        case "on-event":
            return _glue.on_event(plugin, event, doc_json, ctx, config_json)
    raise ValueError(f"unknown hook {hook!r}")


_CONTEXT_OPERATION = {"create": "create", "get": "get", "update": "replace", "delete": "delete", "find": "list"}
"""The context operation the gateway is in when it calls each connector operation."""


def call_connector(
    plugin: ModuleType,
    operation: str,
    *,
    doc: dict | None = None,
    id: str | None = None,
    key: MatchKey | dict | None = None,
    resource_type: str = "User",
    ctx: Context | None = None,
    config: Any = None,
) -> dict | None:
    """Run one operation of a connector module as the gateway would: documents and
    `config` cross as JSON text. Returns the answered document (a dict), or None (for
    none, and from `delete`); raises the ConnectorError the component would return.
    `operation` is `create`, `get`, `update`, `delete` or `find`; `doc` is for create
    and update, `id` for get, update and delete, `key` (a MatchKey or a dict) for find. The context defaults
    to tenant `test`, `resource_type`, and `id` as its resource id."""
    if operation not in _CONTEXT_OPERATION:
        raise ValueError(f"unknown connector operation {operation!r}")
    ctx = ctx or context(_CONTEXT_OPERATION[operation], resource_type, id)
    if isinstance(key, dict):
        key = MatchKey(key["attribute"], key["value"])
    config_json = json.dumps(config, ensure_ascii=False)

    def parsed(text: str | None) -> dict | None:
        return None if text is None else json.loads(text)

    match operation:
        case "create":
            return parsed(_connector.create(plugin, json.dumps(doc, ensure_ascii=False), ctx, config_json))
        case "get":
            return parsed(_connector.get(plugin, id, ctx, config_json))
        case "update":
            return parsed(_connector.update(plugin, id, json.dumps(doc, ensure_ascii=False), ctx, config_json))
        case "delete":
            return _connector.delete(plugin, id, ctx, config_json)
        case "find":
            return parsed(_connector.find(plugin, key, ctx, config_json))


def mock_http(handler: Callable[[Request], Response] | None) -> None:
    """Answer `http.send` with `handler(request)`, which returns a Response or raises
    `timeout()` or `transport(message)` for no answer. None restores the native
    refusal (a transport error)."""
    _host.handler = handler


respond_with = mock_http
"""The earlier name of `mock_http`."""


def take_requests() -> list[Request]:
    """The requests `http.send` made natively since the last call, in order."""
    requests = list(_host.requests)
    _host.requests.clear()
    return requests


def timeout() -> Exception:
    """For a `mock_http` handler to raise: no answer in time."""
    return _host.NoAnswer(True)


def transport(message: str) -> Exception:
    """For a `mock_http` handler to raise: the transport failed (refused, reset, TLS...)."""
    return _host.NoAnswer(False, message)


_CANNED_FIELDS = {"method", "url", "status", "headers", "body", "repeat"}


def canned_http(answers: Sequence[dict]) -> Callable[[Request], Response]:
    """A `mock_http` handler that answers from a list, as `scimgate plugin test --http`
    does: each answer `{method?, url, status=200, headers=[], body, repeat=false}`
    serves the first request it fits (`method` compared case-insensitively, when
    given; `url` exactly, or as a prefix when it ends in `*`), once unless `repeat`.
    `body` is text, or any JSON sent as its text. A request no answer fits fails like
    a refused connection."""
    for answer in answers:
        unknown = sorted(set(answer) - _CANNED_FIELDS)
        if unknown:
            raise ValueError(f"a canned answer has an unknown field {unknown[0]}")
        if not isinstance(answer.get("url"), str):
            raise ValueError("a canned answer needs a url")
    used = [False] * len(answers)

    def fits(answer: dict, request: Request) -> bool:
        method = answer.get("method")
        if method is not None and ascii_lower(method) != ascii_lower(request.method):
            return False
        url = answer["url"]
        return request.url.startswith(url[:-1]) if url.endswith("*") else request.url == url

    def handler(request: Request) -> Response:
        for i, answer in enumerate(answers):
            if (answer.get("repeat") or not used[i]) and fits(answer, request):
                used[i] = True
                body = answer.get("body")
                text = body if isinstance(body, str) else "" if body is None else _json_text(body)
                headers = [(k, v) for k, v in answer.get("headers", [])]
                return Response(answer.get("status", 200), headers, text)
        raise transport(f"no canned answer for {request.method} {request.url}")

    return handler


def _json_text(value: Any) -> str:
    """JSON as serde_json writes it: compact, non-ASCII as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
