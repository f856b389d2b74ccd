"""Fixtures of the opt-in real-cluster suite (tests/e2e/test_real_cluster*.py): kubectl on the current kube context.

Opt in with H1BOT_REAL_CLUSTER=1 (e.g. after `kind create cluster`). The session applies the repository's CRD
server-side (and leaves it installed: deleting it would delete every SlackBot in the cluster); each test gets its own
throwaway namespace, deleted afterwards, and the operator as a subprocess watching only that namespace.
Fixtures are named with `name=` (cluster, namespace, operator) so a test module imports them without shadowing.
"""

import copy
import dataclasses
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from h1bot_api import CRD_NAME, GROUP, PLURAL
from h1bot_operator.render import child_name
from tests.fakes.kube import REPO, OperatorProcess
from tests.fakes.waiting import wait_until

ENV_FLAG = "H1BOT_REAL_CLUSTER"
BOT_IMAGE_ENV = "H1BOT_REAL_CLUSTER_BOT_IMAGE"
# Never pullable (.invalid is a reserved TLD): the bot pod can never become Ready, whatever the cluster.
DEFAULT_BOT_IMAGE = "registry.invalid/h1bot/h1bot-bot:real-cluster-test"
CRASH_IMAGE_ENV = "H1BOT_REAL_CLUSTER_CRASH_IMAGE"
DEFAULT_CRASH_IMAGE = "docker.io/library/busybox:1.36"  # any image with `sh` (a mirror's, in an air-gapped cluster)
SLACKBOTS = f"{PLURAL}.{GROUP}"  # the fully qualified resource, unambiguous for kubectl
CHILD_KINDS = ("serviceaccount", "role.rbac.authorization.k8s.io", "rolebinding.rbac.authorization.k8s.io",
               "deployment.apps", "poddisruptionbudget.policy")  # examples/slackbot.yaml runs 2 replicas


def skip_reason() -> str | None:
    if os.environ.get(ENV_FLAG) != "1":
        return (f"opt-in real-cluster suite: set {ENV_FLAG}=1 to run it against the current kube context "
                f"(e.g. `kind create cluster && {ENV_FLAG}=1 .venv/bin/pytest -m real_cluster`)")
    if shutil.which("kubectl") is None:
        return "kubectl is not installed"
    return None


@dataclasses.dataclass(frozen=True)
class Kubectl:
    """The real kubectl with one kubeconfig, its own discovery cache and, optionally, a namespace."""

    kubeconfig: Path
    cache_dir: Path
    namespace: str | None = None

    def run(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache_dir}"]
        if self.namespace:
            command.append(f"--namespace={self.namespace}")
        return subprocess.run([*command, *args], input=stdin, capture_output=True, text=True, timeout=timeout)

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
        """stdout of a command that must succeed."""
        result = self.run(*args, stdin=stdin, timeout=timeout)
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        return result.stdout

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self(*args, "--output=json"))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        """The object as stored now, or None when it does not exist."""
        out = self("get", kind, name, "--ignore-not-found", "--output=json")
        return json.loads(out) if out.strip() else None

    def apply(self, objects: Sequence[dict[str, Any]], *flags: str) -> subprocess.CompletedProcess[str]:
        """`kubectl apply -f -` of the objects (not checked: the caller asserts on the outcome)."""
        return self.run("apply", *flags, "--filename=-", stdin=yaml.safe_dump_all(list(objects)))

    def can_i(self, verb: str, resource: str, as_user: str, subresource: str | None = None) -> bool:
        """`kubectl auth can-i` as someone else: True for yes, False for no, an assertion error for anything else."""
        extra = [f"--subresource={subresource}"] if subresource else []
        result = self.run("auth", "can-i", verb, resource, f"--as={as_user}", *extra)
        answer = result.stdout.strip()
        if result.returncode == 0 and answer == "yes":
            return True
        assert result.returncode == 1 and answer.startswith("no"), \
            f"kubectl auth can-i {verb} {resource} ({result.returncode}): {answer!r} {result.stderr}"
        return False

    def table(self, kind: str) -> list[dict[str, str]]:
        """`kubectl get KIND` as the user sees it: one dict per row, header → cell.

        Cells are cut at the header's column starts (an empty cell leaves no word to split on); `<none>` is empty too.
        """
        header, *rows = self("get", kind).splitlines()
        starts = [i for i, char in enumerate(header) if char != " " and (i == 0 or header[i - 1] == " ")]
        bounds = list(zip(starts, [*starts[1:], None], strict=True))
        names = [header[start:end].strip() for start, end in bounds]
        cells = ([row[start:end].strip() for start, end in bounds] for row in rows)
        return [{name: "" if cell == "<none>" else cell for name, cell in zip(names, row, strict=True)}
                for row in cells]

    def in_namespace(self, namespace: str) -> "Kubectl":
        return dataclasses.replace(self, namespace=namespace)


@dataclasses.dataclass(frozen=True)
class Cluster:
    kubectl: Kubectl  # cluster-scoped (no namespace)
    bot_image: str


@dataclasses.dataclass(frozen=True)
class Namespace:
    name: str
    kubectl: Kubectl  # bound to the namespace
    kubeconfig: Path
    bot_image: str


def crd_version() -> dict[str, Any]:
    """The served version of the repository's CRD (crds/), as the API server gets it."""
    (crd,) = yaml.safe_load_all((REPO / "crds" / f"{CRD_NAME}.yaml").read_text())
    (version,) = crd["spec"]["versions"]
    return version


def example(file: str, namespace: str) -> dict[str, Any]:
    """The one object of examples/FILE, moved into the namespace."""
    (obj,) = yaml.safe_load_all((REPO / "examples" / file).read_text())
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = namespace
    return obj


def service_account_user(namespace: str, bot_name: str) -> str:
    """The user name the bot's pods act as (its ServiceAccount), for `--as`."""
    return f"system:serviceaccount:{namespace}:{child_name(bot_name)}"


@pytest.fixture(name="cluster", scope="session")
def cluster_fixture(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    """The current kube context, frozen into one kubeconfig file, with the repository's CRD applied and Established."""
    workdir = tmp_path_factory.mktemp("real-cluster")
    view = subprocess.run(["kubectl", "config", "view", "--minify", "--flatten", "--raw"], capture_output=True,
                          text=True, timeout=30)
    if view.returncode != 0 or not yaml.safe_load(view.stdout or "{}").get("current-context"):
        pytest.fail(f"{ENV_FLAG}=1 but there is no current kube context: {view.stderr.strip()}")
    kubeconfig = workdir / "kubeconfig"
    kubeconfig.write_text(view.stdout)
    kubeconfig.chmod(0o600)
    setup = Kubectl(kubeconfig, workdir / "cache-setup")
    reachable = setup.run("get", "--raw=/readyz", timeout=30)
    if reachable.returncode != 0:
        pytest.fail(f"{ENV_FLAG}=1 but the cluster of the current context is not reachable: {reachable.stderr}")
    setup("apply", "--server-side", "--force-conflicts", "--field-manager=h1bot-real-cluster-tests",
          f"--filename={REPO / 'crds'}")
    setup("wait", "--for=condition=Established", f"customresourcedefinition/{CRD_NAME}", "--timeout=60s")
    # A fresh discovery cache, made after the CRD exists: `sb` resolves at once.
    return Cluster(Kubectl(kubeconfig, workdir / "cache"), os.environ.get(BOT_IMAGE_ENV) or DEFAULT_BOT_IMAGE)


@pytest.fixture(name="namespace")
def namespace_fixture(cluster: Cluster) -> Iterator[Namespace]:
    """A throwaway namespace; deleted (without waiting for its finalization) after the test."""
    name = f"h1bot-e2e-{uuid.uuid4().hex[:8]}"
    manifest = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "h1bot-real-cluster-tests"}}}
    created = cluster.kubectl.apply([manifest])
    assert created.returncode == 0, created.stderr
    try:
        yield Namespace(name, cluster.kubectl.in_namespace(name), cluster.kubectl.kubeconfig, cluster.bot_image)
    finally:
        cluster.kubectl.run("delete", "namespace", name, "--ignore-not-found", "--wait=false")


@pytest.fixture(name="operator")
def operator_fixture(namespace: Namespace, tmp_path: Path) -> Iterator[OperatorProcess]:
    """`h1bot-operator -n NAMESPACE --bot-image IMAGE` as a subprocess, ready once its liveness endpoint answers.

    Its log is printed at teardown (pytest shows it for a failed test).
    """
    process = OperatorProcess(namespace.kubeconfig, args=("-n", namespace.name, f"--bot-image={namespace.bot_image}"),
                              env={"H1BOT_PEERING": "", "LOG_FORMAT": "text"}, log_path=tmp_path / "operator.log")
    process.start(timeout=60)
    try:
        yield process
    finally:
        process.stop()
        print(f"--- operator log ({process.log_path}) ---\n{process.log()}")


def wait_gone(kubectl: Kubectl, kind: str, name: str, timeout: float) -> None:
    wait_until(lambda: kubectl.get(kind, name) is None, timeout=timeout, interval=0.5, message=f"{kind}/{name} gone")


def service_account_kubeconfig(ns: Namespace, account: str, path: Path) -> Path:
    """A kubeconfig for the current context's cluster that logs in as ServiceAccount `account` of the namespace with a
    short-lived token (`kubectl create token`): what it reads gets the API server's own RBAC for that account."""
    token = ns.kubectl("create", "token", account, "--duration=10m").strip()
    config = yaml.safe_load(ns.kubeconfig.read_text())
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["cluster"])
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": account, "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": account,
                                                   "namespace": ns.name}}]}))
    path.chmod(0o600)
    return path


def crashing_deployment(name: str, image: str, last_words: str) -> dict[str, Any]:
    """One pod whose container prints `last_words` and exits 1, again and again (restricted Pod Security holds)."""
    container = {"name": "app", "image": image, "command": ["sh", "-c", f"echo starting; echo '{last_words}'; exit 1"],
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "16Mi"}},
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "allowPrivilegeEscalation": False,
                                     "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [container], "terminationGracePeriodSeconds": 1}}}}


def backoff_seconds(message: str) -> int | None:
    """The back-off of a CrashLoopBackOff from the kubelet's waiting message (`back-off 20s restarting failed
    container=app pod=...`, `Back-off` in older kubelets; Go durations such as `1m20s`), or None."""
    match = re.search(r"back-off (?:(\d+)m)?(?:(\d+)s)? restarting", message, re.IGNORECASE)
    if match is None or not any(match.groups()):
        return None
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def freshly_crash_looping(kubectl: Kubectl, app: str, at_least: int = 20, timeout: float = 180) -> str:
    """The pod of Deployment `app` just after its container entered a CrashLoopBackOff of at least `at_least` seconds
    (seen as a new restart count while it waits, its crashed container's log kept): the state then holds for lookups
    made in the next seconds, however the container alternates between crashing and waiting."""
    first_seen: dict[str, int] = {}

    def fresh() -> str | None:
        for pod in kubectl.json("get", "pods", f"--selector=app={app}")["items"]:
            name = pod["metadata"]["name"]
            for status in (pod.get("status") or {}).get("containerStatuses") or ():
                waiting = (status.get("state") or {}).get("waiting") or {}
                crashed = (status.get("lastState") or {}).get("terminated") or {}
                if waiting.get("reason") != "CrashLoopBackOff" or not crashed.get("containerID"):
                    continue
                restarts = int(status.get("restartCount") or 0)
                if restarts > first_seen.setdefault(name, restarts):
                    if (backoff_seconds(waiting.get("message") or "") or 0) >= at_least:
                        return name
                    first_seen[name] = restarts  # a short back-off: wait for the next, longer one
        return None
    return wait_until(fresh, timeout=timeout, interval=0.5,
                      message=f"a pod of {app} entering a CrashLoopBackOff of at least {at_least}s")


def reconciled(kubectl: Kubectl, name: str, generation: int | None = None) -> dict[str, Any]:
    """The SlackBot once the operator has written its status for `generation` (default: the current one)."""
    def done() -> dict[str, Any] | None:
        bot = kubectl.get(SLACKBOTS, name)
        wanted = generation or (bot or {}).get("metadata", {}).get("generation")
        status = (bot or {}).get("status") or {}
        return bot if wanted and status.get("observedGeneration", 0) >= wanted and status.get("conditions") else None
    return wait_until(done, timeout=30, interval=0.5, message=f"the operator's status for SlackBot {name}")
