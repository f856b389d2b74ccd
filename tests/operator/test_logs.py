"""The operator's JSON log lines as Cloud Logging reads them (the running operator's lines: tests/e2e)."""

import json
import logging
import sys

import kopf
import pytest

from h1bot_operator.logs import CloudJsonFormatter

REF = {"apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot", "name": "helpdesk", "namespace": "team-a"}


def line(level: int, message: str = "hello", exc_info=None, **extra) -> dict:
    record = logging.LogRecord("kopf.objects", level, __file__, 1, message, (), exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(CloudJsonFormatter().format(record))


@pytest.mark.parametrize(("level", "severity"), [
    (logging.DEBUG, "DEBUG"), (logging.INFO, "INFO"), (logging.WARNING, "WARNING"), (logging.ERROR, "ERROR"),
    (logging.CRITICAL, "CRITICAL"), (5, "DEBUG"), (25, "WARNING")])
def test_severity_uses_cloud_loggings_names(level, severity):
    assert line(level)["severity"] == severity


def test_a_handlers_line_keeps_kopfs_object_reference_and_extras_but_not_its_internals():
    got = line(logging.INFO, "Handler 'x' succeeded.", k8s_ref=REF, k8s_skip=False, settings=object(), outcome="ok")
    assert got["object"] == REF and got["outcome"] == "ok" and got["logger"] == "kopf.objects"
    assert got["message"] == "Handler 'x' succeeded." and got["time"].endswith("Z")
    assert not {"k8s_ref", "k8s_skip", "settings", "timestamp", "level"} & got.keys()


def test_an_exception_goes_with_its_traceback():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        got = line(logging.ERROR, "failed", exc_info=sys.exc_info())
    assert got["severity"] == "ERROR" and "RuntimeError: boom" in got["exception"]


def test_kopfs_own_json_format_is_what_this_replaces():
    """kopf writes lower-case severities and `timestamp`: Cloud Logging would file `warn` lines as DEFAULT."""
    from kopf._core.actions.loggers import make_formatter  # the formatter `kopf run --log-format=json` uses
    record = logging.LogRecord("kopf.objects", logging.WARNING, __file__, 1, "careful", (), None)
    kopf_line = json.loads(make_formatter(kopf.LogFormat.JSON).format(record))
    assert kopf_line["severity"] == "warn" and "timestamp" in kopf_line and "time" not in kopf_line
