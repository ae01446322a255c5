"""Running a plugin's hooks on what crosses the component boundary (JSON text
and the context) and checking what they return.

The component's exports (`_component`) and native tests (`testing.call`) both
go through here, so a test sees the translation the gateway sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from .resource import Resource
from .types import Context, Failed, HookError, In, MatchKey, Out


@dataclass(frozen=True)
class Hook:
    function: str
    """What a plugin module defines."""
    name: str
    """The hook's name in the contract."""
    world: str
    """Its WIT world."""
    export: str
    """The class componentize-py looks up in the app module."""


HOOKS = [
    Hook("scope", "scope", "scope-plugin", "ScopeHook"),
    Hook("transform_in", "transform-in", "transform-in-plugin", "TransformInHook"),
    Hook("transform_out", "transform-out", "transform-out-plugin", "TransformOutHook"),
    Hook("match_keys", "match-keys", "match-keys-plugin", "MatchKeysHook"),
    Hook("on_event", "on-event", "event-plugin", "EventHook"),
]


def hooks_of(plugin: ModuleType) -> list[Hook]:
    """The hooks a plugin module implements."""
    return [hook for hook in HOOKS if callable(getattr(plugin, hook.function, None))]


READS = Hook("reads", "reads", "attributes-plugin", "Attributes")
"""The optional declaration of what the hooks read (`reads = ["userName",
"emails"]`): exported as `scimgate:plugin/attributes`, so the gateway hands the
hooks only those attributes (and `schemas`)."""


def reads_of(plugin: ModuleType) -> list[str] | None:
    """The attributes a plugin module declares it reads, or None. Raises
    ValueError on a malformed declaration."""
    reads = getattr(plugin, "reads", None)
    if reads is None:
        return None
    if not isinstance(reads, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in reads):
        raise ValueError("defines `reads`, which must be a list of attribute names")
    return list(reads)


def scope(plugin: ModuleType, doc: str, ctx: Context, config: str) -> In | Out:
    def body() -> In | Out:
        decision = plugin.scope(*_inputs(doc, ctx, config))
        if not (isinstance(decision, In) or isinstance(decision, Out) and isinstance(decision.reason, str)):
            raise Failed("scope must return In() or Out(reason)")
        return decision

    return _run("scope", body)


def transform_in(plugin: ModuleType, doc: str, ctx: Context, config: str) -> str:
    return _run("transform-in", lambda: _output("transform-in", plugin.transform_in(*_inputs(doc, ctx, config))))


def transform_out(plugin: ModuleType, doc: str, ctx: Context, config: str) -> str:
    return _run("transform-out", lambda: _output("transform-out", plugin.transform_out(*_inputs(doc, ctx, config))))


def match_keys(plugin: ModuleType, doc: str, ctx: Context, config: str) -> list[MatchKey]:
    def body() -> list[MatchKey]:
        keys = plugin.match_keys(*_inputs(doc, ctx, config))
        valid = isinstance(keys, list) and all(
            isinstance(k, MatchKey) and isinstance(k.attribute, str) and isinstance(k.value, str) for k in keys
        )
        if not valid:
            raise Failed("match_keys must return a list of MatchKey(attribute, value)")
        return keys

    return _run("match-keys", body)


def on_event(plugin: ModuleType, event: str, doc: str, ctx: Context, config: str) -> None:
    _run("on-event", lambda: plugin.on_event(event, *_inputs(doc, ctx, config)))


def _inputs(doc: str, ctx: Context, config: str) -> tuple[Resource, Context, Any]:
    resource = Resource.from_json(doc)
    try:
        value = json.loads(config)
    except ValueError as e:
        raise Failed(f"the plugin configuration is not valid JSON: {e}") from None
    return resource, ctx, value


def _output(hook: str, doc: Any) -> str:
    """A transform's answer as JSON text."""
    resource = doc if isinstance(doc, Resource) else Resource(doc)
    if not isinstance(resource.value, dict):
        raise Failed(f"{hook} must return the document (a Resource or a dict)")
    return resource.to_json()


def _run(hook: str, body: Callable[[], Any]) -> Any:
    """Run a hook; anything it raises but a HookError is a bug, and fails the call with its message."""
    try:
        return body()
    except HookError:
        raise
    except Exception as e:
        raise Failed(f"{hook} raised {type(e).__name__}: {e}") from e
