"""Running a connector's operations on what crosses the component boundary (JSON
text, ids, the context and the match key) and checking what they return.

The component's exports (`_component`) and native tests (`testing.call_connector`)
both go through here. A connector module defines the five functions `create`,
`get`, `update`, `delete` and `find`, and no hook.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, Callable

from ._glue import HOOKS, READS, Hook, hooks_of, reads_of
from .resource import Resource
from .types import Busy, ConnectorError, Context, Failed, HookError, MatchKey

OPERATIONS = ["create", "get", "update", "delete", "find"]
"""The connector operations, as a connector module defines them."""
WORLD = "connector-plugin"
"""The WIT world of a connector."""
EXPORT = "Connector"
"""The class componentize-py looks up in the app module for the `connector` export."""

MAX_SECONDS = 2**32 - 1


def operations_of(plugin: ModuleType) -> list[str]:
    """The connector operations a module defines."""
    return [op for op in OPERATIONS if callable(getattr(plugin, op, None))]


def plugin_kind(plugin: ModuleType) -> list[Hook] | None:
    """What a plugin module is: None for a connector (it defines the five
    operations), else its hooks (and `READS` when it declares what they read: one
    more export). Raises ValueError saying why when it is neither, or mixes the two."""
    hooks, ops = hooks_of(plugin), operations_of(plugin)
    if not ops:
        if not hooks:
            names = ", ".join(hook.function for hook in HOOKS)
            raise ValueError(f"defines no hook ({names}) and no connector operations ({', '.join(OPERATIONS)})")
        return hooks + [READS] if reads_of(plugin) is not None else hooks
    if hooks:
        raise ValueError(
            f"defines hooks ({', '.join(hook.function for hook in hooks)}) and connector operations "
            f"({', '.join(ops)}): a plugin is either hooks or a connector"
        )
    missing = [op for op in OPERATIONS if op not in ops]
    if missing:
        raise ValueError(
            f"is a connector (it defines {', '.join(ops)}) but does not define {', '.join(missing)}: "
            f"a connector defines all of {', '.join(OPERATIONS)}"
        )
    return None


def create(plugin: ModuleType, doc: str, ctx: Context, config: str) -> str:
    return _run("create", lambda: _answer("create", plugin.create(Resource.from_json(doc), ctx, _config(config))))


def get(plugin: ModuleType, id: str, ctx: Context, config: str) -> str | None:
    return _run("get", lambda: _answer("get", plugin.get(id, ctx, _config(config)), optional=True))


def update(plugin: ModuleType, id: str, doc: str, ctx: Context, config: str) -> str | None:
    def body() -> str | None:
        resource = Resource.from_json(doc)
        return _answer("update", plugin.update(id, resource, ctx, _config(config)), optional=True)

    return _run("update", body)


def delete(plugin: ModuleType, id: str, ctx: Context, config: str) -> None:
    _run("delete", lambda: plugin.delete(id, ctx, _config(config)))


def find(plugin: ModuleType, key: MatchKey, ctx: Context, config: str) -> str | None:
    key = MatchKey(key.attribute, key.value)
    return _run("find", lambda: _answer("find", plugin.find(key, ctx, _config(config)), optional=True))


def _config(config: str) -> Any:
    try:
        return json.loads(config)
    except ValueError as e:
        raise Failed(f"the plugin configuration is not valid JSON: {e}") from None


def _answer(op: str, doc: Any, optional: bool = False) -> str | None:
    """A document an operation returned, as JSON text; None for none where `optional`."""
    if optional and doc is None:
        return None
    resource = doc if isinstance(doc, Resource) else Resource(doc)
    if not isinstance(resource.value, dict):
        what = "the document (a Resource or a dict)" + (" or None" if optional else "")
        raise Failed(f"{op} must return {what}")
    return resource.to_json()


def _run(op: str, body: Callable[[], Any]) -> Any:
    """Run an operation. A ConnectorError is the answer (a `Busy` with a bad number of
    seconds is a failure, and the base class a `Failed`); anything else raised is a
    bug, and fails the call with its type and message."""
    try:
        return body()
    except ConnectorError as e:
        if isinstance(e, Busy):
            s = e.seconds
            if isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SECONDS:
                raise
            raise Failed(f"Busy(seconds) takes a whole number from 0 to {MAX_SECONDS}, not {s!r}") from None
        if type(e) is ConnectorError or e.kind not in ("rejected", "conflict", "failed"):
            raise Failed(e.message) from None
        raise
    except HookError as e:  # the base class: `Rejected` and `Failed` are ConnectorErrors too
        raise Failed(e.message) from None
    except Exception as e:
        raise Failed(f"{op} raised {type(e).__name__}: {e}") from e
