"""The operator's JSON log lines in Cloud Logging's terms, keeping what kopf's JSON format carries.

kopf's JSON format (python-json-logger underneath) writes `severity` as debug/info/warn/error/fatal and the time as
`timestamp`; Cloud Logging wants its LogSeverity names and `time`. This formatter writes `time`, `severity`,
`message` and `logger`, then kopf's fields: `object` (the reference of the object a handler logs about, as kopf's
own JSON formatter names it) and any `extra=` fields.
"""

import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from h1bot_api.logfields import SEVERITY_KEY, TIME_KEY, rfc3339, severity

OBJECT_KEY = "object"  # kopf's DEFAULT_JSON_REFKEY
_KOPF_ATTRS = ("k8s_skip", "k8s_ref", "settings")  # record attributes kopf uses internally


class CloudJsonFormatter(JsonFormatter):
    def __init__(self) -> None:
        super().__init__("%(message)s %(name)s", rename_fields={"name": "logger", "exc_info": "exception"},
                         reserved_attrs=[*RESERVED_ATTRS, *_KOPF_ATTRS])

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data[TIME_KEY] = rfc3339(record.created)
        log_data[SEVERITY_KEY] = severity(record.levelno)
        super().add_fields(log_data, record, message_dict)
        if hasattr(record, "k8s_ref"):
            log_data[OBJECT_KEY] = record.k8s_ref


def use_cloud_json(root: logging.Logger | None = None) -> None:
    """Give every handler of the root logger (kopf.configure installs one) the Cloud Logging JSON format."""
    for handler in (root or logging.getLogger()).handlers:
        handler.setFormatter(CloudJsonFormatter())
