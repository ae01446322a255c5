"""Helpers for a plugin's native tests: contexts, the hooks run through the
same glue as in the component, the captured log lines, and canned HTTP
answers."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, Callable

from . import _glue, _host
from .http import Request, Response
from .types import Context, In, MatchKey, Out


def take_logs() -> list[tuple[str, str]]:
    """The lines logged since the last call, as `(level, message)`."""
    lines = list(_host.captured)
    _host.captured.clear()
    return lines


def context(operation: str = "create", resource_type: str = "User") -> Context:
    """A context for tests: tenant `test`, IdP profile `generic`, no id."""
    return Context("test", "generic", operation, resource_type)


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


def respond_with(handler: Callable[[Request], Response] | None) -> None:
    """Answer `http.send` with `handler(request)`, which returns a Response or raises
    HttpError. None restores the native refusal."""
    _host.send = handler
