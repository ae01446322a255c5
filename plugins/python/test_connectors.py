"""Every case of the connector fixtures in plugins/fixtures (`"connector": true`), run
through the Python connector of its name the way the gateway calls it (JSON in, JSON
out), with `http.send` answered from the case's canned answers as `scimgate plugin test
--http` answers: the requests made and the answer must be the Rust connector's.

    python -m unittest discover plugins/python
"""

import json
import unittest

from scimgate_sdk import Busy, ConnectorError
from scimgate_sdk.testing import call_connector, canned_http, mock_http, take_requests
from test_fixtures import FIXTURES, load_plugin


def answer(plugin, case: dict) -> dict:
    """The operation's answer in the fixtures' terms: `{result}` or `{error: {kind: message or seconds}}`."""
    try:
        result = call_connector(
            plugin,
            case["operation"],
            doc=case.get("doc"),
            id=case.get("id"),
            key=case.get("key"),
            resource_type=case["resource_type"],
            config=case["config"],
        )
    except ConnectorError as e:
        return {"error": {e.kind: e.seconds if isinstance(e, Busy) else e.message}}
    return {"result": result}


def fixture_test(plugin, case: dict):
    def test(self: unittest.TestCase) -> None:
        take_requests()
        mock_http(canned_http(case.get("http", [])))
        try:
            actual = answer(plugin, case)
        finally:
            mock_http(None)
        requests = [
            {"method": r.method, "url": r.url, "body": None if r.body is None else json.loads(r.body)}
            for r in take_requests()
        ]
        got = {"requests": requests, **actual}
        self.assertEqual(got, case["expect"])
        self.assertEqual(json.dumps(got), json.dumps(case["expect"]), "the members are in the same order")

    test.__doc__ = case["name"]
    return test


for path in sorted(FIXTURES.glob("*.json")):
    spec = json.loads(path.read_text())
    if not spec.get("connector"):
        continue
    plugin = load_plugin(spec["plugin"])
    tests = {f"test_{i:02}": fixture_test(plugin, case) for i, case in enumerate(spec["cases"])}
    name = spec["plugin"].title().replace("-", "")
    globals()[name] = type(name, (unittest.TestCase,), tests)
