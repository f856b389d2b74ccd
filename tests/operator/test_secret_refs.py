"""Which Secret keys a SlackBot uses, and the checksum that rolls the bot when (and only when) they change."""

from h1bot_api.spec import SlackBotSpec
from h1bot_operator.secret_refs import references, resolve, secret_names, template_secret_names
from tests.operator.conftest import example_bot, slackbot

SPEC = SlackBotSpec.from_manifest(slackbot("b", "creds"))
DATA = {"slack-bot-token": "eG94Yg==", "slack-app-token": "eGFwcA==", "openai-api-key": "c2s="}


def test_references_map_spec_fields_to_the_bots_env():
    assert [(r.env, r.name, r.key) for r in references(SPEC)] == [
        ("SLACK_BOT_TOKEN", "creds", "slack-bot-token"), ("SLACK_APP_TOKEN", "creds", "slack-app-token"),
        ("OPENAI_API_KEY", "creds", "openai-api-key")]
    org = SlackBotSpec.from_manifest(example_bot("x"))
    assert "OPENAI_ORG_ID" in {r.env for r in references(org)}
    assert secret_names(org) == ["h1bot-credentials"]


def test_checksum_covers_only_referenced_keys():
    base = resolve(references(SPEC), {"creds": DATA}, "default")
    unrelated = resolve(references(SPEC), {"creds": {**DATA, "other": "eA=="}}, "default")
    rotated = resolve(references(SPEC), {"creds": {**DATA, "slack-bot-token": "bmV3"}}, "default")
    assert base.resolved and base.checksum.startswith("sha256:")
    assert unrelated.checksum == base.checksum
    assert rotated.checksum != base.checksum


def test_missing_secret_and_key_are_named():
    missing_secret = resolve(references(SPEC), {"creds": None}, "team-a")
    assert not missing_secret.resolved and missing_secret.checksum is None
    assert missing_secret.message == "Secret team-a/creds not found"
    missing_key = resolve(references(SPEC), {"creds": {"slack-bot-token": "eA==", "slack-app-token": "eA=="}}, "ns")
    assert missing_key.missing == ("key 'openai-api-key' not found in Secret ns/creds (needed for OPENAI_API_KEY)",)


def test_a_secret_that_has_not_opted_in_is_refused_with_how_to_opt_in():
    refused = resolve(references(SPEC), {"creds": DATA}, "team-a", not_opted_in={"creds"})
    assert not refused.resolved and refused.checksum is None and refused.reason == "SecretNotOptedIn"
    assert refused.message == ("Secret team-a/creds has not opted in to be used by SlackBots: if it is meant for this "
                               "bot, run `kubectl label secret creds -n team-a chatops.h1bot.dev/credentials=true`")
    assert resolve(references(SPEC), {"creds": None}, "ns", not_opted_in={"creds"}).reason == "SecretMissing"
    assert resolve(references(SPEC), {"creds": DATA}, "ns").reason == "Resolved"


def test_secrets_the_pod_template_names_must_exist_and_opt_in_too():
    spec = SlackBotSpec.from_manifest(slackbot("b", "creds", template={
        "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "prod-db", "key": "password"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "envFrom": [{"secretRef": {"name": "bulk"}}, {"configMapRef": {"name": "settings"}}],
        "volumes": [{"name": "certs", "secret": {"secretName": "tls"}},
                    {"name": "mixed", "projected": {"sources": [{"secret": {"name": "projected"}}]}}]}))
    assert template_secret_names(spec) == ["bulk", "prod-db", "projected", "tls"]
    assert secret_names(spec) == ["bulk", "creds", "prod-db", "projected", "tls"]
    pod = template_secret_names(spec)
    found = {"creds": DATA, "prod-db": {"password": "eA=="}, "bulk": {}, "tls": {}}
    state = resolve(references(spec), found, "ns", not_opted_in={"prod-db"}, pod_secrets=pod)
    assert state.reason == "SecretNotOptedIn" and state.not_opted_in == ("prod-db",)
    assert "Secret ns/projected not found (named in spec.template)" in state.missing
    assert any("kubectl label secret prod-db -n ns" in line for line in state.missing)
