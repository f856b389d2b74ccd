"""The user's scenarios against a REAL cluster (opt-in: H1BOT_REAL_CLUSTER=1, current kube context, e.g. kind).

What kmock cannot show: the API server's admission (OpenAPI schema, CEL rules, required fields), RBAC as the bot's
ServiceAccount, garbage collection of owned children, the real status subresource and generation, real defaulting
(the operator must not fight it and roll the bot for nothing). Fixtures: tests/e2e/real_cluster.py.
"""

import base64
import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from h1bot_api import GROUP, SHORT_NAME, SINGULAR
from h1bot_api import status as api
from h1bot_api.botenv import OWNED_ENV_MESSAGE
from h1bot_api.spec import SlackBotSpec
from h1bot_operator.render import CHECKSUM_ANNOTATION, child_name, owner_reference
from h1bot_operator.secret_refs import references
from tests.e2e.real_cluster import (
    CHILD_KINDS,
    SLACKBOTS,
    Kubectl,
    Namespace,
    cluster_fixture,  # noqa: F401  (fixture)
    crd_version,
    example,
    namespace_fixture,  # noqa: F401  (fixture)
    operator_fixture,  # noqa: F401  (fixture)
    reconciled,
    service_account_user,
    skip_reason,
    wait_gone,
)
from tests.fakes.kube import OperatorProcess
from tests.fakes.waiting import wait_until

pytestmark = [pytest.mark.real_cluster, pytest.mark.timeout(90),
              pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]

COLUMNS = ["NAME", *(column["name"].upper() for column in crd_version()["additionalPrinterColumns"]
                     if not column.get("priority"))]  # priority 1: only with -o wide


# --- steps a user takes ---------------------------------------------------------------------------------------------
def apply_examples(ns: Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """`kubectl apply` of examples/secret.yaml and examples/slackbot.yaml, moved into the test's namespace."""
    secret, bot = example("secret.yaml", ns.name), example("slackbot.yaml", ns.name)
    applied = ns.kubectl.apply([secret, bot])
    assert applied.returncode == 0, applied.stderr
    assert f"{SINGULAR}.{GROUP}/{bot['metadata']['name']} created" in applied.stdout, applied.stdout
    return secret, bot


def conditions(bot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (bot.get("status") or {}).get("conditions") or ()}


def deployment_of(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return wait_until(lambda: kubectl.get("deployment.apps", child_name(name)), timeout=30, interval=0.5,
                      message=f"Deployment {child_name(name)}")


def checksum(deployment: dict[str, Any]) -> str:
    return deployment["spec"]["template"]["metadata"]["annotations"][CHECKSUM_ANNOTATION]


def change_live_setting(kubectl: Kubectl, name: str) -> dict[str, Any]:
    """Edit spec.model.temperature (reloaded live by the bot, never rolls it) and wait for the operator's reconcile.

    That reconcile reads the Secrets after every change made before it: a sure point to compare against.
    """
    current = kubectl.get(SLACKBOTS, name)["spec"]["model"].get("temperature")
    patch = {"spec": {"model": {"temperature": 0.5 if current != 0.5 else 0.6}}}
    patched = kubectl.json("patch", SLACKBOTS, name, "--type=merge", f"--patch={json.dumps(patch)}")
    return reconciled(kubectl, name, patched["metadata"]["generation"])


def table_row(kubectl: Kubectl, name: str) -> dict[str, str]:
    """The SlackBot's row of `kubectl get sb`, whose columns are the CRD's printer columns."""
    table = kubectl.table(SHORT_NAME)
    assert table and list(table[0]) == COLUMNS, table
    return next(row for row in table if row["NAME"] == name)


# --- scenarios ------------------------------------------------------------------------------------------------------
def test_apply_examples_creates_owned_children_and_reports_status(namespace: Namespace, operator: OperatorProcess):
    kubectl = namespace.kubectl
    _, manifest = apply_examples(namespace)
    name = manifest["metadata"]["name"]

    deployment = deployment_of(kubectl, name)
    reconciled(kubectl, name)

    def secrets_resolved() -> dict[str, Any] | None:
        bot = kubectl.get(SLACKBOTS, name)
        return bot if conditions(bot).get(api.SECRETS_RESOLVED, {}).get("status") == "True" else None
    bot = wait_until(secrets_resolved, timeout=30, interval=0.5, message="condition SecretsResolved=True")
    owner = owner_reference(bot)
    for kind in CHILD_KINDS:
        child = kubectl.get(kind, child_name(name))
        assert child is not None, f"{kind} {child_name(name)} was not created"
        assert child["metadata"]["ownerReferences"] == [owner], kind
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == namespace.bot_image
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == child_name(name)
    assert deployment["spec"]["replicas"] == manifest["spec"]["replicas"] == 2  # spread over nodes where possible
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["topologyKey"] == \
        "kubernetes.io/hostname"

    # No real Slack behind it: the pod never becomes ready, and the status says so.
    status = bot["status"]
    assert status["phase"] in (api.PENDING, api.DEGRADED), status
    assert {t: c["status"] for t, c in conditions(bot).items()} == {
        api.READY: "False", api.SECRETS_RESOLVED: "True", api.DEPLOYMENT_AVAILABLE: "False"}, status
    assert status["secretsChecksum"] == checksum(kubectl.get("deployment.apps", child_name(name)))

    row = table_row(kubectl, name)
    assert row == {"NAME": name, "MODEL": manifest["spec"]["model"]["name"], "EFFECTIVE": "", "READY": "False",
                   "PHASE": status["phase"], "AGE": row["AGE"]}, row
    wait_until(lambda: f"Created Deployment {child_name(name)}" in kubectl("describe", SLACKBOTS, name), timeout=20,
               interval=0.5, message="the Created Deployment event in `kubectl describe sb`")


def broken(manifest: dict[str, Any], name: str, edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """The manifest renamed, with one edit to its spec."""
    bad = copy.deepcopy(manifest)
    bad["metadata"]["name"] = name
    edit(bad["spec"])
    return bad


def test_api_server_rejects_broken_slackbots_with_the_crds_messages(namespace: Namespace):
    kubectl = namespace.kubectl
    manifest = example("slackbot.yaml", namespace.name)
    context = manifest["spec"]["model"]["contextTokens"]
    cases = {
        "too-hot": (lambda s: s["model"].update(temperature=5),
                    ["spec.model.temperature", "should be less than or equal to 2"]),
        "threshold-too-big": (lambda s: s["summarization"].update(thresholdTokens=context),
                              ["spec.summarization.thresholdTokens must be below spec.model.contextTokens"]),
        "model-not-allowed": (lambda s: s["model"].update(name="not-an-allowed-model"),
                              ["spec.model.name must be one of spec.model.allowedModels"]),
        "no-secrets": (lambda s: s.pop("secrets"), ["spec.secrets: Required value"]),
        "owned-env": (lambda s: s["template"].update(env=[{"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
                                                          {"name": "SLACK_BOT_TOKEN", "value": "xoxb-stolen"}]),
                      ["spec.template.env", OWNED_ENV_MESSAGE]),
        "tmp-volume": (lambda s: s["template"].update(volumes=[{"name": "tmp", "emptyDir": {}}]),
                       ["must not name a volume 'tmp'"]),
        "too-many-replicas": (lambda s: s.update(replicas=11),
                              ["spec.replicas", "should be less than or equal to 10"]),
        "dm-rule-unknown": (lambda s: s["access"].update(directMessages="sometimes"),
                            ["spec.access.directMessages", 'Unsupported value: "sometimes"']),
    }
    valid = kubectl.apply([broken(manifest, "valid", lambda s: None)], "--dry-run=server")
    assert valid.returncode == 0 and "created (server dry run)" in valid.stdout, valid.stderr  # the control case

    # The API server applies the CRD's defaults before its CEL rules: none of them may break a rule.
    def only_a_small_context_window(spec: dict[str, Any]) -> None:
        spec["model"] = {"name": "my-local-model", "contextTokens": 1024}
        spec.pop("summarization", None)
    small = kubectl.apply([broken(manifest, "small-context", only_a_small_context_window)], "--dry-run=server")
    assert small.returncode == 0 and "created (server dry run)" in small.stdout, small.stderr

    for name, (edit, messages) in cases.items():
        result = kubectl.apply([broken(manifest, name, edit)], "--dry-run=server")
        assert result.returncode != 0, f"{name} was accepted: {result.stdout}"
        assert f'"{name}" is invalid' in result.stderr, result.stderr
        for message in messages:
            assert message in result.stderr, f"{name}: {message!r} not in {result.stderr}"
    assert kubectl("get", SLACKBOTS, "--output=name").strip() == "", "a dry run stored something"


def test_bot_service_account_may_touch_only_its_own_slackbot_status(namespace: Namespace, operator: OperatorProcess):
    kubectl = namespace.kubectl
    secret, manifest = apply_examples(namespace)
    name = manifest["metadata"]["name"]
    bot_user = service_account_user(namespace.name, name)
    own, other = f"{SLACKBOTS}/{name}", f"{SLACKBOTS}/someone-else"

    # The operator creates the Role and RoleBinding; the API server's authorizer sees them shortly after.
    wait_until(lambda: kubectl.can_i("get", own, bot_user), timeout=30, interval=0.5,
               message=f"{bot_user} may get its SlackBot")
    allowed = {
        "watch its SlackBot": kubectl.can_i("watch", own, bot_user),
        "patch its status": kubectl.can_i("patch", own, bot_user, subresource="status"),
        "create core events": kubectl.can_i("create", "events", bot_user),
        "create events.k8s.io events": kubectl.can_i("create", "events.events.k8s.io", bot_user),
    }
    assert all(allowed.values()), allowed
    denied = {
        "patch its spec": kubectl.can_i("patch", own, bot_user),
        "update its spec": kubectl.can_i("update", own, bot_user),
        "delete its SlackBot": kubectl.can_i("delete", own, bot_user),
        "get another SlackBot": kubectl.can_i("get", other, bot_user),
        "patch another's status": kubectl.can_i("patch", other, bot_user, subresource="status"),
        "list every SlackBot": kubectl.can_i("list", SLACKBOTS, bot_user),
        "get its Secret": kubectl.can_i("get", f"secrets/{secret['metadata']['name']}", bot_user),
        "list Secrets": kubectl.can_i("list", "secrets", bot_user),
    }
    assert not any(denied.values()), {what: may for what, may in denied.items() if may}


def test_deleting_a_slackbot_needs_no_operator_and_collects_its_children(namespace: Namespace,
                                                                         operator: OperatorProcess):
    kubectl = namespace.kubectl
    _, manifest = apply_examples(namespace)
    name = manifest["metadata"]["name"]
    deployment_of(kubectl, name)
    reconciled(kubectl, name)

    operator.stop()
    assert not kubectl.get(SLACKBOTS, name)["metadata"].get("finalizers"), "a finalizer would block deletion"
    started = time.monotonic()
    kubectl("delete", SLACKBOTS, name, "--wait=true", "--timeout=60s")
    assert time.monotonic() - started < 20, "deleting the SlackBot waited for something"

    for kind in CHILD_KINDS:
        wait_gone(kubectl, kind, child_name(name), timeout=45)


def test_rotating_a_referenced_secret_key_rolls_the_bot_and_other_keys_do_not(namespace: Namespace,
                                                                               operator: OperatorProcess):
    kubectl = namespace.kubectl
    secret, manifest = apply_examples(namespace)
    name, secret_name = manifest["metadata"]["name"], secret["metadata"]["name"]
    referenced = {ref.key for ref in references(SlackBotSpec.from_manifest(manifest)) if ref.name == secret_name}
    rotated, unreferenced = sorted(referenced)[0], "not-used-by-h1bot"
    assert unreferenced not in referenced
    reconciled(kubectl, name)
    before = deployment_of(kubectl, name)

    def patch_secret(key: str, value: str) -> None:
        data = {"data": {key: base64.b64encode(value.encode()).decode()}}
        kubectl("patch", "secret", secret_name, "--type=merge", f"--patch={json.dumps(data)}")

    patch_secret(rotated, "rotated-by-the-real-cluster-suite")
    rolled = wait_until(lambda: (d := kubectl.get("deployment.apps", child_name(name))) and checksum(d) != checksum(
        before) and d, timeout=30, interval=0.5, message="a new secrets checksum on the pod template")
    assert rolled["metadata"]["generation"] > before["metadata"]["generation"]
    wait_until(lambda: kubectl.get(SLACKBOTS, name)["status"].get("secretsChecksum") == checksum(rolled), timeout=30,
               interval=0.5, message="status.secretsChecksum follows the rotation")

    patch_secret(unreferenced, "nothing the bot reads")
    bot = change_live_setting(kubectl, name)  # a reconcile that has read the Secret as changed
    after = kubectl.get("deployment.apps", child_name(name))
    assert checksum(after) == checksum(rolled)
    assert after["metadata"]["generation"] == rolled["metadata"]["generation"]
    assert bot["status"]["secretsChecksum"] == checksum(rolled)


def test_the_bots_status_write_keeps_its_runtime_and_does_not_roll(namespace: Namespace, operator: OperatorProcess):
    kubectl = namespace.kubectl
    _, manifest = apply_examples(namespace)
    name = manifest["metadata"]["name"]
    generation = reconciled(kubectl, name)["metadata"]["generation"]
    before = deployment_of(kubectl, name)
    override = {"value": "gpt-4o", "by": "U1", "at": "2026-01-01T00:00:00Z"}
    runtime = {"overrides": {"model": override}}

    # Written as the bot writes it: as its ServiceAccount, on the status subresource.
    bot_user = service_account_user(namespace.name, name)
    wait_until(lambda: kubectl.can_i("patch", f"{SLACKBOTS}/{name}", bot_user, subresource="status"), timeout=30,
               interval=0.5, message=f"{bot_user} may patch its status")
    written = kubectl.json("patch", SHORT_NAME, name, "--subresource=status", "--type=merge",
                           f"--patch={json.dumps({'status': {'runtime': runtime}})}", f"--as={bot_user}")
    assert written["status"]["runtime"] == runtime
    assert written["metadata"]["generation"] == generation, "a status write is not a spec change"

    bot = change_live_setting(kubectl, name)  # the operator reconciles and writes its own status fields
    assert bot["status"]["runtime"] == runtime
    after = kubectl.get("deployment.apps", child_name(name))
    assert after["metadata"]["generation"] == before["metadata"]["generation"], "the bot was rolled"
    assert checksum(after) == checksum(before)
    row = table_row(kubectl, name)
    assert (row["MODEL"], row["EFFECTIVE"]) == (manifest["spec"]["model"]["name"], override["value"]), row


def test_a_bot_that_says_it_cannot_answer_makes_its_slackbot_not_ready(namespace: Namespace,
                                                                     operator: OperatorProcess):
    kubectl = namespace.kubectl
    _, manifest = apply_examples(namespace)
    name = manifest["metadata"]["name"]
    reconciled(kubectl, name)
    bot_user = service_account_user(namespace.name, name)
    wait_until(lambda: kubectl.can_i("patch", f"{SLACKBOTS}/{name}", bot_user, subresource="status"), timeout=30,
               interval=0.5, message=f"{bot_user} may patch its status")
    health = {"ready": False, "reason": "SlackAuthRevoked", "pod": "h1bot-test-0", "at": "2026-01-01T00:00:00Z",
              "message": "Slack auth revoked: auth.test answered token_revoked"}
    # Written as the bot writes it: as its ServiceAccount, only status.bot; the operator reacts to that field.
    kubectl.json("patch", SHORT_NAME, name, "--subresource=status", "--type=merge",
                 f"--patch={json.dumps({'status': {'bot': health}})}", f"--as={bot_user}")
    ready = wait_until(lambda: (c := conditions(kubectl.get(SLACKBOTS, name)).get("Ready")) and
                       c["reason"] == "BotNotReady" and c, timeout=30, interval=0.5, message="Ready=False BotNotReady")
    assert ready["status"] == "False" and ready["message"].endswith(health["message"])
    assert table_row(kubectl, name)["BOT"] == "SlackAuthRevoked"
