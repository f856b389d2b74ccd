"""The bot as a user runs it: `h1bot-bot --spec FILE` in a subprocess, against the fake Slack and the fake OpenAI.

Several of them against one fake Slack are the replicas of one bot (a rollout's two pods, `spec.replicas > 1`):
each opens its own Socket Mode connection, which `connection` names once it is up. `metric(...)` reads the
process's own /metrics; `freeze()`/`thaw()` (SIGSTOP/SIGCONT) imitate a node that stops answering without closing
its connections; `kill()` is kill -9; `terminate()` is the SIGTERM of a rollout (it drains, then exits 0).
"""

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.fakes.kube import free_port
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack


def metric_value(text: str, line_start: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


class BotProcess:
    def __init__(self, slack: FakeSlack, llm: FakeOpenAI, manifest: dict[str, Any], workdir: Path,
                 **env: str) -> None:
        self.slack, self.llm = slack, llm
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.spec_path = workdir / "slackbot.yaml"  # each replica its own copy, like each pod its own filesystem
        self.spec_path.write_text(yaml.safe_dump(manifest))
        self.port = free_port()
        self.env = {**os.environ, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token,
                    "OPENAI_API_KEY": llm.api_key, "SLACK_API_URL": slack.api_url, "OPENAI_BASE_URL": llm.base_url,
                    "H1BOT_HTTP_PORT": str(self.port), "H1BOT_UPDATE_INTERVAL": "0.05", "LOG_FORMAT": "json",
                    **env}
        self.argv = [str(Path(sys.executable).parent / "h1bot-bot"), "--spec", str(self.spec_path)]
        self.process: asyncio.subprocess.Process | None = None
        self.connection = ""
        self.log_path = workdir / "bot.log"

    @classmethod
    def as_in_pod(cls, slack: FakeSlack, llm: FakeOpenAI, argv: list[str], env: dict[str, str],
                  workdir: Path) -> "BotProcess":
        """The bot as its pod runs it: the container's command, args and (resolved) env, and nothing of this host's
        environment but what `env` carries; `env["H1BOT_HTTP_PORT"]` is its health/metrics port."""
        bot = cls.__new__(cls)
        bot.slack, bot.llm, bot.workdir = slack, llm, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        bot.argv, bot.env, bot.port = list(argv), dict(env), int(env["H1BOT_HTTP_PORT"])
        bot.process, bot.connection, bot.log_path = None, "", workdir / "bot.log"
        return bot

    async def start(self, timeout: float = 30) -> "BotProcess":  # noqa: ASYNC109
        """Start it and wait until its Socket Mode connection is up (the one connection the fake did not have)."""
        before = set(self.slack.connections)
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=self.workdir)
        try:
            self.connection = await self.slack.wait_for(
                lambda: next((c for c in self.slack.connections if c not in before), None) or self._exited(),
                timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"the bot did not connect within {timeout}s:\n{self.log()}") from None
        return self

    def _exited(self) -> None:
        if self.process.returncode is not None:
            raise AssertionError(f"the bot exited with {self.process.returncode}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{self.port}/metrics") as response:
            return await response.text()

    async def metric(self, line_start: str) -> float:
        return metric_value(await self.metrics(), line_start)

    async def wait_metric(self, line_start: str, at_least: float, timeout: float = 30) -> float:  # noqa: ASYNC109
        """Poll /metrics until the metric reaches `at_least`; returns its value (fails at the deadline)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.metric(line_start)
            if value >= at_least:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{line_start} is {value}, not {at_least} after {timeout}s")
            await asyncio.sleep(0.05)

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.process.kill()

    async def terminate(self, timeout: float = 30) -> int:  # noqa: ASYNC109
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.thaw()
            self.process.kill()
            await self.process.wait()
