"""Scenario: wherever kubectl logs in, h1bot does: the kubeconfig(s) and pods a user has, read into the credentials
the `kubernetes` client and kopf use (no API server needed here; tests/kube/test_refresh.py talks to one)."""

import base64
import datetime
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes.client import rest

from h1bot_kube import KubeConfigError, load_credentials
from h1bot_operator.login import connection_info
from tests.fakes.exec_credential import exec_user
from tests.paths import REPO

SERVER = "https://203.0.113.10:6443"
CA_PEM = "-----BEGIN CERTIFICATE-----\nY2EtZm9yLXRlc3Rz\n-----END CERTIFICATE-----\n"
CERT_PEM = "-----BEGIN CERTIFICATE-----\nY2xpZW50LWNlcnQ=\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nY2xpZW50LWtleQ==\n-----END PRIVATE KEY-----\n"
GKE_HINT = ("Install gke-gcloud-auth-plugin for use with kubectl by following "
            "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kubeconfig(path: Path, user: dict, cluster: dict | None = None, namespace: str | None = "team-a",
               name: str = "prod") -> Path:
    context = {"cluster": name, "user": name, **({"namespace": namespace} if namespace else {})}
    cluster = cluster or {"server": SERVER, "certificate-authority-data": b64(CA_PEM)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}], "contexts": [{"name": name, "context": context}]}))
    return path


def test_a_gke_style_exec_plugin_gives_a_token_that_expires(tmp_path):
    (tmp_path / "token").write_text("ya29.exec-token\n")
    path = kubeconfig(tmp_path / "config", exec_user(tmp_path / "token", expires_in=3600, log=tmp_path / "runs",
                                                     provideClusterInfo=True))
    info = connection_info(load_credentials(str(path), env={}))
    assert (info.server, info.scheme, info.token, info.default_namespace) == (
        SERVER, "Bearer", "ya29.exec-token", "team-a")
    assert Path(info.ca_path).read_text() == CA_PEM and info.insecure is False
    remaining = info.expiration - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(minutes=59) < remaining <= datetime.timedelta(hours=1)
    run = json.loads((tmp_path / "runs").read_text())  # told it has no terminal, and which cluster it is for
    assert run == {"token": "ya29.exec-token", "interactive": False, "AWS_PROFILE": None,
                   "expires": run["expires"], "cluster": {"server": SERVER, "certificate-authority-data": b64(CA_PEM)}}
    assert info.expiration == datetime.datetime.fromisoformat(run["expires"])


def test_an_eks_style_plugin_with_its_environment_and_the_v1beta1_protocol(tmp_path):
    (tmp_path / "token").write_text("eks-token")
    user = exec_user(tmp_path / "token", api_version="client.authentication.k8s.io/v1beta1", log=tmp_path / "runs",
                     env=[{"name": "AWS_PROFILE", "value": "platform"}])
    info = connection_info(load_credentials(str(kubeconfig(tmp_path / "config", user)), env={}))
    assert info.token == "eks-token" and info.expiration is None
    assert json.loads((tmp_path / "runs").read_text())["AWS_PROFILE"] == "platform"


def test_a_missing_exec_plugin_names_the_command_and_how_to_install_it(tmp_path):
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "gke-gcloud-auth-plugin",
                     "installHint": GKE_HINT, "provideClusterInfo": True}}
    path = kubeconfig(tmp_path / "config", user)
    with pytest.raises(KubeConfigError) as caught:
        load_credentials(str(path), env={"PATH": str(tmp_path)})
    message = str(caught.value)
    assert "the exec plugin 'gke-gcloud-auth-plugin' of kubeconfig user 'prod' was not found on PATH" in message
    assert GKE_HINT in message


def test_a_failing_exec_plugin_shows_what_it_said(tmp_path):
    script = "import sys; sys.stderr.write('error: the SSO session has expired, run aws sso login'); sys.exit(1)"
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": ["-c", script]}}
    with pytest.raises(KubeConfigError, match=r"failed \(exit 1\): error: the SSO session has expired, run aws sso "
                                              r"login"):
        load_credentials(str(kubeconfig(tmp_path / "config", user)), env={})


def test_client_certificates_from_files_and_inline_data(tmp_path):
    (tmp_path / "pki").mkdir()
    for name, pem in (("ca.crt", CA_PEM), ("client.crt", CERT_PEM), ("client.key", KEY_PEM)):
        (tmp_path / "pki" / name).write_text(pem)
    cluster = {"server": SERVER, "certificate-authority": "pki/ca.crt"}  # relative to the kubeconfig's directory
    files = kubeconfig(tmp_path / "config", {"client-certificate": "pki/client.crt", "client-key": "pki/client.key"},
                       cluster=cluster)
    inline = kubeconfig(tmp_path / "inline", {"client-certificate-data": b64(CERT_PEM),
                                              "client-key-data": b64(KEY_PEM)})
    for path in (files, inline):
        info = connection_info(load_credentials(str(path), env={}))
        assert info.token is None and info.server == SERVER
        assert [Path(p).read_text() for p in (info.ca_path, info.certificate_path, info.private_key_path)] == [
            CA_PEM, CERT_PEM, KEY_PEM]
    assert connection_info(load_credentials(str(files), env={})).certificate_path == str(tmp_path / "pki/client.crt")


def test_a_missing_certificate_file_is_named(tmp_path):
    path = kubeconfig(tmp_path / "config", {"client-certificate": "gone.crt", "client-key": "gone.key"})
    with pytest.raises(KubeConfigError, match=rf"users\[prod\].client-certificate of context 'prod' of {path}: "
                                              rf"{tmp_path}/gone.crt does not exist"):
        load_credentials(str(path), env={})


def test_insecure_skip_tls_verify(tmp_path):
    path = kubeconfig(tmp_path / "config", {"token": "t"}, cluster={"server": SERVER, "insecure-skip-tls-verify": True})
    assert connection_info(load_credentials(str(path), env={})).insecure is True


def test_an_oidc_auth_provider_token(tmp_path):
    """What the `kubernetes` client supports of auth-provider oidc: a valid id-token is used as the bearer token."""
    exp = int((datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).timestamp())
    part = lambda obj: base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")  # noqa: E731
    id_token = f"{part({'alg': 'RS256'})}.{part({'sub': 'alice', 'exp': exp})}.c2lnbmF0dXJl"
    user = {"auth-provider": {"name": "oidc", "config": {"client-id": "kubernetes", "id-token": id_token,
                                                         "idp-issuer-url": "https://issuer.invalid"}}}
    info = connection_info(load_credentials(str(kubeconfig(tmp_path / "config", user)), env={}))
    assert (info.scheme, info.token) == ("Bearer", id_token)


def test_kubeconfig_files_are_merged_like_kubectl_does(tmp_path):
    """$KUBECONFIG=a:b — the cluster in one file, the user and context in another; the first definition and the
    first current-context win; relative paths are relative to the file that holds them."""
    first = tmp_path / "clusters.yaml"
    first.write_text(yaml.safe_dump({"current-context": "dev", "clusters": [
        {"name": "dev", "cluster": {"server": "https://dev.example:6443"}}]}))
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "token").write_text("dev-token\n")
    second = tmp_path / "creds" / "users.yaml"
    second.write_text(yaml.safe_dump({
        "current-context": "other",
        "clusters": [{"name": "dev", "cluster": {"server": "https://shadowed.example"}}],
        "users": [{"name": "me", "user": {"tokenFile": "token"}}],
        "contexts": [{"name": "dev", "context": {"cluster": "dev", "user": "me", "namespace": "dev-ns"}},
                     {"name": "other", "context": {"cluster": "dev", "user": "me"}}]}))
    env = {"KUBECONFIG": f"{first}:{tmp_path / 'missing.yaml'}:{second}"}
    credentials = load_credentials(env=env)
    info = connection_info(credentials)
    assert (info.server, info.token, info.default_namespace) == ("https://dev.example:6443", "dev-token", "dev-ns")
    assert credentials.description == f"context 'dev' of {first}, {second}"
    assert connection_info(load_credentials(context="other", env=env)).default_namespace is None


def test_a_named_context_that_does_not_exist_lists_the_ones_that_do(tmp_path):
    path = kubeconfig(tmp_path / "config", {"token": "t"})
    with pytest.raises(KubeConfigError, match=rf"context 'staging' is not in kubeconfig {path} \(contexts: prod\)"):
        load_credentials(str(path), "staging", env={})


def test_no_credentials_anywhere_says_where_it_looked(tmp_path):
    with pytest.raises(KubeConfigError) as caught:
        load_credentials(env={"HOME": str(tmp_path)})
    assert str(caught.value) == (f"no Kubernetes credentials: not in a pod (KUBERNETES_SERVICE_HOST is not set) and "
                                 f"no kubeconfig at {tmp_path}/.kube/config ($KUBECONFIG is not set)")
    with pytest.raises(KubeConfigError, match=r"none of the files in \$KUBECONFIG exists \(/nowhere/a:/nowhere/b\)"):
        load_credentials(env={"KUBECONFIG": "/nowhere/a:/nowhere/b"})


def test_home_kubeconfig_is_the_default(tmp_path):
    kubeconfig(tmp_path / ".kube" / "config", {"token": "home-token"})
    assert connection_info(load_credentials(env={"HOME": str(tmp_path)})).token == "home-token"


@pytest.fixture
def service_account(tmp_path):
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text("sa-token-1")
    (directory / "ca.crt").write_text(CA_PEM)
    (directory / "namespace").write_text("h1bot-system")
    return directory


def test_in_a_pod_the_service_account_is_used(service_account):
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    credentials = load_credentials(env=env, service_account_dir=str(service_account))
    info = connection_info(credentials)
    assert (info.server, info.token, info.default_namespace, info.ca_path) == (
        "https://10.96.0.1:443", "sa-token-1", "h1bot-system", str(service_account / "ca.crt"))
    (service_account / "token").write_text("sa-token-2")  # the kubelet rotates the projected token
    credentials.refresh(force=True)
    assert credentials.authorization == "Bearer sa-token-2"


def test_a_kubeconfig_named_in_a_pod_wins_over_the_service_account(service_account, tmp_path):
    path = kubeconfig(tmp_path / "config", {"token": "kubeconfig-token"})
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBECONFIG": str(path)}
    assert connection_info(load_credentials(env=env, service_account_dir=str(service_account))).token == (
        "kubeconfig-token")


def test_a_running_process_stays_on_its_context_when_the_current_one_changes(tmp_path):
    path = kubeconfig(tmp_path / "config", {"token": "prod-token"})
    credentials = load_credentials(str(path), env={})
    document = yaml.safe_load(path.read_text())
    document["clusters"].append({"name": "dev", "cluster": {"server": "https://dev.example:6443"}})
    document["users"].append({"name": "dev", "user": {"token": "dev-token"}})
    document["contexts"].append({"name": "dev", "context": {"cluster": "dev", "user": "dev"}})
    document["current-context"] = "dev"  # `kubectl config use-context dev` in another terminal
    path.write_text(yaml.safe_dump(document))
    credentials.refresh(force=True)
    assert (credentials.server, credentials.authorization) == (SERVER, "Bearer prod-token")
    assert load_credentials(str(path), env={}).server == "https://dev.example:6443"  # a new process follows it


def test_an_exec_command_with_a_relative_path_is_relative_to_its_kubeconfig(tmp_path):
    plugin = tmp_path / "bin" / "auth-plugin"
    plugin.parent.mkdir()
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": "rel"}}
    plugin.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(credential))})\n")
    plugin.chmod(0o755)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "./bin/auth-plugin"}}
    assert connection_info(load_credentials(str(kubeconfig(tmp_path / "config", user)), env={})).token == "rel"


def test_a_plugin_that_needs_a_terminal_is_refused_with_the_reason(tmp_path):
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "interactiveMode": "Always"}}
    with pytest.raises(KubeConfigError, match=r"needs a terminal \(interactiveMode: Always\)"):
        load_credentials(str(kubeconfig(tmp_path / "config", user)), env={})


def test_the_production_examples_proxy_leaves_the_api_server_out(service_account, monkeypatch):
    """examples/production/slackbot-gke.yaml sends the bot's traffic through a proxy: the Kubernetes client honours
    HTTPS_PROXY too, so the example's NO_PROXY must name the API server's address (on GKE Autopilot, 34.118.224.1)."""
    example = next(d for d in yaml.safe_load_all((REPO / "examples" / "production" / "slackbot-gke.yaml").read_text())
                   if d["kind"] == "SlackBot")
    pod = {"KUBERNETES_SERVICE_HOST": "34.118.224.1", "KUBERNETES_SERVICE_PORT": "443"}
    for entry in example["spec"]["template"]["env"]:  # what the kubelet puts into the container, $(VAR) expanded
        if entry["name"] in ("HTTPS_PROXY", "NO_PROXY"):
            value = re.sub(r"\$\((\w+)\)", lambda m: pod[m[1]], entry["value"])
            monkeypatch.setenv(entry["name"], value)
    credentials = load_credentials(env=pod, service_account_dir=str(service_account))
    configuration = credentials.configuration
    assert configuration.host == "https://34.118.224.1:443"
    assert configuration.proxy == "http://proxy.corp.example:3128", "the client reads the proxy variables"
    assert rest.should_bypass_proxies(configuration.host, configuration.no_proxy or ""), configuration.no_proxy
