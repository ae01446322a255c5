"""Hooks run as the component runs them: JSON in and out, HookErrors, bugs as failures,
logs to the host (kept natively), HTTP."""

import types
import unittest

from scimgate_sdk import Failed, HookError, In, MatchKey, Out, Rejected, http, log
from scimgate_sdk.http import HttpError, Request, Response
from scimgate_sdk.testing import call, context, group_create, respond_with, take_logs, user_create


def plugin_module(**hooks) -> types.ModuleType:
    module = types.ModuleType("plugin")
    module.__dict__.update(hooks)
    return module


def scope(doc, ctx, config):
    return In() if (config or {}).get("everyone") or ctx.is_group() else Out(f"not {doc.get_str('userName')}")


def transform_in(doc, ctx, config):
    log.info(f"in {ctx.operation}")
    if doc.get("reject"):
        raise Rejected("no")
    if doc.get("bug"):
        return doc.value["missing"]
    doc.set("nickName", "n")
    return doc


def on_event(event, doc, ctx, config):
    answer = http.send("POST", "https://hooks.example/x", [("content-type", "application/json")], f'{{"event":"{event}"}}')
    log.info(f"{answer.status} {answer.body} {doc.get_str('userName')}")


PLUGIN = plugin_module(
    scope=scope,
    transform_in=transform_in,
    match_keys=lambda doc, ctx, config: [MatchKey("userName", doc.get_str("userName"))],
    on_event=on_event,
)


class Hooks(unittest.TestCase):
    def setUp(self):
        take_logs()

    def test_answers_in_the_sdk_shapes_and_logs_natively(self):
        self.assertEqual(call(PLUGIN, "transform-in", {"userName": "u"}), {"userName": "u", "nickName": "n"})
        self.assertEqual(take_logs(), [("info", "in create")])
        self.assertEqual(call(PLUGIN, "scope", {"userName": "u"}), Out("not u"))
        self.assertEqual(call(PLUGIN, "scope", {"userName": "u"}, config={"everyone": True}), In())
        self.assertEqual(call(PLUGIN, "scope", {}, ctx=group_create()), In())
        self.assertEqual(call(PLUGIN, "match-keys", {"userName": "u"}), [MatchKey("userName", "u")])

    def test_errors_rejected_failed_and_bugs_as_failures(self):
        def error(plugin, hook, doc=None, **kwargs):
            with self.assertRaises(HookError) as raised:
                call(plugin, hook, doc or {}, **kwargs)
            return raised.exception.kind, raised.exception.message

        self.assertEqual(error(PLUGIN, "transform-in", {"reject": True}), ("rejected", "no"))
        self.assertEqual(error(PLUGIN, "transform-in", {"bug": True}), ("failed", "transform-in raised KeyError: 'missing'"))
        self.assertEqual(
            error(plugin_module(scope=lambda *_: True), "scope"), ("failed", "scope must return In() or Out(reason)")
        )
        self.assertEqual(
            error(plugin_module(transform_in=lambda *_: None), "transform-in"),
            ("failed", "transform-in must return the document (a Resource or a dict)"),
        )
        self.assertEqual(
            error(plugin_module(match_keys=lambda *_: [("a", "b")]), "match-keys"),
            ("failed", "match_keys must return a list of MatchKey(attribute, value)"),
        )

    def test_http_answers_what_a_test_installed_else_refuses(self):
        with self.assertRaises(Failed) as raised:
            call(PLUGIN, "on-event", {"userName": "u"})
        self.assertEqual(
            raised.exception.message,
            "on-event raised HttpError: POST https://hooks.example/x: no HTTP outside the gateway (set one with testing.mock_http)",
        )
        seen = []

        def handler(request: Request) -> Response:
            seen.append(request)
            return Response(202, [], "queued")

        respond_with(handler)
        try:
            call(PLUGIN, "on-event", {"userName": "u"}, event="deactivated")
            self.assertEqual(
                seen,
                [Request("POST", "https://hooks.example/x", [("content-type", "application/json")], '{"event":"deactivated"}')],
            )
            self.assertEqual(take_logs(), [("info", "202 queued u")])

            def timeout(request: Request) -> Response:
                raise HttpError(f"{request.method} {request.url}: no answer in time")

            respond_with(timeout)
            with self.assertRaisesRegex(Failed, "no answer in time$"):
                call(PLUGIN, "on-event", {})
        finally:
            respond_with(None)

    def test_contexts(self):
        ctx = user_create()
        self.assertTrue(ctx.is_user() and not ctx.is_group())
        self.assertEqual((ctx.tenant, ctx.idp_profile, ctx.operation, ctx.resource_id), ("test", "generic", "create", None))
        self.assertTrue(context("get", "group").is_group())


if __name__ == "__main__":
    unittest.main()
