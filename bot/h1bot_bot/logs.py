"""Logging setup: one line per event, text or JSON (LOG_FORMAT), with event/thread ids as fields.

JSON lines are what Cloud Logging reads: `severity`, `message`, `time` (h1bot_api.logfields), then the fields below.
"""

import json
import logging
import sys

from h1bot_api.logfields import MESSAGE_KEY, SEVERITY_KEY, TIME_KEY, rfc3339, severity

# Fields passed with `extra=` that belong in the line.
CONTEXT_FIELDS = ("event_id", "channel", "thread_ts", "user", "kind", "model", "duration_ms", "outcome", "error")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {TIME_KEY: rfc3339(record.created), SEVERITY_KEY: severity(record.levelno),
                MESSAGE_KEY: record.getMessage(), "logger": record.name}
        line.update({key: getattr(record, key) for key in CONTEXT_FIELDS if hasattr(record, key)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = " ".join(f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS if hasattr(record, key))
        return f"{base} {fields}" if fields else base


def setup_logging(log_format: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # slack_sdk logs request bodies at DEBUG; keep libraries quiet unless asked.
    for noisy in ("slack_sdk", "slack_bolt", "openai", "httpx", "httpcore", "aiohttp.access", "kubernetes"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
