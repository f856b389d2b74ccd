"""Credentials for one API server, built once and kept fresh, for the `kubernetes` client and for kopf.

Where they come from, in order: an explicitly named kubeconfig; else `$KUBECONFIG` when it is set; else the pod's
service account when running in a pod; else ~/.kube/config. Of a kubeconfig, the current context (or the named one).

The `kubernetes` package does the TLS plumbing and the static user fields (token, client certificate files or data,
basic auth, auth-provider oidc/gcp). What it gets wrong for a long-running process is handled here: exec plugins
(their errors were only logged, their expiry ignored), token files (re-read every minute, like client-go, so rotated
tokens are picked up), kubectl's merge of several files (the first current-context wins), and a 401 (the credentials
are loaded again and the request retried once).
"""

import copy
import dataclasses
import datetime
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client import rest
from kubernetes.config.incluster_config import InClusterConfigLoader

from h1bot_kube.exec_plugin import run_exec_plugin
from h1bot_kube.kubeconfig import Context, KubeConfigError, load_context

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
FILE_TOKEN_LIFETIME = datetime.timedelta(minutes=1)  # token files are re-read this often
EXPIRY_MARGIN = datetime.timedelta(minutes=1)  # refresh this long before an expiring credential expires
_COPIED = ("host", "ssl_ca_cert", "cert_file", "key_file", "verify_ssl", "tls_server_name", "proxy")
_TLS = ("ssl_ca_cert", "cert_file", "key_file", "verify_ssl", "tls_server_name", "proxy")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Loaded:
    """One reading of the credentials."""

    configuration: kubernetes.client.Configuration
    namespace: str | None
    expiration: datetime.datetime | None  # the credential's own expiry (exec plugins)
    refresh_at: datetime.datetime | None  # when to load again without being asked (None: only after a 401)


class Credentials:
    """The credentials of one source, with a `Configuration` that stays fresh for every ApiClient made from it.

    `configuration` is one object for the life of the process: each refresh updates it in place (the `kubernetes`
    client calls `refresh_api_key_hook` before each request). kopf gets a fresh `ConnectionInfo` at each login
    (h1bot_operator/login.py).
    """

    def __init__(self, load: Callable[[], Loaded], description: str) -> None:
        self._load, self.description = load, description
        self._lock = threading.Lock()
        self.generation = 0  # moves when TLS material changes: clients rebuild their connection pools
        self.configuration = kubernetes.client.Configuration()
        self._apply(load())
        self.configuration.refresh_api_key_hook = lambda _: self.refresh()

    def _apply(self, loaded: Loaded) -> None:
        tls_before = tuple(getattr(self.configuration, key, None) for key in _TLS)
        for key in _COPIED:
            setattr(self.configuration, key, getattr(loaded.configuration, key))
        api_key = dict(loaded.configuration.api_key)
        scheme, _, token = api_key.get("BearerToken", "").partition(" ")
        if scheme.lower() == "bearer" and token:  # the in-cluster loader writes `bearer`
            api_key["BearerToken"] = f"Bearer {token}"
        self.configuration.api_key = api_key  # one assignment: other threads see the old or the new key
        self.configuration.api_key_prefix = dict(loaded.configuration.api_key_prefix)
        if tuple(getattr(self.configuration, key, None) for key in _TLS) != tls_before:
            self.generation += 1
        self.namespace, self.expiration, self._refresh_at = loaded.namespace, loaded.expiration, loaded.refresh_at

    def refresh(self, force: bool = False) -> None:
        """Load again when forced (after a 401) or when due; raises KubeConfigError when that fails."""
        if not force and (self._refresh_at is None or _now() < self._refresh_at):
            return
        with self._lock:
            if force or (self._refresh_at is not None and _now() >= self._refresh_at):
                self._apply(self._load())

    @property
    def server(self) -> str:
        return self.configuration.host

    @property
    def authorization(self) -> str | None:
        """The Authorization header value (`Bearer ...`, `Basic ...`), or None for client certificates only."""
        return self.configuration.api_key.get("BearerToken") or None

    def api_client(self) -> "ApiClient":
        return ApiClient(self)

    def __repr__(self) -> str:  # never the token
        return f"Credentials({self.description}, server={self.server})"


class ApiClient(kubernetes.client.ApiClient):
    """The `kubernetes` ApiClient, with the Credentials' refreshes: a 401 loads them again and retries once."""

    def __init__(self, credentials: Credentials) -> None:
        super().__init__(credentials.configuration)
        self.credentials = credentials
        self._generation = credentials.generation

    def _follow_tls(self) -> None:
        if self._generation != self.credentials.generation:
            self._generation = self.credentials.generation
            self.rest_client = rest.RESTClientObject(self.configuration)

    def call_api(self, method, url, header_params=None, body=None, post_params=None,
                 _request_timeout=None) -> rest.RESTResponse:
        self.credentials.refresh()  # also for client certificates, which never reach refresh_api_key_hook
        self._follow_tls()
        response = super().call_api(method, url, header_params, body, post_params, _request_timeout)
        if response.status != 401:
            return response
        response.read()  # give the connection back
        self.credentials.refresh(force=True)
        self._follow_tls()
        headers = {k: v for k, v in (header_params or {}).items() if k.lower() != "authorization"}
        if self.credentials.authorization:
            headers["authorization"] = self.credentials.authorization
        return super().call_api(method, url, headers, body, post_params, _request_timeout)


# --- sources -----------------------------------------------------------------------------------------------------
def in_cluster(env: Mapping[str, str], service_account_dir: str = SERVICE_ACCOUNT_DIR) -> bool:
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and (Path(service_account_dir) / "token").is_file()


def load_in_cluster(env: Mapping[str, str], service_account_dir: str = SERVICE_ACCOUNT_DIR) -> Loaded:
    """The pod's service account: the API server from KUBERNETES_SERVICE_HOST/PORT, its token file and CA."""
    directory = Path(service_account_dir)
    configuration = kubernetes.client.Configuration()
    try:
        InClusterConfigLoader(token_filename=str(directory / "token"), cert_filename=str(directory / "ca.crt"),
                              try_refresh_token=False, environ=env).load_and_set(configuration)
    except kubernetes.config.ConfigException as exc:
        raise KubeConfigError(f"cannot use the pod's service account ({directory}): {exc}") from exc
    namespace_file = directory / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else None
    return Loaded(configuration, namespace or None, None, _now() + FILE_TOKEN_LIFETIME)


def _check_files(context: Context) -> None:
    for part, entry, keys in (("clusters", context.cluster, ("certificate-authority",)),
                              ("users", context.user, ("client-certificate", "client-key", "tokenFile"))):
        name = context.cluster_name if part == "clusters" else context.user_name
        for key in keys:
            if entry.get(key) and not Path(entry[key]).is_file():
                raise KubeConfigError(f"{part}[{name}].{key} of {context.description}: {entry[key]} does not exist")


def load_from_context(context: Context, env: Mapping[str, str] | None = None,
                      refreshed: dict[str, Any] | None = None) -> Loaded:
    """Run the exec plugin or read the token file, then let the `kubernetes` package build the Configuration.

    `refreshed` carries an auth-provider's tokens from one load to the next: the `kubernetes` package refreshes an
    expired oidc id-token with the refresh token, and identity providers that rotate refresh tokens accept each one
    once. We never write the kubeconfig, so the refreshed tokens are kept here as long as the file still holds what
    it held when they were made (a new `kubectl` login in the file wins)."""
    _check_files(context)
    user: dict[str, Any] = copy.deepcopy(context.user)
    in_file = copy.deepcopy((user.get("auth-provider") or {}).get("config"))
    if refreshed is not None and in_file is not None and refreshed.get("in_file") == in_file:
        user["auth-provider"]["config"] = copy.deepcopy(refreshed["config"])
    expiration, refresh_at = None, None
    static = ("token", "auth-provider", "client-certificate", "client-certificate-data", "username")
    if user.get("tokenFile") and not user.get("token"):
        token = Path(user.pop("tokenFile")).read_text().strip()
        if not token:
            raise KubeConfigError(f"users[{context.user_name}].tokenFile of {context.description} is empty")
        user["token"], refresh_at = token, _now() + FILE_TOKEN_LIFETIME
    elif user.get("exec") and not any(user.get(key) for key in static):
        credential = run_exec_plugin(user.pop("exec"), context.cluster, context.user_name, env)
        user.update(credential.as_user_fields())
        expiration = credential.expiration
        if expiration is not None:
            refresh_at = expiration - min(EXPIRY_MARGIN, max(expiration - _now(), datetime.timedelta(0)) / 4)
    document = {"apiVersion": "v1", "kind": "Config", "current-context": "ctx",
                "contexts": [{"name": "ctx", "context": {"cluster": "cluster", "user": "user"}}],
                "clusters": [{"name": "cluster", "cluster": context.cluster}],
                "users": [{"name": "user", "user": user}]}
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config_from_dict(document, client_configuration=configuration,
                                                     persist_config=False)
    except Exception as exc:  # ConfigException, a file, an identity provider's refusal (oauthlib, requests) ...
        raise KubeConfigError(f"cannot use {context.description}: {exc}") from exc
    if refreshed is not None and in_file is not None:
        refreshed.update(in_file=in_file, config=copy.deepcopy(user["auth-provider"].get("config")))
    return Loaded(configuration, context.namespace, expiration, refresh_at)


def load_credentials(kubeconfig: str | None = None, context: str | None = None, *,
                     env: Mapping[str, str] | None = None,
                     service_account_dir: str = SERVICE_ACCOUNT_DIR) -> Credentials:
    """Credentials from `kubeconfig` (a path, or several joined by `:`), else $KUBECONFIG when set, else the pod's
    service account, else ~/.kube/config; from `context` or the current one. The environment is read now."""
    env = os.environ if env is None else env
    if kubeconfig is None and not env.get("KUBECONFIG") and in_cluster(env, service_account_dir):
        return Credentials(lambda: load_in_cluster(env, service_account_dir),
                           f"the pod's service account ({service_account_dir})")
    try:
        chosen = load_context(kubeconfig, context, env)
    except KubeConfigError as exc:
        if kubeconfig is None and not env.get("KUBECONFIG"):
            pod = ("KUBERNETES_SERVICE_HOST is not set" if not env.get("KUBERNETES_SERVICE_HOST")
                   else f"no service account token in {service_account_dir}")
            raise KubeConfigError(f"no Kubernetes credentials: not in a pod ({pod}) and {exc}") from None
        raise

    refreshed: dict[str, Any] = {}

    def load() -> Loaded:  # the files are read again at each refresh (a rewritten kubeconfig is picked up), but
        try:                # always for the context chosen now: `kubectl config use-context` never moves us
            again = load_context(kubeconfig, chosen.name, env)
        except KubeConfigError:
            again = chosen  # gone for a moment (a Secret volume being updated): keep what we had
        return load_from_context(again, env, refreshed)
    return Credentials(load, chosen.description)
