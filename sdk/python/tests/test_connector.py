"""Connector operations run as the component runs them: JSON in and out, errors as
the connector-error variants, bugs as failures, HTTP answered by the test and the
requests kept."""

import json
import types
import unittest

from scimgate_sdk import Busy, Conflict, ConnectorError, Failed, MatchKey, Rejected, Resource, http
from scimgate_sdk._connector import plugin_kind
from scimgate_sdk.http import HttpError, Request, Response
from scimgate_sdk.testing import (
    call_connector,
    canned_http,
    mock_http,
    take_requests,
    timeout,
    transport,
)

USERS = "https://hr.example/users"
CONFIG = {"base": "https://hr.example"}


def create(doc, ctx, config):
    if not doc.get_str("userName"):
        raise Rejected("no userName")
    answer = http.send("POST", f"{config['base']}/users", [("content-type", "application/json")], doc.to_json())
    if answer.status == 409:
        raise Conflict(f"taken: {doc.get_str('userName')}")
    if answer.status == 429:
        raise Busy(int(answer.header("Retry-After") or 1))
    if answer.status != 201:
        raise Failed(f"answered {answer.status}")
    doc.set("id", json.loads(answer.body)["id"])
    return doc


def get(id, ctx, config):
    if id == "bug":
        return {}["missing"]
    if id == "list":
        return []
    answer = http.send("GET", f"{config['base']}/users/{id}")
    return None if answer.status == 404 else {"id": id, "resourceType": ctx.resource_type, **json.loads(answer.body)}


def update(id, doc, ctx, config):
    return None if id == "gone" else Resource({**doc.value, "id": id})


def delete(id, ctx, config):
    http.send("DELETE", f"{config['base']}/users/{id}")


def find(key, ctx, config):
    return {"id": "1", "userName": key.value} if key.attribute == "userName" else None


def module(**functions) -> types.ModuleType:
    plugin = types.ModuleType("plugin")
    plugin.__dict__.update(functions)
    return plugin


PLUGIN = module(create=create, get=get, update=update, delete=delete, find=find)


def error(f):
    try:
        f()
    except ConnectorError as e:
        return (e.kind, e.seconds if isinstance(e, Busy) else e.message)
    raise AssertionError("no error")


class Connectors(unittest.TestCase):
    def tearDown(self):
        mock_http(None)
        take_requests()

    def test_a_module_is_hooks_or_a_connector_and_a_connector_has_all_five(self):
        self.assertIsNone(plugin_kind(PLUGIN))
        self.assertEqual([h.function for h in plugin_kind(module(scope=lambda *_: None))], ["scope"])
        with self.assertRaisesRegex(ValueError, r"^defines hooks \(transform_in\) and connector operations \(create, "):
            plugin_kind(module(transform_in=lambda *_: None, **PLUGIN.__dict__))
        with self.assertRaises(ValueError) as raised:
            plugin_kind(module(create=create, find=find))
        self.assertEqual(
            str(raised.exception),
            "is a connector (it defines create, find) but does not define get, update, delete: "
            "a connector defines all of create, get, update, delete, find",
        )
        with self.assertRaisesRegex(ValueError, r"^defines no hook \(scope, .*\) and no connector operations"):
            plugin_kind(module())

    def test_a_declaration_of_what_the_hooks_read_is_one_more_export(self):
        hooks = plugin_kind(module(transform_in=lambda *_: None, reads=["userName", "emails"]))
        self.assertEqual([h.export for h in hooks], ["TransformInHook", "Attributes"])
        for bad in ("userName", [""], [1]):
            with self.assertRaisesRegex(ValueError, r"`reads`, which must be a list"):
                plugin_kind(module(scope=lambda *_: None, reads=bad))
        with self.assertRaisesRegex(ValueError, r"^defines no hook"):
            plugin_kind(module(reads=["userName"]))

    def test_operations_answer_documents_none_and_keep_the_requests(self):
        def handler(request: Request) -> Response:
            return Response(201, [], '{"id":"7"}') if request.method == "POST" else Response(200, body='{"active":true}')

        mock_http(handler)
        self.assertEqual(call_connector(PLUGIN, "create", doc={"userName": "ann"}, config=CONFIG), {"userName": "ann", "id": "7"})
        self.assertEqual(
            call_connector(PLUGIN, "get", id="7", resource_type="Group", config=CONFIG),
            {"id": "7", "resourceType": "Group", "active": True},
        )
        self.assertEqual(
            take_requests(),
            [
                Request("POST", USERS, [("content-type", "application/json")], '{"userName":"ann"}'),
                Request("GET", f"{USERS}/7", [], None),
            ],
        )
        self.assertEqual(take_requests(), [])
        self.assertEqual(call_connector(PLUGIN, "update", id="7", doc={"userName": "b"}), {"userName": "b", "id": "7"})
        self.assertIsNone(call_connector(PLUGIN, "update", id="gone", doc={}))
        self.assertIsNone(call_connector(PLUGIN, "delete", id="7", config=CONFIG))
        self.assertEqual([f"{r.method} {r.url}" for r in take_requests()], [f"DELETE {USERS}/7"])
        self.assertEqual(call_connector(PLUGIN, "find", key=MatchKey("userName", "ann")), {"id": "1", "userName": "ann"})
        self.assertIsNone(call_connector(PLUGIN, "find", key={"attribute": "externalId", "value": "x"}))

    def test_errors_the_four_kinds_and_bugs_and_bad_answers_as_failures(self):
        mock_http(
            canned_http(
                [
                    {"method": "POST", "url": USERS, "status": 409},
                    {"method": "post", "url": f"{USERS}*", "status": 429, "headers": [["retry-after", "30"]]},
                    {"url": USERS, "status": 500},
                ]
            )
        )

        def create_ann():
            return call_connector(PLUGIN, "create", doc={"userName": "ann"}, config=CONFIG)

        self.assertEqual(error(create_ann), ("conflict", "taken: ann"))
        self.assertEqual(error(create_ann), ("busy", 30))
        self.assertEqual(error(create_ann), ("failed", "answered 500"))
        self.assertEqual(
            error(create_ann),
            ("failed", f"create raised HttpError: POST {USERS}: no canned answer for POST {USERS}"),
        )
        self.assertEqual(error(lambda: call_connector(PLUGIN, "create", doc={})), ("rejected", "no userName"))
        mock_http(None)
        self.assertEqual(error(lambda: call_connector(PLUGIN, "get", id="bug")), ("failed", "get raised KeyError: 'missing'"))
        self.assertEqual(
            error(lambda: call_connector(PLUGIN, "get", id="list")),
            ("failed", "get must return the document (a Resource or a dict) or None"),
        )
        no_doc = module(**{**PLUGIN.__dict__, "create": lambda *_: None})
        self.assertEqual(
            error(lambda: call_connector(no_doc, "create", doc={})),
            ("failed", "create must return the document (a Resource or a dict)"),
        )

        def busy(*_):
            raise Busy(1.5)

        self.assertEqual(
            error(lambda: call_connector(module(**{**PLUGIN.__dict__, "create": busy}), "create", doc={})),
            ("failed", "Busy(seconds) takes a whole number from 0 to 4294967295, not 1.5"),
        )

        def base(*_):
            raise ConnectorError("plain")

        self.assertEqual(error(lambda: call_connector(module(**{**PLUGIN.__dict__, "create": base}), "create", doc={})), ("failed", "plain"))
        self.assertEqual(
            error(lambda: call_connector(PLUGIN, "get", id="1", config=CONFIG)),
            ("failed", "get raised HttpError: GET https://hr.example/users/1: no HTTP outside the gateway (set one with testing.mock_http)"),
        )
        self.assertEqual(error(lambda: call_connector(PLUGIN, "delete", id="1", config=CONFIG))[0], "failed")

    def test_a_handler_raises_timeout_or_transport_for_no_answer_an_http_error_naming_the_request(self):
        def caught(exception):
            def handler(request):
                raise exception

            mock_http(handler)
            with self.assertRaises(HttpError) as raised:
                http.send("GET", USERS)
            return raised.exception.message

        self.assertEqual(caught(timeout()), f"GET {USERS}: no answer in time")
        self.assertEqual(caught(transport("connection refused")), f"GET {USERS}: connection refused")
        # A handler may raise an HttpError of its own; it goes through as it is.
        self.assertEqual(caught(HttpError("mine")), "mine")

    def test_canned_answers_in_order_by_method_and_url_prefix_repeated(self):
        answer = canned_http(
            [
                {"method": "GET", "url": "https://x.example/a", "status": 201, "body": {"id": 1, "n": "é"}},
                {"url": "https://x.example/*", "status": 404, "repeat": True},
            ]
        )
        self.assertEqual(answer(Request("get", "https://x.example/a")), Response(201, [], '{"id":1,"n":"é"}'))
        self.assertEqual(answer(Request("GET", "https://x.example/a")), Response(404, [], ""))
        self.assertEqual(answer(Request("PUT", "https://x.example/b")).status, 404)
        mock_http(answer)
        with self.assertRaises(HttpError) as raised:
            http.send("GET", "https://y.example/")
        self.assertEqual(raised.exception.message, "GET https://y.example/: no canned answer for GET https://y.example/")
        with self.assertRaisesRegex(ValueError, "unknown field code"):
            canned_http([{"url": "x", "code": 1}])


if __name__ == "__main__":
    unittest.main()
