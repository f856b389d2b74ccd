"""Kubeconfig files read the way kubectl reads them.

`$KUBECONFIG` may list several files (`:`-separated; missing ones are skipped): the first file to define a cluster,
user or context by name wins, and so does the first `current-context`. Relative paths in a file (certificates, keys,
token files, an exec command with a `/`) are relative to that file's directory. The result is one `Context`: the
cluster and user entries it names, ready for credentials.py.
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_CLUSTER_PATHS = ("certificate-authority",)
_USER_PATHS = ("client-certificate", "client-key", "tokenFile")


class KubeConfigError(Exception):
    """No usable credentials: the message says where we looked and what to fix."""


@dataclass(frozen=True)
class Context:
    """The chosen context of the merged kubeconfig(s)."""

    name: str
    cluster_name: str
    cluster: dict[str, Any]
    user_name: str
    user: dict[str, Any]
    namespace: str | None
    files: tuple[str, ...] = field(default=())

    @property
    def description(self) -> str:
        return f"context {self.name!r} of {', '.join(self.files)}"


def kubeconfig_files(explicit: str | None, env: Mapping[str, str]) -> tuple[list[Path], str]:
    """The files to read, in order, and a phrase saying where they came from (for error messages).

    An explicit path (`--kubeconfig`) must exist; of `$KUBECONFIG`'s list the existing files are used, like kubectl.
    """
    if explicit:
        paths = [Path(p).expanduser() for p in explicit.split(os.pathsep) if p]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise KubeConfigError(f"the kubeconfig {', '.join(missing)} does not exist")
        return paths, f"kubeconfig {explicit}"
    listed = env.get("KUBECONFIG", "")
    if listed:
        paths = [Path(p).expanduser() for p in listed.split(os.pathsep) if p]
        existing = [p for p in paths if p.is_file()]
        if not existing:
            raise KubeConfigError(f"none of the files in $KUBECONFIG exists ({listed})")
        return existing, f"$KUBECONFIG ({listed})"
    default = Path(env.get("HOME") or os.path.expanduser("~")) / ".kube" / "config"
    if not default.is_file():
        raise KubeConfigError(f"no kubeconfig at {default} ($KUBECONFIG is not set)")
    return [default], f"kubeconfig {default}"


def read_documents(paths: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    documents = []
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KubeConfigError(f"cannot read the kubeconfig {path}: {exc}") from exc
        if not isinstance(document, dict):
            raise KubeConfigError(f"the kubeconfig {path} is not a YAML mapping")
        documents.append((path, document))
    return documents


def _absolute(entry: dict[str, Any], keys: Sequence[str], base: Path) -> dict[str, Any]:
    entry = dict(entry)
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            entry[key] = str(base / os.path.expanduser(value))
    return entry


def _resolved(kind: str, entry: dict[str, Any], base: Path) -> dict[str, Any]:
    if kind == "clusters":
        return _absolute(entry, _CLUSTER_PATHS, base)
    if kind == "users":
        entry = _absolute(entry, _USER_PATHS, base)
        exec_config = entry.get("exec")
        if isinstance(exec_config, dict) and "/" in str(exec_config.get("command") or ""):
            entry["exec"] = _absolute(exec_config, ("command",), base)
        return entry
    return dict(entry)


def merge(documents: Sequence[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """kubectl's merge: the first definition of each named cluster/user/context wins, and the first current-context.
    Relative paths are made absolute against the directory of the file that defined them."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": ""}
    for path, document in documents:
        base = path.parent.resolve()
        for kind, payload in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for item in document.get(kind) or ():
                if isinstance(item, dict) and item.get("name") and item["name"] not in merged[kind]:
                    merged[kind][item["name"]] = _resolved(kind, item.get(payload) or {}, base)
        if not merged["current-context"] and document.get("current-context"):
            merged["current-context"] = document["current-context"]
    return merged


def select_context(merged: dict[str, Any], context: str | None, where: str,
                   files: Sequence[Path] = ()) -> Context:
    """The named context, else the current one; errors name what is missing and where we looked."""
    name = context or merged["current-context"]
    if not name:
        known = ", ".join(sorted(merged["contexts"])) or "none"
        raise KubeConfigError(f"{where} sets no current-context (contexts: {known}); run `kubectl config "
                              f"use-context NAME` or name a context")
    entry = merged["contexts"].get(name)
    if entry is None:
        known = ", ".join(sorted(merged["contexts"])) or "none"
        raise KubeConfigError(f"context {name!r} is not in {where} (contexts: {known})")
    cluster_name, user_name = entry.get("cluster") or "", entry.get("user") or ""
    if cluster_name not in merged["clusters"]:
        raise KubeConfigError(f"context {name!r} names cluster {cluster_name!r}, which is not in {where}")
    if user_name and user_name not in merged["users"]:
        raise KubeConfigError(f"context {name!r} names user {user_name!r}, which is not in {where}")
    cluster = merged["clusters"][cluster_name]
    if not cluster.get("server"):
        raise KubeConfigError(f"cluster {cluster_name!r} of {where} has no server")
    return Context(name=name, cluster_name=cluster_name, cluster=cluster, user_name=user_name,
                   user=merged["users"].get(user_name, {}), namespace=entry.get("namespace") or None,
                   files=tuple(str(p) for p in files))


def load_context(explicit: str | None, context: str | None, env: Mapping[str, str]) -> Context:
    files, where = kubeconfig_files(explicit, env)
    return select_context(merge(read_documents(files)), context, where, files)
