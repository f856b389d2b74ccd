"""Scenario: a long-running client keeps working while its credentials rotate — the `kubernetes` ApiClient from
h1bot_kube against the Kubernetes emulator with authentication on (401 without an accepted bearer token)."""

import datetime
import json
from collections.abc import Iterator

import pytest
from kubernetes import client

from h1bot_kube import load_credentials
from tests.fakes.exec_credential import exec_user
from tests.fakes.kube import KubeAPI, wait_until


@pytest.fixture
def api() -> Iterator[KubeAPI]:
    with KubeAPI() as kube:
        yield kube


def runs(log) -> list[str]:
    return [json.loads(line)["token"] for line in log.read_text().splitlines()] if log.exists() else []


def namespaces(api_client) -> list[str]:
    return [ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items]


def test_the_emulator_turns_away_requests_without_an_accepted_token(api, tmp_path):
    api.accept_tokens("good")
    bad = load_credentials(str(api.write_kubeconfig(tmp_path / "bad", {"token": "bad"})), env={}).api_client()
    with pytest.raises(client.ApiException) as caught:
        client.CoreV1Api(bad).read_namespace("default")
    assert caught.value.status == 401 and api.unauthorized == ["GET /api/v1/namespaces/default"] * 2  # and a retry
    good = load_credentials(str(api.write_kubeconfig(tmp_path / "good", {"token": "good"})), env={}).api_client()
    assert client.CoreV1Api(good).read_namespace("default").metadata.name == "default"


def test_an_expiring_exec_token_is_renewed_before_it_expires(api, tmp_path):
    token, log = tmp_path / "token", tmp_path / "runs"
    token.write_text("exec-1")
    api.accept_tokens("exec-1")
    credentials = load_credentials(str(api.write_kubeconfig(tmp_path / "config", exec_user(token, 1.0, log=log))),
                                   env={})
    api_client = credentials.api_client()
    assert "default" in namespaces(api_client)
    token.write_text("exec-2")  # the identity provider hands out a new token from now on, the old one expires
    wait_until(lambda: datetime.datetime.now(datetime.UTC) >= credentials.expiration, timeout=5,
               message="the first token's expiry")
    api.accept_tokens("exec-2")
    assert "default" in namespaces(api_client)
    issued = runs(log)
    assert (issued[0], issued[-1], api.unauthorized) == ("exec-1", "exec-2", [])  # renewed before the server refused


def test_a_401_runs_the_exec_plugin_again_and_retries(api, tmp_path):
    """A token without an expiry (or revoked early) is renewed when the API server rejects it, like kubectl."""
    token, log = tmp_path / "token", tmp_path / "runs"
    token.write_text("exec-1")
    api.accept_tokens("exec-1")
    api_client = load_credentials(str(api.write_kubeconfig(tmp_path / "config", exec_user(token, log=log))),
                                  env={}).api_client()
    assert "default" in namespaces(api_client)
    token.write_text("exec-2")
    api.accept_tokens("exec-2")
    assert "default" in namespaces(api_client)
    assert runs(log) == ["exec-1", "exec-2"] and api.unauthorized == ["GET /api/v1/namespaces"]


def test_a_rotated_token_file_is_read_again(api, tmp_path):
    token = tmp_path / "token"
    token.write_text("file-1\n")
    api.accept_tokens("file-1")
    api_client = load_credentials(str(api.write_kubeconfig(tmp_path / "config", {"tokenFile": str(token)})),
                                  env={}).api_client()
    assert "default" in namespaces(api_client)
    token.write_text("file-2\n")
    api.accept_tokens("file-2")
    assert "default" in namespaces(api_client)
