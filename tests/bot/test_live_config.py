"""Scenarios: admins change the bot from Slack; the cluster (its SlackBot's status.runtime) remembers, audits and
wins when the spec changes the same field. The bot runs against the Kubernetes API emulator on loopback."""

import asyncio
import json
import re

import pytest

from tests.bot.live_config_helpers import (
    ADMIN,
    BOT_PATH,
    BOTS,
    OTHER_ADMIN,
    USER,
    add_people,
    ask,
    cluster_bot,
    events,
    overrides_of,
    patch_spec,
    question,
    runtime_of,
    runtime_patches,
    slackbot,
)
from tests.fakes.kube import KubeAPI
from tests.fakes.waiting import eventually

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def kube(tmp_path, monkeypatch, fake_slack):
    add_people(fake_slack)
    with KubeAPI() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.write_kubeconfig(tmp_path / "kubeconfig")))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        api.apply(slackbot())
        yield api


async def test_an_admin_switches_the_model_the_status_records_it_and_the_next_answer_uses_it(
        kube, fake_slack, fake_openai):
    async with cluster_bot(fake_slack, fake_openai) as bot:
        message, (reply,) = await ask(fake_slack, ADMIN, "model gpt-4o-mini")
        assert "*Model* is now `gpt-4o-mini` (was `gpt-4o`; the spec says `gpt-4o`)" in reply
        assert "not saved" not in reply

        override = overrides_of(kube)["model"]
        assert override == {"value": "gpt-4o-mini", "specValue": "gpt-4o", "previous": "gpt-4o", "by": ADMIN,
                            "at": override["at"], "channel": "C1", "threadTs": message["ts"]}
        assert ISO.match(override["at"])
        # One merge patch on the status subresource, touching only status.runtime and only the changed key.
        ((content_type, body),) = runtime_patches(kube)
        assert content_type == "application/merge-patch+json"
        assert list(body) == ["status"] and list(body["status"]) == ["runtime"]
        assert list(body["status"]["runtime"]["overrides"]) == ["model"]
        assert body["status"]["runtime"]["lastChange"]["action"] == "set"
        (event,) = events(kube, "ConfigChanged")
        assert event["type"] == "Normal" and event["involvedObject"]["uid"] == kube.find(
            BOTS, "default", "helpdesk")["metadata"]["uid"]
        assert "model: 'gpt-4o' → 'gpt-4o-mini' by UADMIN" in event["message"]

        assert (await question(fake_slack, fake_openai, USER, "what is kopf?", "C2"))["model"] == "gpt-4o-mini"
        assert bot.config.current.spec.model.name == "gpt-4o-mini"


async def test_non_admins_and_bad_values_are_refused_and_nothing_changes(kube, fake_slack, fake_openai):
    async with cluster_bot(fake_slack, fake_openai) as bot:
        _, (refusal,) = await ask(fake_slack, USER, "config set temperature 0.1")
        assert "only this bot's admins can change its settings" in refusal
        assert "(Ada, Ops)" in refusal and "<@UADMIN>" not in refusal  # the admins named, not pinged
        _, (bad,) = await ask(fake_slack, ADMIN, "config set temperature 5")
        assert bad.startswith(":x: Not changed:") and "less than or equal to 2" in bad
        _, (unknown,) = await ask(fake_slack, ADMIN, "model gpt-3.5-turbo")
        assert "not served by the model endpoint" in unknown
        _, (malformed,) = await ask(fake_slack, ADMIN, "config set")
        assert "Which setting?" in malformed
        assert bot.config.current.spec.model.temperature == 0.3
        assert bot.config.current.spec.model.name == "gpt-4o"
    assert runtime_patches(kube) == [] and runtime_of(kube) == {} and events(kube) == []
    assert fake_openai.chat_requests == []  # commands never reach the LLM


async def test_overrides_survive_a_restart(kube, fake_slack, fake_openai):
    async with cluster_bot(fake_slack, fake_openai):
        await ask(fake_slack, ADMIN, "model gpt-4o-mini")
        await ask(fake_slack, ADMIN, 'config set persona "You are a pirate."')
    async with cluster_bot(fake_slack, fake_openai) as bot:
        assert bot.config.current.spec.model.name == "gpt-4o-mini"
        request = await question(fake_slack, fake_openai, USER, "ahoy?")
    assert (request["model"], request["messages"][0]["content"]) == ("gpt-4o-mini", "You are a pirate.")


async def test_the_spec_wins_over_an_override_of_the_same_field_and_keeps_the_others(kube, fake_slack, fake_openai):
    async with cluster_bot(fake_slack, fake_openai) as bot:
        message, _ = await ask(fake_slack, ADMIN, "model gpt-4o-mini")
        thread = message["ts"]

        patch_spec(kube, {"persona": {"systemPrompt": "Persona from GitOps."}})  # an unrelated field
        await eventually(lambda: bot.config.current.spec.persona.system_prompt == "Persona from GitOps.")
        assert overrides_of(kube)["model"]["value"] == "gpt-4o-mini"
        assert (await question(fake_slack, fake_openai, USER, "still there?", "C2"))["model"] == "gpt-4o-mini"

        patch_spec(kube, {"model": {"name": "gpt-5-mini"}})
        dropped = await eventually(lambda: [t for t in fake_slack.thread_texts("C1", thread) if "spec wins" in t])
        assert "The spec now sets *Model* to `gpt-5-mini` (it was `gpt-4o`)" in dropped[0]
        assert "`gpt-4o-mini` (set by <@UADMIN>) is dropped" in dropped[0]
        await eventually(lambda: "model" not in overrides_of(kube), message="the override removed from the status")
        (event,) = events(kube, "OverrideDropped")
        assert "override of model ('gpt-4o-mini', by UADMIN) dropped" in event["message"]
        assert (await question(fake_slack, fake_openai, USER, "and now?", "C3"))["model"] == "gpt-5-mini"  # live
        assert bot.watch.reconnects == 0


async def test_an_override_the_spec_overtook_while_the_bot_was_down_is_dropped_at_start(kube, fake_slack,
                                                                                         fake_openai):
    made = fake_slack.say("C1", ADMIN, "<@UBOT> model gpt-4o-mini")
    kube.request("PATCH", BOT_PATH + "/status", {"status": {"runtime": {"overrides": {"model": {
        "value": "gpt-4o-mini", "specValue": "gpt-4", "by": ADMIN, "at": "2026-01-01T00:00:00Z",
        "channel": "C1", "threadTs": made["ts"]}}}}})
    async with cluster_bot(fake_slack, fake_openai) as bot:
        assert bot.config.current.spec.model.name == "gpt-4o"
        told = await eventually(lambda: fake_slack.bot_replies("C1", made["ts"]))
        assert "the spec wins" in told[0]["text"]
        await eventually(lambda: overrides_of(kube) == {})


async def test_an_admin_resets_an_override_back_to_the_spec(kube, fake_slack, fake_openai):
    async with cluster_bot(fake_slack, fake_openai) as bot:
        await ask(fake_slack, ADMIN, "config set threshold 12k")
        assert overrides_of(kube)["thresholdTokens"]["value"] == 12000
        _, (reply,) = await ask(fake_slack, OTHER_ADMIN, "config reset threshold")
        assert "*Summarize above* is back to the spec's auto (was 12,000 tokens, set by <@UADMIN>)" in reply
        assert overrides_of(kube) == {} and bot.config.current.spec.summarization.threshold_tokens is None
        assert runtime_of(kube)["lastChange"]["action"] == "reset"
        assert "reset by UOPS: thresholdTokens 12000" in events(kube, "ConfigReset")[0]["message"]


async def test_two_admins_changing_settings_at_once_are_both_recorded(kube, fake_slack, fake_openai):
    async with cluster_bot(fake_slack, fake_openai) as bot:
        first, second = await asyncio.gather(fake_slack.mention("C1", ADMIN, "config set temperature 0.9"),
                                             fake_slack.mention("C2", OTHER_ADMIN, "config set maxOutputTokens 900"))
        await fake_slack.wait_for_replies("C1", first[0]["ts"])
        await fake_slack.wait_for_replies("C2", second[0]["ts"])
        overrides = overrides_of(kube)
        assert (overrides["temperature"]["value"], overrides["temperature"]["by"]) == (0.9, ADMIN)
        assert (overrides["maxOutputTokens"]["value"], overrides["maxOutputTokens"]["by"]) == (900, OTHER_ADMIN)
        assert len(events(kube, "ConfigChanged")) == 2
        assert (bot.config.current.spec.model.temperature, bot.config.current.spec.model.max_output_tokens) == (
            0.9, 900)


async def test_with_the_api_server_down_a_change_applies_now_and_is_saved_once_it_is_back(
        kube, fake_slack, fake_openai):
    async with cluster_bot(fake_slack, fake_openai) as bot:
        with kube.outage():  # every request answers 503, watches end
            message, (reply,) = await ask(fake_slack, ADMIN, "config set temperature 0.2")
            assert "*Temperature* is now `0.2`" in reply and "not saved yet (the cluster cannot be reached)" in reply
            _, (second,) = await ask(fake_slack, OTHER_ADMIN, "config set maxOutputTokens 300", channel="C2")
            assert "not saved yet" in second
            request = await question(fake_slack, fake_openai, USER, "answer with the new settings", "C3")
            assert (request["temperature"], request["max_tokens"]) == (0.2, 300)
            await eventually(lambda: bot.watch.reconnects >= 2, message="the watch retrying")
            assert runtime_of(kube) == {}

        saved = await eventually(lambda: [t for t in fake_slack.thread_texts("C1", message["ts"]) if "Saved now" in t])
        assert "status.runtime of SlackBot default/helpdesk" in saved[0]
        overrides = overrides_of(kube)
        assert (overrides["temperature"]["value"], overrides["maxOutputTokens"]["value"]) == (0.2, 300)
        ((_, body),) = runtime_patches(kube)  # one merge patch carried every pending key
        assert set(body["status"]["runtime"]["overrides"]) == {"temperature", "maxOutputTokens"}
        await eventually(lambda: len(events(kube, "ConfigChanged")) == 2, message="the audit Events, once back")

        # The watch came back too: a spec change made after the outage applies live.
        patch_spec(kube, {"persona": {"systemPrompt": "After the outage."}})
        await eventually(lambda: bot.config.current.spec.persona.system_prompt == "After the outage.")
        assert bot.config.current.spec.model.temperature == 0.2


async def test_config_shows_the_overrides_and_never_a_secret(kube, fake_slack, fake_openai):
    values = {"bot": fake_slack.bot_token, "app": fake_slack.app_token, "openai": fake_openai.api_key}
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "creds", "namespace": "default", "labels": {"chatops.h1bot.dev/credentials": "true"}},
                "stringData": values})
    async with cluster_bot(fake_slack, fake_openai):
        await ask(fake_slack, ADMIN, "model gpt-4o-mini")
        message, (text,) = await ask(fake_slack, USER, "config")
    (post,) = [c for c in fake_slack.calls_to("chat.postMessage") if c.params.get("thread_ts") == message["ts"]]
    shown = json.dumps(post.params)
    blocks = json.loads(post.params["blocks"]) if isinstance(post.params["blocks"], str) else post.params["blocks"]
    assert blocks[0]["text"]["text"] == "Configuration"
    assert "*Model*: `gpt-4o-mini`" in shown and "set from Slack by Ada" in shown and "<@UADMIN>" not in shown
    assert "the spec says `gpt-4o`" in shown and "Secret `creds` key `openai`" in text
    everything_said = json.dumps([c.params for c in fake_slack.calls])
    for secret in (fake_slack.bot_token, fake_slack.app_token, fake_openai.api_key, "xoxb-", "xapp-", "sk-"):
        assert secret not in shown and secret not in everything_said


async def test_an_invalid_spec_change_is_reported_and_the_bot_keeps_working(kube, fake_slack, fake_openai):
    async with cluster_bot(fake_slack, fake_openai) as bot:
        patch_spec(kube, {"model": {"temperature": 7}})  # what the CRD would refuse; the emulator stores it
        (warning,) = await eventually(lambda: events(kube, "InvalidSpec"))
        assert warning["type"] == "Warning" and "spec.model.temperature" in warning["message"]
        assert bot.config.current.spec.model.temperature == 0.3
        patch_spec(kube, {"model": {"temperature": 0.5}})
        await eventually(lambda: bot.config.current.spec.model.temperature == 0.5)
        assert (await question(fake_slack, fake_openai, USER, "hot or not?"))["temperature"] == 0.5
    assert len(events(kube, "InvalidSpec")) == 1


async def test_a_new_model_endpoint_in_the_spec_is_used_without_a_restart(kube, fake_slack, fake_openai):
    from tests.fakes.openai import FakeOpenAI

    async with FakeOpenAI() as other_endpoint, cluster_bot(fake_slack, fake_openai) as bot:
        patch_spec(kube, {"model": {"baseURL": other_endpoint.base_url}})
        await eventually(lambda: bot.config.current.spec.model.base_url == other_endpoint.base_url)
        message, _ = await fake_slack.mention("C1", USER, "which endpoint answers?")
        [reply] = await fake_slack.wait_for_texts("C1", message["ts"])
        assert reply == "Answer to: Bob (UBOB): which endpoint answers?"
    assert [r.messages[-1]["content"] for r in other_endpoint.chat_requests] == [
        "Bob (UBOB): which endpoint answers?"]
    assert fake_openai.chat_requests == []


async def test_a_live_change_to_an_endpoint_the_operator_does_not_allow_is_refused(kube, fake_slack, fake_openai,
                                                                                  caplog):
    """The operator passes its allow-list (H1BOT_ALLOWED_BASE_URLS); the key never goes to another endpoint."""
    from tests.fakes.openai import FakeOpenAI

    allowed = (f"{fake_openai.base_url}*",)
    async with FakeOpenAI() as elsewhere, cluster_bot(fake_slack, fake_openai, allowed_base_urls=allowed) as bot:
        patch_spec(kube, {"model": {"baseURL": elsewhere.base_url}})
        await eventually(lambda: bot.config.current.spec.model.base_url == elsewhere.base_url)
        for text in ("first question", "second question"):
            message, _ = await fake_slack.mention("C1", USER, text)
            await fake_slack.wait_for(lambda m=message: any(r["text"].startswith("Answer to")
                                                           for r in fake_slack.bot_replies("C1", m["ts"])), timeout=8)
    assert elsewhere.chat_requests == []
    assert len(fake_openai.chat_requests) == 2, "answered by the endpoint it had"
    refusals = [r.getMessage() for r in caplog.records if "refusing the new spec.model.baseURL" in r.getMessage()]
    assert len(refusals) == 1, "logged once, not per request"
    assert f"keeping {fake_openai.base_url}" in refusals[0] and "not an allowed model endpoint" in refusals[0]
