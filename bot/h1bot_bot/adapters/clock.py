"""The bot's wall clock, in the format Kubernetes writes times (the pure code takes `now` from here)."""

import time

from h1bot_api.status import timestamp


def now_seconds() -> float:
    """Unix seconds (expiry of proposals, Prometheus' evaluation time)."""
    return time.time()


def now_iso() -> str:
    return timestamp(now_seconds())
