"""Prometheus metrics of the operator: reconciles by outcome and duration, and the SlackBots it runs by phase.

Served on their own port (`--metrics-port`, env H1BOT_METRICS_PORT; 0 turns them off): kopf's liveness endpoint
has no room for other routes.
"""

import logging
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from h1bot_api.status import PHASES

log = logging.getLogger(__name__)
_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.reconciles = Counter("h1bot_operator_reconciles", "Reconciles of a SlackBot, by outcome (ok, "
                                  "waiting_for_secrets, invalid_spec, conflict, rejected, error).", ["outcome"],
                                  registry=r)
        self.reconcile_seconds = Histogram("h1bot_operator_reconcile_seconds", "Time of one reconcile.",
                                           buckets=_BUCKETS, registry=r)
        self.slackbots = Gauge("h1bot_operator_slackbots", "SlackBots the operator runs, by phase.", ["phase"],
                               registry=r)
        self._phases: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._server = None
        for phase in PHASES:
            self.slackbots.labels(phase=phase).set(0)

    def reconciled(self, outcome: str, seconds: float) -> None:
        self.reconciles.labels(outcome=outcome).inc()
        self.reconcile_seconds.observe(seconds)

    def phase(self, namespace: str, name: str, phase: str | None) -> None:
        """Record the phase of one SlackBot (None: it is gone)."""
        with self._lock:
            if phase is None:
                self._phases.pop((namespace, name), None)
            else:
                self._phases[namespace, name] = phase
            counts = {p: 0 for p in PHASES}
            for current in self._phases.values():
                counts[current] = counts.get(current, 0) + 1
        for label, count in counts.items():
            self.slackbots.labels(phase=label).set(count)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        """Serve /metrics; a port that cannot be bound is logged, not fatal (reconciling matters more)."""
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.error("cannot serve metrics on %s:%d: %s", host, port, exc)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
