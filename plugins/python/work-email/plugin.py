"""`work-email` (transform-in): a user's `userName` becomes their primary work email,
lower-cased. The Python port of plugins/work-email.

The work email is the `emails` element of type `work` marked `primary`, or else the
first work email. A user without one is rejected, since the target could not identify
them. Groups pass through unchanged. No configuration.
"""

from scimgate_sdk import Context, Rejected, Resource, log

WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Rust's `str::trim` strips Unicode White_Space (`str.strip()` also strips U+001C..U+001F)."""


reads = ["userName", "emails"]
"""Only these cross into the component (see `reads` in docs/plugins.md)."""


def transform_in(doc: Resource, ctx: Context, config: object) -> Resource:
    if not ctx.is_user():
        return doc
    email = work_email(doc)
    if email is None:
        raise Rejected(
            'work-email: the user has no work email (an emails entry with type "work"), '
            "so no userName can be derived from it"
        )
    user_name = email.strip(WHITE_SPACE).lower()
    if doc.get_str("userName") != user_name:
        log.debug(f"userName set from the work email: {user_name}")
        doc.set("userName", user_name)
    return doc


def work_email(doc: Resource) -> str | None:
    """The primary work email, else the first work email with a non-blank value."""

    def usable(value: object) -> bool:
        return isinstance(value, str) and value.strip(WHITE_SPACE) != ""

    primary = doc.get_str('emails[type eq "work" and primary eq true].value')
    if usable(primary):
        return primary
    return next((v for v in doc.get_all('emails[type eq "work"].value') if usable(v)), None)
