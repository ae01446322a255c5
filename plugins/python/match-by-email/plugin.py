"""`match-by-email` (match-keys): the keys to find a user's target account, in order:
`externalId`, then the work email (`emails.value`: the primary work email, else the
first one), then `userName`. Absent or blank values give no key. Groups are matched by
`externalId`, then `displayName`. No configuration. The Python port of
plugins/match-by-email.
"""

from scimgate_sdk import Context, MatchKey, Resource

WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Rust's `str::trim` strips Unicode White_Space (`str.strip()` also strips U+001C..U+001F)."""


reads = ["externalId", "displayName", "emails", "userName"]
"""Only these cross into the component (see `reads` in docs/plugins.md)."""


def match_keys(doc: Resource, ctx: Context, config: object) -> list[MatchKey]:
    keys = []
    if external_id := non_blank(doc.get_str("externalId")):
        keys.append(MatchKey("externalId", external_id))
    if ctx.is_group():
        if name := non_blank(doc.get_str("displayName")):
            keys.append(MatchKey("displayName", name))
        return keys
    work_email = non_blank(doc.get_str('emails[type eq "work" and primary eq true].value')) or next(
        filter(None, map(non_blank, doc.get_all('emails[type eq "work"].value'))), None
    )
    if work_email:
        keys.append(MatchKey("emails.value", work_email))
    if user_name := non_blank(doc.get_str("userName")):
        keys.append(MatchKey("userName", user_name))
    return keys


def non_blank(value: object) -> str | None:
    """The trimmed string, unless it is blank or not a string."""
    trimmed = value.strip(WHITE_SPACE) if isinstance(value, str) else ""
    return trimmed or None
