"""Exec credential plugins (`users[].user.exec`): gke-gcloud-auth-plugin, `aws eks get-token`, kubelogin, ...

Runs the command as kubectl does (its `env` added, `KUBERNETES_EXEC_INFO` describing the request, the cluster when
`provideClusterInfo` is set) and reads the `ExecCredential` it prints: a token or a client certificate and key,
and when the credential expires. Every failure says which command failed and how to fix it (`installHint`).
"""

import base64
import datetime
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from h1bot_kube.kubeconfig import KubeConfigError

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
TIMEOUT_SECONDS = 60.0
_STDERR_LIMIT = 1000


@dataclass(frozen=True)
class ExecCredential:
    token: str | None = None
    client_certificate_data: str | None = None  # PEM
    client_key_data: str | None = None  # PEM
    expiration: datetime.datetime | None = None  # timezone-aware; None: valid until the server says 401

    def as_user_fields(self) -> dict[str, str]:
        """The static kubeconfig user fields that carry this credential (`*-data` are base64, as in kubeconfigs)."""
        if self.token:
            return {"token": self.token}
        return {"client-certificate-data": base64.b64encode(self.client_certificate_data.encode()).decode(),
                "client-key-data": base64.b64encode(self.client_key_data.encode()).decode()}


def parse_timestamp(value: str) -> datetime.datetime:
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _cluster_info(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """`spec.cluster` of the ExecCredential (provideClusterInfo): the kubeconfig's cluster fields, same names."""
    keys = ("server", "certificate-authority-data", "tls-server-name", "proxy-url", "insecure-skip-tls-verify")
    info: dict[str, Any] = {key: cluster[key] for key in keys if cluster.get(key) is not None}
    for extension in cluster.get("extensions") or ():
        if isinstance(extension, dict) and extension.get("name") == "client.authentication.k8s.io/exec":
            info["config"] = extension.get("extension")
    return info


def _hint(exec_config: Mapping[str, Any]) -> str:
    hint = str(exec_config.get("installHint") or "").strip()
    return f". {hint}" if hint else ""  # one line: log lines and start-up errors keep it


def resolve_command(exec_config: Mapping[str, Any], env: Mapping[str, str], user: str) -> str:
    command = str(exec_config.get("command") or "")
    if not command:
        raise KubeConfigError(f"the exec plugin of kubeconfig user {user!r} names no command")
    if "/" in command:
        found = command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    else:
        found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        where = "" if "/" in command else " on PATH"
        raise KubeConfigError(f"the exec plugin {command!r} of kubeconfig user {user!r} was not found{where}; "
                              f"install it or fix users[{user}].user.exec.command{_hint(exec_config)}")
    return found


def run_exec_plugin(exec_config: Mapping[str, Any], cluster: Mapping[str, Any], user: str,
                    env: Mapping[str, str] | None = None) -> ExecCredential:
    """Run the plugin of kubeconfig user `user` and return its credential; KubeConfigError when it fails."""
    api_version = exec_config.get("apiVersion") or ""
    if api_version not in API_VERSIONS:
        raise KubeConfigError(f"users[{user}].user.exec.apiVersion must be one of {', '.join(API_VERSIONS)}, "
                              f"not {api_version!r}")
    process_env = dict(os.environ if env is None else env)
    process_env.update({str(e["name"]): str(e.get("value", "")) for e in exec_config.get("env") or ()
                        if isinstance(e, dict) and e.get("name")})
    path = resolve_command(exec_config, process_env, user)
    command = str(exec_config["command"])  # as the kubeconfig names it, in messages
    if exec_config.get("interactiveMode") == "Always":
        raise KubeConfigError(f"the exec plugin {command!r} of kubeconfig user {user!r} needs a terminal "
                              "(interactiveMode: Always); this process has none: use a plugin mode or a credential "
                              "that works unattended")
    spec: dict[str, Any] = {"interactive": False}
    if exec_config.get("provideClusterInfo"):
        spec["cluster"] = _cluster_info(cluster)
    process_env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": api_version, "kind": "ExecCredential",
                                                      "spec": spec})
    args = [path, *(str(a) for a in exec_config.get("args") or ())]
    try:
        result = subprocess.run(args, env=process_env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise KubeConfigError(f"the exec plugin {command!r} of kubeconfig user {user!r} did not answer in "
                              f"{TIMEOUT_SECONDS:.0f}s") from None
    except OSError as exc:
        raise KubeConfigError(f"cannot run the exec plugin {command!r} of kubeconfig user {user!r}: "
                              f"{exc}{_hint(exec_config)}") from exc
    if result.returncode != 0:
        stderr = " ".join(result.stderr.split())[-_STDERR_LIMIT:]  # one line, the end of it (the reason)
        raise KubeConfigError(f"the exec plugin {command!r} of kubeconfig user {user!r} failed (exit "
                              f"{result.returncode}){': ' + stderr if stderr else ''}")
    return parse_exec_credential(result.stdout, api_version, f"the exec plugin {command!r}")


def parse_exec_credential(output: str, api_version: str, source: str) -> ExecCredential:
    try:
        document = json.loads(output)
    except ValueError as exc:
        raise KubeConfigError(f"{source} printed no ExecCredential JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("kind") != "ExecCredential":
        raise KubeConfigError(f"{source} printed something else than an ExecCredential")
    if document.get("apiVersion") != api_version:
        raise KubeConfigError(f"{source} answered {document.get('apiVersion')!r}, the kubeconfig asks for "
                              f"{api_version!r}")
    status = document.get("status") or {}
    expiration = None
    if status.get("expirationTimestamp"):
        try:
            expiration = parse_timestamp(str(status["expirationTimestamp"]))
        except ValueError:
            raise KubeConfigError(f"{source} gave an unreadable expirationTimestamp "
                                  f"{status['expirationTimestamp']!r}") from None
    if status.get("token"):
        return ExecCredential(token=str(status["token"]), expiration=expiration)
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        return ExecCredential(client_certificate_data=str(status["clientCertificateData"]),
                              client_key_data=str(status["clientKeyData"]), expiration=expiration)
    raise KubeConfigError(f"{source} gave neither a token nor a client certificate and key")
