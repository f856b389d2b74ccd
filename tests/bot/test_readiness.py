"""Scenarios: a bot that cannot answer says so on /readyz (and so in its pod's readiness), naming what to fix.

Before, an unknown model without contextTokens, a system prompt larger than the window, or a revoked Slack token
left the pod Ready while every mention failed.
"""

import asyncio
import time

import aiohttp

from h1bot_bot.app import RunningBot
from tests.bot.conftest import bot_settings, write_manifest

WORDS = "Remember the on-call rota and every runbook by heart. " * 250  # ~2,500 tokens


async def readyz(port: int, json: bool = False) -> tuple[int, str | dict]:
    headers = {"Accept": "application/json"} if json else {}
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/readyz",
                                                                headers=headers) as response:
        return response.status, (await response.json()) if json else await response.text()


async def readyz_until(port: int, expected: str, timeout: float = 8.0) -> tuple[int, str]:  # noqa: ASYNC109
    """Poll /readyz until its body contains `expected` (the final state), with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await readyz(port)
        if expected in body:
            return status, body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz never said {expected!r} (last: {status} {body!r})")
        await asyncio.sleep(0.05)


async def test_a_healthy_bot_is_ready_in_text_and_json(running_bot):
    assert await readyz(running_bot.http_port) == (200, "ready\n")
    status, body = await readyz(running_bot.http_port, json=True)
    assert status == 200 and body["ready"] is True and body["reason"] == "Ready"


async def test_an_unknown_model_without_context_tokens_is_not_ready_and_says_which_field(start_bot, fake_slack):
    async with start_bot({"model": {"name": "my-finetune", "maxOutputTokens": 512}}) as bot:
        status, body = await readyz(bot.http_port)
        assert status == 503
        assert body == ("not ready (ConfigInvalid): configuration invalid: model 'my-finetune' is not in the table of"
                        " known models: set spec.model.contextTokens to its context window\n")
        status, data = await readyz(bot.http_port, json=True)
        assert (status, data["ready"], data["reason"]) == (503, False, "ConfigInvalid")


async def test_a_system_prompt_larger_than_the_window_is_not_ready_and_mentions_say_why(start_bot, fake_slack,
                                                                                      fake_openai):
    spec = {"model": {"name": "my-small-model", "contextTokens": 2048, "maxOutputTokens": 512},
            "persona": {"systemPrompt": WORDS}}
    async with start_bot(spec) as bot:
        status, body = await readyz(bot.http_port)
        assert status == 503 and body.startswith("not ready (PromptTooLarge): the system prompt (")
        assert "does not fit the 2,048-token context window of my-small-model" in body
        assert "shorten spec.persona.systemPrompt" in body
        question, _ = await fake_slack.mention("C1", "UALICE", "hello?")
        (reply,) = await fake_slack.wait_for_texts("C1", question["ts"])
        assert "does not fit the 2,048-token context window" in reply
    assert fake_openai.chat_requests == []  # no request the endpoint would refuse


async def test_a_channel_persona_too_large_for_its_window_is_reported_with_its_field(start_bot):
    persona = {"systemPrompt": "Short.", "channels": [{"id": "CBIG", "systemPrompt": WORDS}]}
    model = {"name": "my-small-model", "contextTokens": 2048, "maxOutputTokens": 512}
    async with start_bot({"model": model, "persona": persona}) as bot:
        status, body = await readyz(bot.http_port)
    assert status == 503 and "(PromptTooLarge)" in body and "spec.persona.channels[CBIG].systemPrompt" in body


async def test_revoked_tokens_and_a_disabled_socket_link_make_the_bot_not_ready(start_bot, fake_slack):
    async with start_bot() as bot:
        assert (await readyz(bot.http_port))[0] == 200
        await fake_slack.revoke("token_revoked")  # the app was uninstalled: link_disabled, then every call refused
        status, body = await readyz_until(bot.http_port, "apps.connections.open answered token_revoked")
        assert status == 503 and body.startswith("not ready (SlackAuthRevoked): Slack auth revoked: ")
        assert "Slack disabled the Socket Mode link (link_disabled)" in body


async def test_a_revoked_bot_token_seen_by_a_mention_makes_the_bot_not_ready(start_bot, fake_slack):
    async with start_bot() as bot:
        await fake_slack.revoke("account_inactive", link_disabled=False)  # the socket stays up: events still come
        await fake_slack.mention("C1", "UALICE", "hello?")  # reading the thread is refused
        status, body = await readyz_until(bot.http_port, "Slack auth revoked")
        assert status == 503 and "answered account_inactive" in body and "spec.secrets.slackBotToken" in body
        fake_slack.revoked = None  # a new token works again: the next successful call clears it
        await bot.surface.gateway.client.auth_test()
        assert await readyz(bot.http_port) == (200, "ready\n")


async def test_a_bot_whose_token_is_refused_at_start_exits_saying_so(fake_slack, fake_openai, tmp_path):
    await fake_slack.revoke("invalid_auth", link_disabled=False)
    runtime = RunningBot(bot_settings(fake_slack, fake_openai, write_manifest(tmp_path)))
    try:
        await runtime.start()
        raise AssertionError("the bot started with a refused token")
    except Exception as exc:
        assert "Slack rejected SLACK_BOT_TOKEN (auth.test: invalid_auth)" in str(exc)
    finally:
        await runtime.stop(drain_timeout=0)
    assert runtime.auth.failure == ("Slack auth revoked: auth.test answered invalid_auth (renew the bot token"
                                    " (spec.secrets.slackBotToken) or reinstall the Slack app)")
