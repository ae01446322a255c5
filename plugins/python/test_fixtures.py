"""Every case of plugins/fixtures (but the connectors', which test_connectors.py runs),
run through the Python plugin of its name the way the gateway calls it (JSON in, JSON
out): each answer, and the number of log lines, must be the Rust plugin's.

    python -m unittest discover plugins/python
"""

import importlib.util
import json
import sys
import unittest
from pathlib import Path

from scimgate_sdk import HookError, Out
from scimgate_sdk.testing import call, context, take_logs

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"


def load_plugin(name: str):
    spec = importlib.util.spec_from_file_location(f"{name.replace('-', '_')}_plugin", HERE / name / "plugin.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would (dataclasses look themselves up there)
    spec.loader.exec_module(module)
    return module


def answer(plugin, hook: str, case: dict) -> dict:
    """The hook's answer in the fixtures' terms."""
    ctx = context(case["operation"], case["resource_type"])
    try:
        out = call(plugin, hook, case["doc"], ctx=ctx, config=case["config"])
    except HookError as e:
        return {e.kind: e.message}
    if hook == "scope":
        return {"out_of_scope": out.reason} if isinstance(out, Out) else {"in_scope": True}
    if hook == "match-keys":
        return {"keys": [[key.attribute, key.value] for key in out]}
    return {"doc": out}


def fixture_test(plugin, hook: str, case: dict):
    def test(self: unittest.TestCase) -> None:
        take_logs()
        actual = answer(plugin, hook, case)
        self.assertEqual(actual, case["expect"])
        self.assertEqual(json.dumps(actual), json.dumps(case["expect"]), "the members are in the same order")
        if "logs" in case:
            self.assertEqual(len(take_logs()), case["logs"], "log lines")

    test.__doc__ = case["name"]
    return test


for path in sorted(FIXTURES.glob("*.json")):
    spec = json.loads(path.read_text())
    if spec.get("connector"):
        continue
    plugin = load_plugin(spec["plugin"])
    tests = {f"test_{i:02}": fixture_test(plugin, spec["hook"], case) for i, case in enumerate(spec["cases"])}
    name = spec["plugin"].title().replace("-", "")
    globals()[name] = type(name, (unittest.TestCase,), tests)
