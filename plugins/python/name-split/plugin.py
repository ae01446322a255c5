"""`name-split` (transform-in): fill in a user's `name` from what was sent. The Python
port of plugins/name-split.

- When neither `name.givenName` nor `name.familyName` is sent but `displayName` is,
  they are derived from it: `"Last, First"` splits at the comma; otherwise the last
  word is the family name and the words before it the given name (`"Mary Ann Smith"`
  -> `Mary Ann` / `Smith`). A single word becomes the given name.
- When `name.formatted` is not sent, it is composed from
  `honorificPrefix givenName middleName familyName honorificSuffix`.

Values that were sent are never overwritten. Groups pass through. No configuration.
"""

import re

from scimgate_sdk import Context, Resource

WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Rust's `str::trim` and `split_whitespace` use Unicode White_Space (`str.strip()` and
`str.split()` also take U+001C..U+001F)."""
WORD_BREAK = re.compile(f"[{WHITE_SPACE}]+")

PARTS = ("honorificPrefix", "givenName", "middleName", "familyName", "honorificSuffix")


reads = ["name", "displayName"]
"""Only these cross into the component (see `reads` in docs/plugins.md)."""


def transform_in(doc: Resource, ctx: Context, config: object) -> Resource:
    if not ctx.is_user():
        return doc

    def present(path: str) -> bool:
        return (doc.get_str(path) or "").strip(WHITE_SPACE) != ""

    if not present("name.givenName") and not present("name.familyName"):
        display = doc.get_str("displayName")
        split = None if display is None else split_display_name(display)
        if split is not None:
            given, family = split
            doc.set("name.givenName", given)
            if family is not None:
                doc.set("name.familyName", family)
    if not present("name.formatted"):
        parts = [(doc.get_str(f"name.{sub}") or "").strip(WHITE_SPACE) for sub in PARTS]
        if parts := [part for part in parts if part]:
            doc.set("name.formatted", " ".join(parts))
    return doc


def split_display_name(display: str) -> tuple[str, str | None] | None:
    """`(given, family)` from a display name (`family` may be None); None when it is blank."""
    family, comma, given = display.partition(",")
    if comma and family.strip(WHITE_SPACE) and given.strip(WHITE_SPACE):
        return given.strip(WHITE_SPACE), family.strip(WHITE_SPACE)
    words = [word for word in WORD_BREAK.split(display) if word]
    if not words:
        return None
    if len(words) == 1:
        return words[0], None
    return " ".join(words[:-1]), words[-1]
