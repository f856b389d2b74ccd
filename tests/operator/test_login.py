"""Scenario: the operator logs in wherever kubectl can — an exec plugin (what `gcloud container clusters
get-credentials` writes), a token file, several kubeconfig files — against an API server that turns away anyone
without an accepted bearer token, and keeps working when its token rotates."""

import base64
import datetime
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.exec_credential import exec_user
from tests.fakes.kube import KubeAPI, OperatorThread, kubectl, wait_until
from tests.fakes.tls import CLIENT_CN, make_pki
from tests.operator.conftest import DEPLOYMENTS, operator_settings, secret, slackbot


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def api() -> Iterator[KubeAPI]:
    with KubeAPI() as kube:
        yield kube


def reconciled(api: KubeAPI, kubeconfig: Path | str, name: str) -> dict:
    """Run the real operator with this kubeconfig until it has created the bot's Deployment."""
    api.apply(secret(f"{name}-creds"))
    api.apply(slackbot(name, f"{name}-creds"))
    with OperatorThread(Path(kubeconfig), operator_settings()):
        return wait_until(lambda: api.find(DEPLOYMENTS, "default", f"h1bot-{name}"),
                          message=f"Deployment h1bot-{name}")


def test_an_exec_plugin_kubeconfig(api, tmp_path):
    (tmp_path / "token").write_text("gke-token")
    log = tmp_path / "runs"
    kubeconfig = api.write_kubeconfig(tmp_path / "config", exec_user(tmp_path / "token", 3600, log=log))
    api.accept_tokens("gke-token")
    deployment = reconciled(api, kubeconfig, "helpdesk")
    assert deployment["metadata"]["ownerReferences"][0]["name"] == "helpdesk"
    assert api.unauthorized == []
    assert len(log.read_text().splitlines()) >= 2  # kopf's login and the reconciles' client both ran the plugin


def test_a_token_file_kubeconfig(api, tmp_path):
    (tmp_path / "token").write_text("file-token\n")
    kubeconfig = api.write_kubeconfig(tmp_path / "config", {"tokenFile": "token"})  # relative to the kubeconfig
    api.accept_tokens("file-token")
    reconciled(api, kubeconfig, "helpdesk")
    assert api.unauthorized == []


def test_two_kubeconfig_files_cluster_in_one_user_and_context_in_the_other(api, tmp_path):
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [
        {"name": "kmock", "cluster": {"server": api.url}}]}))
    (tmp_path / "token").write_text("two-files")
    users = tmp_path / "users.yaml"
    users.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
        "users": [{"name": "me", "user": exec_user(tmp_path / "token")}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "me", "namespace": "default"}}]}))
    api.accept_tokens("two-files")
    reconciled(api, f"{clusters}:{users}", "helpdesk")
    assert api.unauthorized == []


def test_the_operator_keeps_working_when_its_token_expires_and_rotates(api, tmp_path):
    token, log = tmp_path / "token", tmp_path / "runs"
    token.write_text("first")
    api.accept_tokens("first")
    kubeconfig = api.write_kubeconfig(tmp_path / "config", exec_user(token, 2.0, log=log))
    api.apply(secret("creds"))
    api.apply(slackbot("before", "creds"))
    with OperatorThread(kubeconfig, operator_settings()):
        wait_until(lambda: api.find(DEPLOYMENTS, "default", "h1bot-before"), message="the first bot")
        token.write_text("second")  # the identity provider issues a new token; the old one stops working
        api.accept_tokens("second")
        api.call(lambda: api.emulator.drop_watches())  # open watches end (their timeout): kopf reconnects
        api.apply(slackbot("after", "creds"))
        wait_until(lambda: api.find(DEPLOYMENTS, "default", "h1bot-after"),
                   message="the bot created after the rotation")
        api.apply(slackbot("later", "creds"))  # and the watches work with the new token too
        wait_until(lambda: api.find(DEPLOYMENTS, "default", "h1bot-later"),
                   message="another bot on the renewed watches")
    tokens = [json.loads(line)["token"] for line in log.read_text().splitlines()]
    assert tokens[0] == "first" and "second" in tokens


def test_the_operator_renews_an_expiring_token_before_the_server_refuses_it(api, tmp_path):
    """kopf knows the credential's expiration and logs in again; the reconciles' client renews it ahead of time:
    the API server never has to answer 401."""
    def rfc3339(moment: datetime.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    token, log = tmp_path / "token", tmp_path / "runs"
    first_expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)  # after start-up
    token.write_text(f"first {rfc3339(first_expiry)}")  # every "first" token expires then
    api.accept_tokens("first", "second")  # while the identity provider switches over, both are valid
    kubeconfig = api.write_kubeconfig(tmp_path / "config", exec_user(token, log=log))
    api.apply(secret("creds"))
    api.apply(slackbot("before", "creds"))
    with OperatorThread(kubeconfig, operator_settings()):
        wait_until(lambda: api.find(DEPLOYMENTS, "default", "h1bot-before"), message="the first bot")
        token.write_text(f"second {rfc3339(first_expiry + datetime.timedelta(hours=1))}")
        wait_until(lambda: datetime.datetime.now(datetime.UTC) > first_expiry, timeout=10,
                   message="the first token's expiry")
        api.accept_tokens("second")
        api.call(lambda: api.emulator.drop_watches())  # kopf's watches reconnect: with what?
        api.apply(slackbot("after", "creds"))
        wait_until(lambda: api.find(DEPLOYMENTS, "default", "h1bot-after"),
                   message="the bot created after the first token expired")
    assert api.unauthorized == []
    assert [json.loads(line)["token"] for line in log.read_text().splitlines()][-1] == "second"


def test_a_missing_exec_plugin_stops_the_operator_with_a_message_naming_it(api, tmp_path):
    hint = "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin"
    kubeconfig = api.write_kubeconfig(tmp_path / "config", {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "gke-gcloud-auth-plugin",
        "installHint": hint, "provideClusterInfo": True}})
    operator = str(Path(sys.executable).with_name("h1bot-operator"))
    result = subprocess.run([operator, "-A", "--liveness=", "--metrics-port=0"], capture_output=True, text=True,
                            timeout=60, env={"PATH": str(tmp_path), "KUBECONFIG": str(kubeconfig),
                                             "LOG_FORMAT": "text"})
    assert result.returncode == 1
    assert result.stderr.startswith("h1bot-operator: the exec plugin 'gke-gcloud-auth-plugin' of kubeconfig user "
                                    "'kmock' was not found on PATH; install it or fix users[kmock].user.exec.command")
    assert result.stderr.rstrip().endswith(hint) and "Traceback" not in result.stderr


@pytest.fixture
def tls_api(tmp_path) -> Iterator[KubeAPI]:
    with KubeAPI(tls=make_pki(tmp_path / "pki")) as kube:
        yield kube


@pytest.mark.parametrize("form", ["files", "inline data", "exec plugin"])
def test_client_certificates_over_tls(tls_api, tmp_path, form):
    """A kubeconfig like kind's or kubeadm's admin.conf: the server's CA and a client certificate, no token."""
    pki = tls_api.tls
    if form == "files":
        user = {"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key)}
    elif form == "inline data":
        user = {"client-certificate-data": b64(pki.client_cert), "client-key-data": b64(pki.client_key)}
    else:  # an ExecCredential with clientCertificateData/clientKeyData, as Teleport's or Pinniped's plugins print
        user = exec_user(None, client_cert=(pki.client_cert, pki.client_key))
    kubeconfig = tls_api.write_kubeconfig(tmp_path / "config", user)
    tls_api.accept_tokens(client_cns=(CLIENT_CN,))
    reconciled(tls_api, kubeconfig, "helpdesk")
    assert tls_api.unauthorized == []


def test_kubectl_and_the_operator_share_an_exec_plugin_kubeconfig_over_tls(tls_api, tmp_path):
    (tmp_path / "token").write_text("gke-token")
    kubeconfig = tls_api.write_kubeconfig(tmp_path / "config", exec_user(tmp_path / "token", 3600))
    tls_api.accept_tokens("gke-token")
    reconciled(tls_api, kubeconfig, "helpdesk")
    assert "h1bot-helpdesk" in kubectl(kubeconfig, "get", "deployments", "-o", "name")  # as the user checks it
    assert tls_api.unauthorized == []
