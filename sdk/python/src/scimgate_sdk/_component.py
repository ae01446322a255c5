"""The component side.

componentize-py's bindings (`wit_world`) exist only in the component that
`scimgate_sdk.build` makes. Its generated app module binds the plugin's hooks
with `exports_of`: one class per WIT export, as componentize-py looks them up,
each running the glue and raising a HookError as the `hook-error` variant in
an `Err`; for a connector, one `Connector` class whose errors are the
`connector-error` variant. Importing this module binds the host's `log`; an
event hook and a connector also bind `http`, which only their worlds import.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from componentize_py_types import Err
from wit_world.imports import host, types

from . import _connector, _glue, _host
from .http import Request, Response
from .types import ConnectorError, Context, HookError, MatchKey, Out

_host.log = lambda level, message: host.log(host.LogLevel[level.upper()], message)


def exports_of(plugin: ModuleType) -> dict[str, type]:
    """The export classes of the hooks a plugin module implements (or of the
    connector), by class name."""
    hooks = _connector.plugin_kind(plugin)
    if hooks is None:
        return {_connector.EXPORT: _connector_class(plugin)}
    factories = {
        "ScopeHook": _scope_hook,
        "TransformInHook": _transform_in_hook,
        "TransformOutHook": _transform_out_hook,
        "MatchKeysHook": _match_keys_hook,
        "EventHook": _event_hook,
        "Attributes": _attributes,
    }
    return {hook.export: factories[hook.export](plugin) for hook in hooks}


def _attributes(plugin: ModuleType) -> type:
    names = _glue.reads_of(plugin) or []

    class Attributes:
        def reads(self) -> list[str]:
            return list(names)

    return Attributes


def _context(ctx: types.Context) -> Context:
    operation = ctx.operation.name.lower()
    return Context(ctx.tenant, ctx.idp_profile, operation, ctx.resource_type, ctx.resource_id)


def _wit(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except HookError as e:
        variant = types.HookError_Rejected if e.kind == "rejected" else types.HookError_Failed
        raise Err(variant(e.message)) from None


def _scope_hook(plugin: ModuleType) -> type:
    class ScopeHook:
        def scope(self, doc: str, ctx: types.Context, config: str) -> types.ScopeDecision:
            decision = _wit(lambda: _glue.scope(plugin, doc, _context(ctx), config))
            if isinstance(decision, Out):
                return types.ScopeDecision_OutOfScope(decision.reason)
            return types.ScopeDecision_InScope()

    return ScopeHook


def _transform_in_hook(plugin: ModuleType) -> type:
    class TransformInHook:
        def transform_in(self, doc: str, ctx: types.Context, config: str) -> str:
            return _wit(lambda: _glue.transform_in(plugin, doc, _context(ctx), config))

    return TransformInHook


def _transform_out_hook(plugin: ModuleType) -> type:
    class TransformOutHook:
        def transform_out(self, doc: str, ctx: types.Context, config: str) -> str:
            return _wit(lambda: _glue.transform_out(plugin, doc, _context(ctx), config))

    return TransformOutHook


def _match_keys_hook(plugin: ModuleType) -> type:
    class MatchKeysHook:
        def match_keys(self, doc: str, ctx: types.Context, config: str) -> list[types.MatchKey]:
            keys = _wit(lambda: _glue.match_keys(plugin, doc, _context(ctx), config))
            return [types.MatchKey(key.attribute, key.value) for key in keys]

    return MatchKeysHook


def _bind_http() -> None:
    """Send `http.send`'s requests through the host's import (only the worlds of event
    hooks and connectors have it)."""
    from wit_world.imports import http

    def send(request: Request) -> Response:
        try:
            answer = http.send(http.Request(request.method, request.url, request.headers, request.body))
        except Err as e:
            if isinstance(e.value, http.HttpError_Timeout):
                raise _host.NoAnswer(True) from None
            raise _host.NoAnswer(False, e.value.value) from None
        return Response(answer.status, answer.headers, answer.body)

    _host.send = send


def _event_hook(plugin: ModuleType) -> type:
    _bind_http()

    class EventHook:
        def on_event(self, event: types.Event, doc: str, ctx: types.Context, config: str) -> None:
            _wit(lambda: _glue.on_event(plugin, event.name.lower(), doc, _context(ctx), config))

    return EventHook


def _connector_class(plugin: ModuleType) -> type:
    from wit_world.exports import connector as wit

    _bind_http()
    variants = {
        "rejected": wit.ConnectorError_Rejected,
        "conflict": wit.ConnectorError_Conflict,
        "busy": wit.ConnectorError_Busy,
        "failed": wit.ConnectorError_Failed,
    }

    def run(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ConnectorError as e:
            raise Err(variants[e.kind](e.seconds if e.kind == "busy" else e.message)) from None

    class Connector:
        def create(self, doc: str, ctx: types.Context, config: str) -> str:
            return run(lambda: _connector.create(plugin, doc, _context(ctx), config))

        def get(self, id: str, ctx: types.Context, config: str) -> str | None:
            return run(lambda: _connector.get(plugin, id, _context(ctx), config))

        def update(self, id: str, doc: str, ctx: types.Context, config: str) -> str | None:
            return run(lambda: _connector.update(plugin, id, doc, _context(ctx), config))

        def delete(self, id: str, ctx: types.Context, config: str) -> None:
            run(lambda: _connector.delete(plugin, id, _context(ctx), config))

        def find(self, key: types.MatchKey, ctx: types.Context, config: str) -> str | None:
            match_key = MatchKey(key.attribute, key.value)
            return run(lambda: _connector.find(plugin, match_key, _context(ctx), config))

    return Connector
