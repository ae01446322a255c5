"""`department-scope` (scope): only users of the configured departments and user types
are provisioned. The Python port of plugins/department-scope.

Configuration (both lists optional, compared case-insensitively):

    { "departments": ["Engineering", "Sales"], "user_types": ["Employee"] }

A user is in scope when their Enterprise User `department` is one of `departments` (if
that list is configured) and their `userType` is one of `user_types` (if configured). A
user missing a configured attribute is out of scope. Groups are always in scope; so is
everyone when neither list is configured.
"""

import unicodedata

from scimgate_sdk import ENTERPRISE_USER_SCHEMA, Context, Failed, In, Out, Resource, ScopeDecision

WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Rust's `str::trim` strips Unicode White_Space (`str.strip()` also strips U+001C..U+001F)."""
FIELDS = ("departments", "user_types")


reads = [ENTERPRISE_USER_SCHEMA, "userType"]
"""Only these cross into the component (see `reads` in docs/plugins.md)."""


def scope(doc: Resource, ctx: Context, config: object) -> ScopeDecision:
    lists = read_config(config)
    if not ctx.is_user():
        return In()
    checks = [
        ("department", f"{ENTERPRISE_USER_SCHEMA}:department", lists["departments"]),
        ("userType", "userType", lists["user_types"]),
    ]
    for label, path, allowed in checks:
        if allowed is None:
            continue
        value = (doc.get_str(path) or "").strip(WHITE_SPACE)
        if not value:
            return Out(f"the user has no {label}")
        if not any(ascii_lower(a.strip(WHITE_SPACE)) == ascii_lower(value) for a in allowed):
            return Out(f"{label} {quote(value)} is not one of [{', '.join(map(quote, allowed))}]")
    return In()


def read_config(config: object) -> dict[str, list[str] | None]:
    """The configuration as the Rust plugin reads it (serde, `deny_unknown_fields`): null
    is `{}`, both lists optional, and serde's messages for what does not fit."""
    lists: dict[str, list[str] | None] = {field: None for field in FIELDS}
    if config is None:
        return lists
    if not isinstance(config, dict):
        raise invalid(f"invalid type: {unexpected(config)}, expected struct Config")
    for field, value in config.items():
        if field not in FIELDS:
            raise invalid(f"unknown field `{field}`, expected `departments` or `user_types`")
        if value is None:
            continue
        if not isinstance(value, list):
            raise invalid(f"invalid type: {unexpected(value)}, expected a sequence")
        not_strings = [item for item in value if not isinstance(item, str)]
        if not_strings:
            raise invalid(f"invalid type: {unexpected(not_strings[0])}, expected a string")
        lists[field] = value
    return lists


def invalid(detail: str) -> Failed:
    return Failed(f"invalid plugin configuration: {detail}")


def unexpected(value: object) -> str:
    """A JSON value as serde_json's messages name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {quote(value)}"
    return "sequence" if isinstance(value, list) else "map"


ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\0": "\\0", "\\": "\\\\", '"': '\\"'}
ESCAPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs", "Mn", "Me"}


def quote(s: str) -> str:
    """A string as Rust's `{:?}` shows it: quoted, with `\\t \\r \\n \\0 \\\\ \\"` and
    `\\u{...}` for what is not printable (controls, format characters, separators but
    the space, surrogates, private use, unassigned) and for combining marks."""

    def shown(c: str) -> str:
        if c in ESCAPES:
            return ESCAPES[c]
        if c != " " and unicodedata.category(c) in ESCAPED_CATEGORIES:
            return f"\\u{{{ord(c):x}}}"
        return c

    return '"' + "".join(map(shown, s)) + '"'


def ascii_lower(s: str) -> str:
    """ASCII-only lower case, as Rust's `eq_ignore_ascii_case` compares."""
    return s.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")
