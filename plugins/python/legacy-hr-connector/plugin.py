"""`legacy-hr-connector` (a connector): SCIM users and groups as `examples/legacy-hr`'s
employees and teams. The Python port of plugins/legacy-hr-connector: the same
requests, answers and messages.

| SCIM (what the pipeline produced)                | legacy-hr employee         |
|--------------------------------------------------|----------------------------|
| work email (else primary email, else `userName`) | `mail`                     |
| `name.givenName`, `name.familyName`              | `first`, `last` (required) |
| `displayName`, `title`                           | `display`, `title`         |
| enterprise `department`, `employeeNumber`        | `dept`, `emp_no`           |
| `active`                                         | `status`: `"A"` / `"T"`    |

Groups are teams: `displayName` is `name`, `members` (the target's employee ids, as
the gateway sends them) are the team's member list. The API has no PATCH: the gateway
sends full documents, sent here as `PUT`. Its answers map back: `409 DUPLICATE` is a
conflict (the gateway then finds the employee by mail and links it), `400`/`422` a
refusal, `429`/`503` a request to wait, anything else a failure.

Config (JSON): `{"base_url": "http://host:port"}`; the gateway fills it from the
tenant's upstream URL. The API key is added by the host.

Documents are read as JSON, member names exactly as the Rust connector reads them
(not with SCIM paths, which ignore case).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from scimgate_sdk import Busy, Conflict, Context, Failed, MatchKey, Rejected, Resource, http
from scimgate_sdk.http import HttpError

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""Rust's `str::trim` strips Unicode White_Space (`str.strip()` also strips U+001C..U+001F)."""

SIGNED = re.compile(r"[+-]?[0-9]+")
UNSIGNED = re.compile(r"\+?[0-9]+")


@dataclass(frozen=True)
class Kind:
    collection: str
    wrapper: str
    """The key of the one object an answer wraps (`{"employee": {...}}`)."""


USER = Kind("/api/v1/employees", "employee")
GROUP = Kind("/api/v1/teams", "team")


@dataclass(frozen=True)
class Call:
    """An HTTP request the connector wants sent."""

    method: str
    path: str
    body: Any = None


def kind_of(ctx: Context) -> Kind:
    """Users or groups: anything but `Group` (in any case) is a user."""
    return GROUP if ctx.is_group() else USER


# ---------------------------------------------------------------------------
# The connector operations.


def create(doc: Resource, ctx: Context, config: Any) -> dict:
    kind = kind_of(ctx)
    answer = send(config, Call("POST", kind.collection, to_legacy(kind, doc.value)))
    if answer is None:
        raise Failed("legacy-hr answered a create without the new resource")
    return to_scim(kind, answer)


def get(id: str, ctx: Context, config: Any) -> dict | None:
    kind = kind_of(ctx)
    number = legacy_id(id)
    if number is None:
        return None
    answer = send(config, Call("GET", f"{kind.collection}/{number}"))
    return None if answer is None else to_scim(kind, answer)


def update(id: str, doc: Resource, ctx: Context, config: Any) -> dict | None:
    kind = kind_of(ctx)
    path = object_path(kind, id)
    answer = send(config, Call("PUT", path, to_legacy(kind, doc.value)))
    return None if answer is None else to_scim(kind, answer)


def delete(id: str, ctx: Context, config: Any) -> None:
    kind = kind_of(ctx)
    number = legacy_id(id)
    if number is not None:
        send(config, Call("DELETE", f"{kind.collection}/{number}"))


def find(key: MatchKey, ctx: Context, config: Any) -> dict | None:
    kind = kind_of(ctx)
    call = find_call(kind, key.attribute, key.value)
    if call is None:
        return None
    answer = send(config, call)
    return None if answer is None else first_of_list(kind, answer)


# ---------------------------------------------------------------------------
# SCIM to legacy-hr.


def to_legacy(kind: Kind, doc: Any) -> dict:
    """The request body legacy-hr wants for a SCIM document."""
    return employee(doc) if kind is USER else team(doc)


def employee(doc: Any) -> dict:
    def text(value: Any) -> str | None:
        return value.strip(WHITE_SPACE) or None if isinstance(value, str) else None

    address = mail(doc)
    if address is None:
        raise Rejected("legacy-hr needs a mail: the user has no email and no userName")
    name = member(doc, "name")
    first, last = text(member(name, "givenName")), text(member(name, "familyName"))
    if first is None or last is None:
        raise Rejected("legacy-hr needs name.givenName and name.familyName")
    enterprise = member(doc, ENTERPRISE)
    active = member(doc, "active")
    if isinstance(active, bool):
        is_active = active
    elif isinstance(active, str):
        is_active = ascii_lower(active) != "false"
    else:
        is_active = True
    return {
        "mail": address,
        "first": first,
        "last": last,
        "display": text(member(doc, "displayName")),
        "title": text(member(doc, "title")),
        "dept": text(member(enterprise, "department")),
        "emp_no": text(member(enterprise, "employeeNumber")),
        "status": "A" if is_active else "T",
    }


def mail(doc: Any) -> str | None:
    """The work email, else the primary one, else the first, else `userName`."""
    emails = member(doc, "emails")
    emails = emails if isinstance(emails, list) else []

    def value(e: Any) -> str | None:
        v = member(e, "value")
        return v if isinstance(v, str) and "@" in v else None

    def first_value(candidates: list) -> str | None:
        return next((v for v in map(value, candidates) if v is not None), None)

    found = (
        first_value([e for e in emails if _same(member(e, "type"), "work")])
        or first_value([e for e in emails if member(e, "primary") is True])
        or first_value(emails)
    )
    if found is not None:
        return found
    user_name = member(doc, "userName")
    return user_name if isinstance(user_name, str) and "@" in user_name else None


def team(doc: Any) -> dict:
    name = member(doc, "displayName")
    if not isinstance(name, str) or name.strip(WHITE_SPACE) == "":
        raise Rejected("legacy-hr needs a team name (displayName)")
    members: list[int] = []
    listed = member(doc, "members")
    for m in listed if isinstance(listed, list) else []:
        id = parse_integer(member(m, "value"), SIGNED, -(2**63), 2**63 - 1)
        if id is None:
            raise Rejected(f"legacy-hr team members are employee ids, not {json_text(m)}")
        if id not in members:
            members.append(id)
    return {"name": name, "members": members}


# ---------------------------------------------------------------------------
# legacy-hr to SCIM.


def to_scim(kind: Kind, answer: Any) -> dict:
    """The SCIM document of a legacy-hr object (the wrapped or bare JSON)."""
    obj = member(answer, kind.wrapper, answer)
    id = member(obj, "id")
    if not is_number(id):
        raise Failed(f"legacy-hr's answer has no {kind.wrapper} id")

    def field(key: str) -> Any:
        return member(obj, key)

    if kind is GROUP:
        listed = field("members")
        members = [{"value": str(m)} for m in (listed if isinstance(listed, list) else []) if is_i64(m)]
        return {"schemas": [GROUP_SCHEMA], "id": number_text(id), "displayName": field("name"), "members": members}
    doc: dict[str, Any] = {"schemas": [USER_SCHEMA, ENTERPRISE], "id": number_text(id)}
    address = field("mail")
    if address is not None:
        doc["userName"] = address
        doc["emails"] = [{"value": address, "type": "work", "primary": True}]
    doc["name"] = {"givenName": field("first"), "familyName": field("last")}
    if field("display") is not None:
        doc["displayName"] = field("display")
    if field("title") is not None:
        doc["title"] = field("title")
    doc["active"] = _same(member(obj, "status"), "A")
    enterprise = {}
    if field("dept") is not None:
        enterprise["department"] = field("dept")
    if field("emp_no") is not None:
        enterprise["employeeNumber"] = field("emp_no")
    doc[ENTERPRISE] = enterprise
    return doc


def first_of_list(kind: Kind, answer: Any) -> dict | None:
    """The first object of a paged list answer."""
    items = member(answer, "data")
    if not isinstance(items, list):
        raise Failed("legacy-hr answered a list without data")
    return to_scim(kind, items[0]) if items else None


# ---------------------------------------------------------------------------
# Requests and answers.


def find_call(kind: Kind, attribute: str, value: str) -> Call | None:
    """The query that finds a resource by a SCIM attribute legacy-hr can search: users
    by mail (`userName`, `emails`), groups by name. None for any other attribute."""
    a = ascii_lower(attribute)
    if kind is USER and (a in ("username", "emails", "emails.value") or a.startswith("emails[")):
        param = "mail"
    elif kind is GROUP and a == "displayname":
        param = "name"
    else:
        return None
    return Call("GET", f"{kind.collection}?{param}={encode(value)}")


def legacy_id(id: str) -> int | None:
    """An id is legacy-hr's integer (a u64); None for anything else."""
    return parse_integer(id, UNSIGNED, 0, 2**64 - 1)


def object_path(kind: Kind, id: str) -> str:
    number = legacy_id(id)
    if number is None:
        raise Rejected(f"'{id}' is not a legacy-hr id")
    return f"{kind.collection}/{number}"


def send(config: Any, call: Call) -> Any:
    """Send a call to `config.base_url`: the answer's JSON, or None for a 404 (or a
    204). Any other answer but 200 and 201 raises its failure."""
    base_url = member(config, "base_url")
    base = (base_url if isinstance(base_url, str) else "").rstrip("/")
    headers = [("accept", "application/json")]
    if call.body is not None:
        headers.append(("content-type", "application/json"))
    body = None if call.body is None else json_text(call.body)
    try:
        response = http.send(call.method, f"{base}{call.path}", headers, body)
    except HttpError as e:
        raise Failed(f"legacy-hr: {e.message}") from None
    if response.status in (200, 201):
        try:
            return parse_json(response.body)
        except ValueError as e:
            raise Failed(f"legacy-hr answered malformed JSON: {e}") from None
    if response.status in (204, 404):
        return None
    retry_after = next((v for k, v in response.headers if ascii_lower(k) == "retry-after"), None)
    raise failure(response.status, response.body, retry_after)


def failure(status: int, body: str, retry_after: str | None) -> Exception:
    """What a non-2xx answer means. `retry_after` is the header's value."""
    try:
        parsed = parse_json(body)
    except ValueError:
        parsed = None
    text = member(member(parsed, "error"), "message")
    message = f"legacy-hr: {text}" if isinstance(text, str) else f"legacy-hr answered {status}"
    if status == 409:
        return Conflict(message)
    if status in (400, 422):
        return Rejected(message)
    if status in (429, 503):
        seconds = None if retry_after is None else parse_integer(retry_after.strip(WHITE_SPACE), UNSIGNED, 0, 2**32 - 1)
        return Busy(1 if seconds is None else seconds)
    return Failed(message)


# ---------------------------------------------------------------------------
# Rust's rules, where Python's differ.


def member(value: Any, name: str, default: Any = None) -> Any:
    """`value[name]` when `value` is a JSON object that has it (serde_json's
    `Value::get`), else `default`. A JSON null reads as None either way."""
    return value.get(name, default) if isinstance(value, dict) else default


def _same(value: Any, text: str) -> bool:
    """Whether a JSON value is that string."""
    return isinstance(value, str) and value == text


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_i64(value: Any) -> bool:
    """serde_json's `as_i64`: an integer (not a float) in i64's range."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def number_text(value: int | float) -> str:
    """A JSON number as serde_json writes it."""
    return str(value) if isinstance(value, int) else json_text(value)


def parse_integer(text: Any, pattern: re.Pattern, low: int, high: int) -> int | None:
    """Rust's integer parsing (an optional sign, ASCII digits) of a value in [low, high]."""
    if not isinstance(text, str) or not pattern.fullmatch(text):
        return None
    n = int(text)
    return n if low <= n <= high else None


def parse_json(text: str) -> Any:
    """JSON as serde_json reads it: no NaN or Infinity."""

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=constant)


def json_text(value: Any) -> str:
    """JSON as serde_json writes it: compact, non-ASCII as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(value: str) -> str:
    """Percent-encode a query value (RFC 3986 unreserved characters stay)."""
    unreserved = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    return "".join(chr(b) if b in unreserved else f"%{b:02X}" for b in value.encode())


def ascii_lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)
