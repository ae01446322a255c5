"""The component side.

componentize-py's bindings (`wit_world`) exist only in the component that
`scimgate_sdk.build` makes. Its generated app module binds the plugin's hooks
with `exports_of`: one class per WIT export, as componentize-py looks them up,
each running the glue and raising a HookError as the `hook-error` variant in
an `Err`. Importing this module binds the host's `log`; an event hook also
binds `http`, which only its world imports.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

from componentize_py_types import Err
from wit_world.imports import host, types

from . import _glue, _host
from .http import HttpError, Request, Response
from .types import Context, HookError, Out

_host.log = lambda level, message: host.log(host.LogLevel[level.upper()], message)


def exports_of(plugin: ModuleType) -> dict[str, type]:
    """The export classes of the hooks a plugin module implements, by class name."""
    factories = {
        "ScopeHook": _scope_hook,
        "TransformInHook": _transform_in_hook,
        "TransformOutHook": _transform_out_hook,
        "MatchKeysHook": _match_keys_hook,
        "EventHook": _event_hook,
    }
    return {hook.export: factories[hook.export](plugin) for hook in _glue.hooks_of(plugin)}


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


def _event_hook(plugin: ModuleType) -> type:
    from wit_world.imports import http

    def send(request: Request) -> Response:
        try:
            answer = http.send(http.Request(request.method, request.url, request.headers, request.body))
        except Err as e:
            why = "no answer in time" if isinstance(e.value, http.HttpError_Timeout) else e.value.value
            raise HttpError(f"{request.method} {request.url}: {why}") from None
        return Response(answer.status, answer.headers, answer.body)

    _host.send = send

    class EventHook:
        def on_event(self, event: types.Event, doc: str, ctx: types.Context, config: str) -> None:
            _wit(lambda: _glue.on_event(plugin, event.name.lower(), doc, _context(ctx), config))

    return EventHook
