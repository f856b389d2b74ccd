"""status.bot is written when the bot's verdict changes, never in steady state, and not for a reconnect blip."""

from h1bot_api import status as api
from h1bot_bot.core.readiness import Health
from h1bot_bot.engine.health_report import HealthReport

READY = Health(True, api.BOT_READY, "connected")
DISCONNECTED = Health(False, api.SLACK_DISCONNECTED, "not connected to Slack (Socket Mode)")
REVOKED = Health(False, api.SLACK_AUTH_REVOKED, "Slack auth revoked: auth.test answered token_revoked")


class Scripted:
    def __init__(self) -> None:
        self.health, self.now, self.written, self.fail = READY, 0.0, [], False

    async def evaluate(self) -> Health:
        return self.health

    async def write(self, patch: dict) -> None:
        if self.fail:
            raise ConnectionError("API server unreachable")
        self.written.append(patch["status"]["bot"])


def report(script: Scripted) -> HealthReport:
    return HealthReport(script.evaluate, script.write, pod="h1bot-helpdesk-1", grace=30, clock=lambda: script.now)


async def test_written_on_change_only_with_who_wrote_it():
    script = Scripted()
    health = report(script)
    assert await health.check() == READY and await health.check() == READY
    script.health = REVOKED
    await health.check()
    await health.check()
    assert [(w["ready"], w["reason"], w["pod"]) for w in script.written] == [
        (True, "Ready", "h1bot-helpdesk-1"), (False, "SlackAuthRevoked", "h1bot-helpdesk-1")]
    assert script.written[1]["message"] == REVOKED.message and script.written[1]["at"].endswith("Z")


async def test_a_reconnect_blip_is_not_written_but_a_lasting_disconnection_is():
    script = Scripted()
    health = report(script)
    await health.check()
    script.health, script.now = DISCONNECTED, 100.0
    assert await health.check() == DISCONNECTED  # /readyz says it at once
    script.health, script.now = READY, 105.0
    await health.check()
    assert [w["reason"] for w in script.written] == ["Ready"]
    script.health, script.now = DISCONNECTED, 200.0
    await health.check()
    script.now = 231.0
    await health.check()
    assert [w["reason"] for w in script.written] == ["Ready", "SlackDisconnected"]


async def test_a_failed_write_is_retried_at_the_next_check():
    script = Scripted()
    script.fail = True
    health = report(script)
    await health.check()
    assert script.written == [] and health.stored is None
    script.fail = False
    await health.check()
    assert [w["reason"] for w in script.written] == ["Ready"]
