"""Whoever may create SlackBots may not read the namespace's Secrets through them: only Secrets that opt in can be
referenced, and the bot's key goes only to model endpoints the operator allows."""

from typing import Any

import pytest

from h1bot_api import CREDENTIALS_LABEL
from tests.fakes.kube import KubeAPI, wait_until
from tests.operator.conftest import BOTS, DEPLOYMENTS, events_about, secret, slackbot

pytestmark = pytest.mark.usefixtures("operator")
NS = "default"


def condition(api: KubeAPI, name: str, type_: str) -> dict[str, Any]:
    status = (api.find(BOTS, NS, name) or {}).get("status") or {}
    return next((c for c in status.get("conditions", ()) if c["type"] == type_), {})


def test_a_secret_that_has_not_opted_in_cannot_be_referenced(kube_api: KubeAPI):
    api = kube_api
    prod_db = secret("prod-db", **{"slack-bot-token": "x", "slack-app-token": "y", "openai-api-key": "hunter2"})
    del prod_db["metadata"]["labels"]
    api.apply(prod_db)
    api.apply(slackbot("thief", "prod-db"))

    refused = wait_until(lambda: (c := condition(api, "thief", "SecretsResolved")).get("status") == "False" and c,
                         message="SecretsResolved=False")
    assert refused["reason"] == "SecretNotOptedIn"
    assert f"kubectl label secret prod-db -n {NS} {CREDENTIALS_LABEL}=true" in refused["message"]
    assert "hunter2" not in str(api.find(BOTS, NS, "thief"))
    assert api.find(DEPLOYMENTS, NS, "h1bot-thief") is None
    wait_until(lambda: ("Warning", "SecretNotOptedIn", refused["message"]) in events_about(api, "thief"),
               message="the Event")

    api.request("PATCH", f"/api/v1/namespaces/{NS}/secrets/prod-db",
                {"metadata": {"labels": {CREDENTIALS_LABEL: "true"}}})
    wait_until(lambda: api.find(DEPLOYMENTS, NS, "h1bot-thief"), message="the Deployment once the Secret opts in")
    # The status is written at the end of the reconcile that created the Deployment: wait for it, not for a moment.
    wait_until(lambda: condition(api, "thief", "SecretsResolved").get("reason") == "Resolved",
               message="SecretsResolved=True, reason Resolved")


def test_a_model_endpoint_the_operator_does_not_allow_is_refused(kube_api: KubeAPI):
    api = kube_api
    api.apply(secret("exfil-creds"))
    api.apply(slackbot("exfil", "exfil-creds", model={"name": "gpt-4o-mini", "baseURL": "http://attacker.example/v1"}))
    ready = wait_until(lambda: (c := condition(api, "exfil", "Ready")).get("reason") == "InvalidSpec" and c,
                       message="Ready=False, InvalidSpec")
    assert ready["message"].startswith("spec.model.baseURL: 'http://attacker.example/v1' is not an allowed model")
    assert "https://*" in ready["message"]
    wait_until(lambda: ("Warning", "InvalidSpec", ready["message"]) in events_about(api, "exfil"), message="Event")
    assert api.find(DEPLOYMENTS, NS, "h1bot-exfil") is None

    api.request("PATCH", f"/apis/chatops.h1bot.dev/v1alpha1/namespaces/{NS}/slackbots/exfil",
                {"spec": {"model": {"baseURL": "https://llm.internal.example/v1"}}})
    deployment = wait_until(lambda: api.find(DEPLOYMENTS, NS, "h1bot-exfil"), message="an allowed https endpoint")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["H1BOT_ALLOWED_BASE_URLS"] == "https://*", "the bot checks live changes against the same list"


def test_a_secret_named_in_the_pod_template_must_opt_in_as_well(kube_api: KubeAPI):
    api = kube_api
    api.apply(secret("side-creds"))
    prod_db = secret("side-db", **{"password": "hunter2"})
    del prod_db["metadata"]["labels"]
    api.apply(prod_db)
    api.apply(slackbot("side", "side-creds", template={"env": [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "side-db", "key": "password"}}}]}))
    refused = wait_until(lambda: (c := condition(api, "side", "SecretsResolved")).get("status") == "False" and c,
                         message="SecretsResolved=False")
    assert refused["reason"] == "SecretNotOptedIn" and "kubectl label secret side-db" in refused["message"]
    assert api.find(DEPLOYMENTS, NS, "h1bot-side") is None


def test_an_endpoint_set_through_the_environment_is_held_to_the_same_list(kube_api: KubeAPI):
    api = kube_api
    api.apply(secret("envurl-creds"))
    api.apply(slackbot("envurl", "envurl-creds", template={"env": [{"name": "OPENAI_BASE_URL",
                                                                      "value": "http://attacker.example/v1"}]}))
    ready = wait_until(lambda: (c := condition(api, "envurl", "Ready")).get("reason") == "InvalidSpec" and c,
                       message="Ready=False, InvalidSpec")
    assert ready["message"].startswith("spec.template.env OPENAI_BASE_URL: 'http://attacker.example/v1' is not")
    assert api.find(DEPLOYMENTS, NS, "h1bot-envurl") is None
