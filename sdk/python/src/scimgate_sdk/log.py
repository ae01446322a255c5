"""Log lines from a plugin.

In the component they go to the gateway's log, tagged with the plugin and the
tenant (the host caps their number and length per call). Natively they are
kept for tests: `scimgate_sdk.testing.take_logs()`.
"""

from . import _host


def trace(message: str) -> None:
    _host.log("trace", str(message))


def debug(message: str) -> None:
    _host.log("debug", str(message))


def info(message: str) -> None:
    _host.log("info", str(message))


def warn(message: str) -> None:
    _host.log("warn", str(message))


def error(message: str) -> None:
    _host.log("error", str(message))
