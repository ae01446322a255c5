"""Typed access to a SCIM document with SCIM paths."""

from __future__ import annotations

import json
from typing import Any

from . import _document
from ._path import PathError, ValuePath, parse_value_path
from .types import Failed


class Resource:
    """A SCIM resource document (a JSON object) addressed with SCIM paths.

    The paths and rules are the gateway's: `userName`, `name.givenName`,
    `emails[type eq "work"].value`,
    `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, or a
    bare extension URN for the whole extension object. Attribute names match
    case-insensitively; filters compare with the built-in User and Group schemas'
    case-exactness. A core-schema URN prefix names a top-level attribute.

    Reads treat JSON null as absent and give None. A path that does not parse
    finds nothing with `get` and raises `Failed` from `set` and `remove`.
    """

    def __init__(self, doc: Any):
        """Wrap a document (the object itself, not a copy)."""
        self.value = doc

    @classmethod
    def from_json(cls, text: str) -> Resource:
        """Parse a JSON document, which must be an object; else `Failed`."""
        try:
            doc = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as e:
            raise Failed(f"the document is not valid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise Failed("the document is not a JSON object")
        return cls(doc)

    def to_json(self) -> str:
        """The document as compact JSON text."""
        return json.dumps(self.value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def get(self, path: str) -> Any:
        """The one value at `path`: of several matching elements of a multi-valued
        attribute, the `primary` one, else the first. Without a filter or sub-attribute a
        multi-valued attribute is the whole list."""
        parsed = _try_parse(path)
        return None if parsed is None else _document.first(self.value, parsed, _document.schema_of(self.value))

    def get_str(self, path: str) -> str | None:
        """`get` when the value is a string."""
        value = self.get(path)
        return value if isinstance(value, str) else None

    def get_bool(self, path: str) -> bool | None:
        """`get` when the value is a boolean."""
        value = self.get(path)
        return value if isinstance(value, bool) else None

    def get_all(self, path: str) -> list:
        """Every value at `path`, in document order: one per matching element."""
        parsed = _try_parse(path)
        return [] if parsed is None else _document.all_values(self.value, parsed, _document.schema_of(self.value))

    def set(self, path: str, value: Any) -> None:
        """Set the value at `path`, on the element `get` reads. A missing parent (`name`, an
        extension object) is created; a filter that matches no element appends one built
        from its `eq` terms (`emails[type eq "work"].value` adds `{"type": "work", "value": ...}`)."""
        try:
            _document.set_value(self.value, _parse(path), value, _document.schema_of(self.value))
        except _document.WriteError as e:
            raise Failed(str(e)) from None

    def remove(self, path: str) -> int:
        """Remove the value at `path`; returns how many values went. A filter removes every
        matching element, and a multi-valued attribute left empty is removed."""
        return _document.remove(self.value, _parse(path), _document.schema_of(self.value))

    def __repr__(self) -> str:
        return f"Resource({self.value!r})"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(path: str) -> ValuePath:
    try:
        return parse_value_path(path)
    except PathError as e:
        raise Failed(str(e)) from None


def _try_parse(path: str) -> ValuePath | None:
    try:
        return parse_value_path(path)
    except PathError:
        return None
