"""The bot's health where a cluster user looks: status.bot of its SlackBot (the operator folds it into Ready).

`HealthReport.check()` evaluates the verdict (core/readiness) and, when it changed since the last stored one, merge-
patches status.bot (only that subtree: the bot's Role allows patching its own status). It runs on every /readyz
probe, on every configuration change and Slack auth change (`poke`), and at an interval; a failed write is retried
at the next check. Writes happen only on change, so a steady bot writes nothing, and a dropped Socket Mode link is
written only once it has lasted `grace` seconds (Slack asks clients to reconnect every few hours: that blip must not
flip the SlackBot's Ready and post an Event; /readyz still says it at once).
"""

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from h1bot_api.status import BOT_HEALTH, SLACK_DISCONNECTED
from h1bot_bot.adapters.clock import now_iso
from h1bot_bot.adapters.kube import describe_error
from h1bot_bot.core.readiness import Health

log = logging.getLogger(__name__)

Write = Callable[[dict[str, Any]], Awaitable[Any]]


class HealthReport:
    def __init__(self, evaluate: Callable[[], Awaitable[Health]], write: Write | None, interval: float = 15.0,
                 pod: str | None = None, grace: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.evaluate = evaluate
        self.write = write  # None outside a cluster (`--spec FILE`): only /readyz tells
        self.interval = interval
        self.pod = pod or socket.gethostname()
        self.grace, self.clock = grace, clock
        self._transient_since: float | None = None
        self.stored: Health | None = None
        self._lock = asyncio.Lock()
        self._loop_task: asyncio.Task | None = None
        self._pokes: set[asyncio.Task] = set()

    async def check(self) -> Health:
        health = await self.evaluate()
        if health.reason != SLACK_DISCONNECTED:
            self._transient_since = None
        elif self._transient_since is None:
            self._transient_since = self.clock()
        lasted = self._transient_since is None or self.clock() - self._transient_since >= self.grace
        if self.write is not None and health != self.stored and lasted:
            await self.store(health)
        return health

    async def store(self, health: Health) -> bool:
        async with self._lock:
            if health == self.stored:
                return True
            try:
                await self.write({"status": {BOT_HEALTH: health.as_status(pod=self.pod, now=now_iso())}})
            except Exception as exc:
                log.warning("could not record the bot's health in status.%s (%s): retried at the next check",
                            BOT_HEALTH, describe_error(exc))
                return False
            if self.stored is None or self.stored.ready != health.ready or self.stored.reason != health.reason:
                (log.info if health.ready else log.warning)("health: %s (%s)", health.reason, health.message)
            self.stored = health
            return True

    def poke(self, *_: Any) -> None:
        """Re-check soon (from synchronous callbacks: a config change, a Slack auth change)."""
        try:
            task = asyncio.get_running_loop().create_task(self._quiet_check())
        except RuntimeError:
            return  # no loop (shutting down): the next start checks again
        self._pokes.add(task)
        task.add_done_callback(self._pokes.discard)

    async def _quiet_check(self) -> None:
        try:
            await self.check()
        except Exception:
            log.exception("health check failed")

    def start(self) -> "HealthReport":
        self._loop_task = asyncio.get_running_loop().create_task(self._every_interval())
        return self

    async def _every_interval(self) -> None:
        while True:
            await self._quiet_check()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        tasks = [t for t in [self._loop_task, *self._pokes] if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
