"""Write scimgate plugins in Python.

A plugin is a module (`plugin.py`) that defines any of the hook functions
`scope`, `transform_in`, `transform_out`, `match_keys` and `on_event`, or a
connector: the five operations `create`, `get`, `update`, `delete` and `find`.
`python -m scimgate_sdk.build` turns it into a Wasm component that exports
exactly those hooks, or the connector interface. See README.md.
"""

from . import http, log
from ._document import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA
from .resource import Resource
from .types import (
    Busy,
    Conflict,
    ConnectorError,
    Context,
    Failed,
    HookError,
    In,
    MatchKey,
    Out,
    Rejected,
    ScopeDecision,
)

__all__ = [
    "ENTERPRISE_USER_SCHEMA",
    "GROUP_SCHEMA",
    "USER_SCHEMA",
    "Busy",
    "Conflict",
    "ConnectorError",
    "Context",
    "Failed",
    "HookError",
    "In",
    "MatchKey",
    "Out",
    "Rejected",
    "Resource",
    "ScopeDecision",
    "http",
    "log",
]
