"""What a JSON log line of either process carries, in Cloud Logging's terms (pure).

Cloud Logging reads `severity` (its LogSeverity names), `message` and `time` (RFC 3339) from a JSON line written to
stdout/stderr; any other key lands in jsonPayload. Both the bot and the operator use these names.
"""

import logging
from datetime import UTC, datetime

SEVERITY_KEY, MESSAGE_KEY, TIME_KEY = "severity", "message", "time"


def severity(levelno: int) -> str:
    """Cloud Logging's severity for a Python log level: DEBUG, INFO, WARNING, ERROR or CRITICAL."""
    if levelno <= logging.DEBUG:
        return "DEBUG"
    if levelno <= logging.INFO:
        return "INFO"
    if levelno <= logging.WARNING:
        return "WARNING"
    if levelno <= logging.ERROR:
        return "ERROR"
    return "CRITICAL"


def rfc3339(created: float) -> str:
    """A record's creation time as RFC 3339 in UTC with milliseconds, e.g. 2026-01-02T03:04:05.678Z."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
