"""Reading and writing values at SCIM paths in a loosely typed JSON document.

A port of the gateway's `scim::document` (Rust) and of the element filters it
evaluates. The rules, shared with the gateway's mapping steps:

- Names match members case-insensitively (ASCII); a write keeps an existing
  member's spelling and a new member takes the path's.
- Any `urn:ietf:params:scim:schemas:core:2.0:` prefix means the top level; any
  other URN is an extension object, created on write and then listed in
  `schemas` when the document has that array. A bare extension URN names the
  whole extension object when the document knows it (or it is the Enterprise
  User's).
- Reads treat `null` as absent. `all_values` gives every value a path selects;
  `first` the primary matching element's, else the first.
- Writes go to the element `first` would read; when no element matches a
  filter, one is appended built from the filter's `eq` terms.
- Removal takes every matching value, and drops a multi-valued attribute its
  filter left empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ._path import And, AttrPath, Compare, Filter, Not, Or, Present, ValuePath, ascii_lower, eq_ignore_ascii_case, show_filter

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE_SCHEMA_PREFIX = "urn:ietf:params:scim:schemas:core:2.0:"


class WriteError(ValueError):
    """A write that cannot be carried out; the message is the gateway's."""


# What element filters need of the built-in schemas: the sub-attributes that do
# not compare as case-insensitive strings. Every other attribute, known or
# not, does.
BOOLEAN = "boolean"
CASE_EXACT = "case-exact"
_WITH_PRIMARY = {"primary": BOOLEAN}
_META = {"resourcetype": CASE_EXACT, "location": CASE_EXACT, "version": CASE_EXACT}
_USER_ATTRIBUTES = {
    name: _WITH_PRIMARY
    for name in ("emails", "phonenumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509certificates")
} | {"meta": _META}
_GROUP_ATTRIBUTES = {"meta": _META}


@dataclass(frozen=True)
class Schema:
    """The built-in schema a document looks like: its core URN and special sub-attributes."""

    core: str
    attributes: dict[str, dict[str, str]]


def schema_of(doc: Any) -> Schema:
    """Group if `schemas` lists the Group URN, else User."""
    schemas = get_ci(doc, "schemas") if isinstance(doc, dict) else None
    if isinstance(schemas, list) and _lists(schemas, GROUP_SCHEMA):
        return Schema(GROUP_SCHEMA, _GROUP_ATTRIBUTES)
    return Schema(USER_SCHEMA, _USER_ATTRIBUTES)


def _parent_defs(schema: Schema, attr: AttrPath) -> dict[str, str]:
    """The sub-attribute definitions of a value path's attribute (`{}` if none matter)."""
    if attr.schema is not None and not eq_ignore_ascii_case(attr.schema, schema.core):
        return {}
    return schema.attributes.get(ascii_lower(attr.attr), {})


def _key_ci(map: dict, name: str) -> str | None:
    """The key under which `name` is stored, compared case-insensitively."""
    if name in map:
        return name
    lower = ascii_lower(name)
    return next((k for k in map if ascii_lower(k) == lower), None)


def get_ci(map: dict, name: str) -> Any:
    """The member `name` in any spelling; None when absent."""
    key = _key_ci(map, name)
    return None if key is None else map[key]


_ABSENT = object()


def _member(value: Any, name: str) -> Any:
    """The member `name` of an object; `_ABSENT` when there is none (`None` is JSON null)."""
    if not isinstance(value, dict):
        return _ABSENT
    key = _key_ci(value, name)
    return _ABSENT if key is None else value[key]


def _insert_ci(map: dict, name: str, value: Any) -> None:
    key = _key_ci(map, name)
    map[name if key is None else key] = value


def _remove_ci(map: dict, name: str) -> Any:
    """Remove `name` in any spelling; the removed value, or `_ABSENT`."""
    key = _key_ci(map, name)
    return _ABSENT if key is None else map.pop(key)


def _member_key(map: dict, name: str) -> str:
    """The key of member `name`, inserted as `None` when missing."""
    key = _key_ci(map, name)
    if key is None:
        key = name
        map[key] = None
    return key


def _object_member(map: dict, name: str) -> dict:
    """The object member `name`, a missing or non-object value replaced by `{}`."""
    key = _member_key(map, name)
    if not isinstance(map[key], dict):
        map[key] = {}
    return map[key]


def _array_member(map: dict, name: str) -> list:
    """The array member `name`: created when missing or null, and a lone value kept as its first element."""
    key = _member_key(map, name)
    if not isinstance(map[key], list):
        map[key] = [] if map[key] is None else [map[key]]
    return map[key]


def _lists(schemas: list, urn: str) -> bool:
    return any(isinstance(s, str) and eq_ignore_ascii_case(s, urn) for s in schemas)


def _list_schema(doc: dict, urn: str) -> None:
    schemas = get_ci(doc, "schemas")
    if isinstance(schemas, list) and not _lists(schemas, urn):
        schemas.append(urn)


def _unlist_schema(doc: dict, urn: str) -> None:
    schemas = get_ci(doc, "schemas")
    if isinstance(schemas, list):
        schemas[:] = [s for s in schemas if not (isinstance(s, str) and eq_ignore_ascii_case(s, urn))]


def _is_core_urn(urn: str) -> bool:
    return eq_ignore_ascii_case(urn[: len(CORE_SCHEMA_PREFIX)], CORE_SCHEMA_PREFIX)


def _extension_urn(attr: AttrPath) -> str | None:
    """The extension object `attr` lives in; None for top-level attributes."""
    return attr.schema if attr.schema is not None and not _is_core_urn(attr.schema) else None


def _whole_extension(doc: dict, path: ValuePath) -> str | None:
    """The URN when `path` names a whole extension object: a bare URN without filter that is
    the Enterprise User's, a member of `doc`, or listed in its `schemas`. (A bare URN parses
    as schema `...:2.0` and attribute `User`.)"""
    if path.filter is not None or path.attr.schema is None or path.attr.sub is not None:
        return None
    urn = f"{path.attr.schema}:{path.attr.attr}"
    if _is_core_urn(urn):
        return None
    schemas = get_ci(doc, "schemas")
    known = (
        eq_ignore_ascii_case(urn, ENTERPRISE_USER_SCHEMA)
        or _key_ci(doc, urn) is not None
        or (isinstance(schemas, list) and _lists(schemas, urn))
    )
    return urn if known else None


def _is_primary(element: Any) -> bool:
    """Whether an element says `"primary": true` (or Entra's `"True"`)."""
    primary = _member(element, "primary")
    return primary is True or (isinstance(primary, str) and eq_ignore_ascii_case(primary, "true"))


def _element_from_filter(filter: Filter) -> dict | None:
    """The element an `eq`-only filter describes (`type eq "work" and primary eq true` gives
    `{"type": "work", "primary": True}`); None for any other filter, including `eq null`."""
    match filter:
        case Compare(path, "eq", value) if path.schema is None and path.sub is None and value is not None:
            return {path.attr: value}
        case And(a, b):
            first_part, second_part = _element_from_filter(a), _element_from_filter(b)
            if first_part is None or second_part is None:
                return None
            return first_part | second_part
    return None


def _selected(doc: Any, path: ValuePath, schema: Schema) -> list[tuple[Any, Any]]:
    """Every `(element, value)` pair `path` selects: the element decides primacy."""
    sub = path.attr.sub
    items: list = []
    filter = None
    if isinstance(doc, dict):
        urn = _whole_extension(doc, path)
        if urn is not None:
            extension = _member(doc, urn)
            items = [] if extension is _ABSENT else [extension]
        else:
            ext = _extension_urn(path.attr)
            container = doc if ext is None else _member(doc, ext)
            top = _member(container, path.attr.attr)
            if top is _ABSENT:
                items = []
            elif path.filter is None:
                items = top if isinstance(top, list) and sub is not None else [top]
            else:
                items, filter = (top if isinstance(top, list) else [top]), path.filter
    defs = {} if filter is None else _parent_defs(schema, path.attr)
    pairs = []
    for element in items:
        if filter is not None and not _matches(filter, element, defs):
            continue
        value = element if sub is None else _member(element, sub)
        if value is not _ABSENT and value is not None:
            pairs.append((element, value))
    return pairs


def all_values(doc: Any, path: ValuePath, schema: Schema) -> list:
    """Every value `path` selects in `doc`, in document order."""
    return [value for _, value in _selected(doc, path, schema)]


def first(doc: Any, path: ValuePath, schema: Schema) -> Any:
    """The one value `path` selects (the primary matching element's, else the first's); None if none."""
    candidates = _selected(doc, path, schema)
    if not candidates:
        return None
    return next((value for element, value in candidates if _is_primary(element)), candidates[0][1])


def _target_index(items: list, accept: Callable[[Any], bool]) -> int | None:
    """The index of the element a write goes to: the primary object element accepted, else the first."""
    candidates = [i for i, e in enumerate(items) if isinstance(e, dict) and accept(e)]
    if not candidates:
        return None
    return next((i for i in candidates if _is_primary(items[i])), candidates[0])


def _set_sub(holder: dict | list, key: str | int, sub: str, value: Any) -> None:
    """Set `sub` on the complex value at `holder[key]`, replacing anything that is not an object."""
    if isinstance(holder[key], dict):
        _insert_ci(holder[key], sub, value)
    else:
        holder[key] = {sub: value}


def set_value(doc: Any, path: ValuePath, value: Any, schema: Schema) -> None:
    """Set the value at `path` (see the rules above). Raises WriteError."""
    if not isinstance(doc, dict):
        raise WriteError("the document is not a JSON object")
    urn = _whole_extension(doc, path)
    if urn is not None:
        _list_schema(doc, urn)
        _insert_ci(doc, urn, value)
        return
    ext = _extension_urn(path.attr)
    if ext is not None:
        _list_schema(doc, ext)
    container = doc if ext is None else _object_member(doc, ext)
    attr, sub = path.attr.attr, path.attr.sub
    if path.filter is None:
        if sub is None:
            _insert_ci(container, attr, value)
            return
        key = _member_key(container, attr)
        items = container[key]
        if not isinstance(items, list):
            _set_sub(container, key, sub, value)
            return
        index = _target_index(items, lambda _: True)
        if index is None:
            items.append({})
            index = len(items) - 1
        _set_sub(items, index, sub, value)
        return
    defs = _parent_defs(schema, path.attr)
    items = _array_member(container, attr)
    index = _target_index(items, lambda e: _matches(path.filter, e, defs))
    if index is not None:
        if sub is None:
            items[index] = value
        else:
            _set_sub(items, index, sub, value)
        return
    element = _element_from_filter(path.filter)
    if element is None:
        raise WriteError(
            f"no element of '{attr}' matches [{show_filter(path.filter)}], "
            "and the filter is not a list of `eq` terms to build one from"
        )
    if sub is not None:
        element[sub] = value
    elif isinstance(value, dict):
        element |= value
    else:
        element = value
    items.append(element)


def remove(doc: Any, path: ValuePath, schema: Schema) -> int:
    """Remove the values at `path`; returns how many non-null values went."""
    if not isinstance(doc, dict):
        return 0

    def counted(removed: Any) -> int:
        return 0 if removed is _ABSENT or removed is None else 1

    urn = _whole_extension(doc, path)
    if urn is not None:
        _unlist_schema(doc, urn)
        return counted(_remove_ci(doc, urn))
    ext = _extension_urn(path.attr)
    container = doc if ext is None else _member(doc, ext)
    if not isinstance(container, dict):
        return 0
    attr, sub = path.attr.attr, path.attr.sub
    defs = _parent_defs(schema, path.attr)

    def matching(element: Any) -> bool:
        return path.filter is None or _matches(path.filter, element, defs)

    top = _member(container, attr)
    if sub is None and path.filter is None:
        return counted(_remove_ci(container, attr))
    if isinstance(top, list) and sub is None:
        kept = [e for e in top if not matching(e)]
        removed = len(top) - len(kept)
        top[:] = kept
        if not top:
            _remove_ci(container, attr)
        return removed
    if isinstance(top, list):
        return sum(counted(_remove_ci(e, sub)) for e in top if isinstance(e, dict) and matching(e))
    if isinstance(top, dict) and matching(top):
        return counted(_remove_ci(container, attr) if sub is None else _remove_ci(top, sub))
    return 0


# Element filters: `filter` against one element of a multi-valued attribute,
# its paths relative to the element; `defs` are the element's sub-attributes.


def _matches(filter: Filter, element: Any, defs: dict[str, str]) -> bool:
    match filter:
        case Compare(path, op, literal):
            kind = defs.get(ascii_lower(path.attr)) if path.sub is None else None
            return _compare(op, literal, _member(element, path.attr), path.sub, kind)
        case Present(path):
            top = _member(element, path.attr)
            if top is _ABSENT:
                return False
            return _is_present(top) if path.sub is None else _any_leaf(top, path.sub, _is_present)
        case And(a, b):
            return _matches(a, element, defs) and _matches(b, element, defs)
        case Or(a, b):
            return _matches(a, element, defs) or _matches(b, element, defs)
        case Not(inner):
            return not _matches(inner, element, defs)
    raise TypeError(f"not a filter: {filter!r}")


def _any_item(value: Any, f: Callable[[Any], bool]) -> bool:
    """`f` on each element of an array, or on a lone value."""
    return any(f(item) for item in value) if isinstance(value, list) else f(value)


def _any_leaf(top: Any, sub: str | None, f: Callable[[Any], bool]) -> bool:
    """`f` on each value a path reaches below its top-level value: with a sub-attribute, that
    member of each element; without one, each element, objects read through their `value`."""

    def leaf(element: Any) -> bool:
        if sub is not None:
            value = _member(element, sub)
            return value is not _ABSENT and _any_item(value, f)
        if isinstance(element, dict):
            value = _member(element, "value")
            return value is not _ABSENT and f(value)
        return f(element)

    return _any_item(top, leaf)


def _is_present(value: Any) -> bool:
    """`pr`: not null, not an empty string, array or object."""
    if value is None:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, list):
        return any(_is_present(v) for v in value)
    if isinstance(value, dict):
        return any(_is_present(v) for v in value.values())
    return True


def _compare(op: str, literal: Any, top: Any, sub: str | None, kind: str | None) -> bool:
    """A comparison over every value the path reaches: `ne` is `not eq`, `eq null` means no value."""

    def any_value(f: Callable[[Any], bool]) -> bool:
        return top is not _ABSENT and _any_leaf(top, sub, f)

    if op == "ne":
        return not _compare("eq", literal, top, sub, kind)
    if op == "eq" and literal is None:
        return not any_value(lambda v: v is not None)
    if literal is None:
        return False
    return any_value(lambda v: v is not None and _compare_one(op, v, literal, kind))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare_one(op: str, actual: Any, literal: Any, kind: str | None) -> bool:
    if kind == BOOLEAN or isinstance(actual, bool) or isinstance(literal, bool):
        a = _as_bool(actual)
        return op == "eq" and a is not None and a == _as_bool(literal)
    if _is_number(actual) or _is_number(literal):
        return _is_number(actual) and _is_number(literal) and _accepts(op, (actual > literal) - (actual < literal))
    if not isinstance(actual, str) or not isinstance(literal, str):
        return False
    a, b = (actual, literal) if kind == CASE_EXACT else (actual.lower(), literal.lower())
    if op == "co":
        return b in a
    if op == "sw":
        return a.startswith(b)
    if op == "ew":
        return a.endswith(b)
    return _accepts(op, (a > b) - (a < b))


def _as_bool(value: Any) -> bool | None:
    """A JSON boolean, or the strings "true"/"false" in any case (Entra sends `"False"`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and eq_ignore_ascii_case(value, "true"):
        return True
    if isinstance(value, str) and eq_ignore_ascii_case(value, "false"):
        return False
    return None


def _accepts(op: str, order: int) -> bool:
    """Whether an ordering (-1, 0, 1) satisfies an operator (never `co`, `sw` or `ew`)."""
    return {"eq": order == 0, "ne": order != 0, "gt": order > 0, "ge": order >= 0, "lt": order < 0, "le": order <= 0}.get(
        op, False
    )
