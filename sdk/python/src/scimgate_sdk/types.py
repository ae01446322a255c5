"""The contract's types (the WIT `types` interface) as plain Python."""

from __future__ import annotations

from dataclasses import dataclass

from ._path import eq_ignore_ascii_case


@dataclass
class Context:
    """Context handed to every hook call."""

    tenant: str
    idp_profile: str
    """The IdP profile the tenant configured (`entra`, `okta`, `onelogin`, `generic`)."""
    operation: str
    """What the IdP asked for: `create`, `replace`, `patch`, `delete`, `get` or `list`."""
    resource_type: str
    """`User` or `Group`."""
    resource_id: str | None = None
    """The resource's id, when it has one (not on create)."""

    def is_user(self) -> bool:
        """Whether the resource is a User (compared case-insensitively)."""
        return eq_ignore_ascii_case(self.resource_type, "User")

    def is_group(self) -> bool:
        """Whether the resource is a Group (compared case-insensitively)."""
        return eq_ignore_ascii_case(self.resource_type, "Group")


class ConnectorError(Exception):
    """Why a connector operation did not succeed: raise `Rejected`, `Conflict`, `Busy`
    or `Failed`. (This base class raised itself counts as a failure.)"""

    kind: str = "failed"
    """`rejected`, `conflict`, `busy` or `failed`."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class HookError(Exception):
    """Why a hook did not succeed: raise `Rejected` or `Failed`."""

    kind: str

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Rejected(HookError, ConnectorError):
    """The plugin refused the document on purpose (e.g. a required attribute is missing):
    the IdP gets a 400 with this message. A hook's or a connector's."""

    kind = "rejected"


class Failed(HookError, ConnectorError):
    """The plugin could not do its work (bad configuration, a bug). A hook's or a
    connector's."""

    kind = "failed"


class Conflict(ConnectorError):
    """A connector's: the target already has such an account. The gateway may find
    (with the connector's `find`) and link it, else the IdP gets a 409 with this
    message."""

    kind = "conflict"


class Busy(ConnectorError):
    """A connector's: the target asks to slow down, for `seconds` (a whole number,
    0 to 2**32 - 1)."""

    kind = "busy"

    def __init__(self, seconds: int):
        super().__init__(f"the target asks to retry after {seconds} s")
        self.seconds = seconds


@dataclass(frozen=True)
class In:
    """A scope hook's answer: the gateway provisions this resource."""


@dataclass(frozen=True)
class Out:
    """A scope hook's answer: the gateway ignores this resource; the reason is logged."""

    reason: str


ScopeDecision = In | Out


@dataclass(frozen=True)
class MatchKey:
    """One key to find an existing target account: a SCIM attribute path and the value it must equal."""

    attribute: str
    value: str
