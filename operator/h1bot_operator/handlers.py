"""kopf registration: one reconcile for create/update/resume, child and Secret watches that re-reconcile the owner.

No finalizer is ever added (no deletion handlers, no timers): ownerReferences let garbage collection delete the
children, and deleting a SlackBot never waits for the operator. Progress and diff-base live in annotations under our
group, so kopf never writes into status (which belongs to the operator's fields and the bot's runtime/slack).

Run with `h1bot-operator` (see __main__.py) or `kopf run -m h1bot_operator.handlers` (settings from the environment).
"""

import contextvars
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import kopf

from h1bot_api import GROUP, KIND, PLURAL, VERSION
from h1bot_api.spec import ConfigError, SlackBotSpec
from h1bot_api.status import BOT_HEALTH
from h1bot_kube import Credentials, KubeConfigError, load_credentials
from h1bot_operator.kube import Kube
from h1bot_operator.login import connection_info
from h1bot_operator.metrics import OperatorMetrics
from h1bot_operator.reconcile import Outcome, forget_tools, reconcile
from h1bot_operator.render import MANAGED_BY
from h1bot_operator.secret_refs import secret_names
from h1bot_operator.settings import OperatorSettings

SLACKBOTS = (GROUP, VERSION, PLURAL)
CHILDREN = (("", "v1", "serviceaccounts"), ("rbac.authorization.k8s.io", "v1", "roles"),
            ("rbac.authorization.k8s.io", "v1", "rolebindings"), ("apps", "v1", "deployments"),
            ("policy", "v1", "poddisruptionbudgets"))
CHILD_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"
log = logging.getLogger(__name__)


class Runtime:
    """Operator-wide state shared by every handler through kopf's memo."""

    def __init__(self, config: OperatorSettings, kube: Kube, metrics: OperatorMetrics | None = None) -> None:
        self.config, self.kube = config, kube
        self.metrics = metrics or OperatorMetrics()
        self._locks: dict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._locks_lock = threading.Lock()
        self.own_writes: dict[str, str] = {}  # child uid → resourceVersion the operator itself produced
        # kopf's context as its handlers see it (settings, event queue), for work started outside kopf (Resync).
        self.kopf_context: contextvars.Context | None = None

    def record_write(self, obj: dict[str, Any]) -> None:
        self.own_writes[obj["metadata"]["uid"]] = obj["metadata"]["resourceVersion"]

    def lock(self, namespace: str, name: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks[namespace, name]


def plain(value: Any) -> Any:
    """kopf's body views as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def run(runtime: Runtime, namespace: str, name: str, uid: str | None = None) -> Outcome | None:
    """Reconcile one SlackBot as it is now (read under its lock: reconciles of one SlackBot never overlap or see a
    status older than the last one written) and post the Events. None when it is gone or being deleted."""
    if runtime.kopf_context is None:
        runtime.kopf_context = contextvars.copy_context()
    with runtime.lock(namespace, name):
        bot = runtime.kube.slackbot(namespace, name)
        if bot is None or bot["metadata"].get("deletionTimestamp") or (uid and bot["metadata"]["uid"] != uid):
            if bot is None:
                runtime.metrics.phase(namespace, name, None)
            return None  # garbage collection takes the children
        started = time.perf_counter()
        try:
            outcome = reconcile(runtime.kube, runtime.config, bot, on_write=runtime.record_write)
        except Exception:
            runtime.metrics.reconciled("error", time.perf_counter() - started)
            raise
        runtime.metrics.reconciled(outcome.kind, time.perf_counter() - started)
        runtime.metrics.phase(namespace, name, outcome.status.get("phase"))
    for type_, reason, message in outcome.events:
        kopf.event(bot, type=type_, reason=reason, message=message)
    return outcome


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: OperatorSettings = memo.get("config") or OperatorSettings.from_env(os.environ)
    try:  # __main__ loaded them already (one clear line when it cannot); `kopf run -m` and tests load them here
        memo.credentials = memo.get("credentials") or load_credentials(config.kubeconfig, config.context)
    except KubeConfigError as exc:
        raise kopf.PermanentError(str(exc)) from exc
    memo.runtime = Runtime(config, Kube(memo.credentials.api_client()))
    if config.metrics_port:
        memo.runtime.metrics.serve(config.metrics_port)
    if config.resync_seconds > 0:
        memo.resync = Resync(memo.runtime, config.resync_seconds)
        memo.resync.start()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.reporting_component = "h1bot-operator"
    settings.posting.event_name_prefix = "h1bot-"
    settings.execution.max_workers = config.workers
    if config.watch_timeout:
        settings.watching.server_timeout = config.watch_timeout
        settings.watching.client_timeout = config.watch_timeout + 5
    for resource in CHILDREN:
        settings.watching.label_selectors[resource] = CHILD_SELECTOR


@kopf.on.login()
def login(memo: kopf.Memo, settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> kopf.ConnectionInfo:
    """kopf logs in with the reconciles' credentials (h1bot_kube: exec plugins, token files, certificates, oidc, the
    pod's service account), loaded again at every login: kopf calls this at start, on a 401 and at expiration."""
    credentials: Credentials = memo.credentials  # the startup handlers run first
    try:
        credentials.refresh(force=True)
    except KubeConfigError as exc:  # e.g. the identity provider is unreachable for a moment: kopf tries again
        raise kopf.TemporaryError(str(exc), delay=10) from exc
    logger.debug("logging in to %s with %s", credentials.server, credentials.description)
    return connection_info(credentials, trust_env=settings.networking.trust_env)


def _reconcile_slackbot(body: kopf.Body, memo: kopf.Memo, retry: int) -> None:
    runtime: Runtime = memo.runtime
    outcome = run(runtime, body.metadata.namespace, body.metadata.name, body.metadata.uid)
    if outcome is not None and outcome.retry:
        raise kopf.TemporaryError(outcome.retry, delay=runtime.config.backoff(retry))


@kopf.on.resume(*SLACKBOTS)
def slackbot_resumed(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    _reconcile_slackbot(body, memo, retry)


@kopf.on.create(*SLACKBOTS)
def slackbot_created(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    _reconcile_slackbot(body, memo, retry)


@kopf.on.update(*SLACKBOTS, field="spec")
def slackbot_updated(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    _reconcile_slackbot(body, memo, retry)


@kopf.on.update(*SLACKBOTS, field=f"status.{BOT_HEALTH}")
def slackbot_health_changed(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    """The bot wrote its own health (status.bot): fold it into Ready at once, not at the next resync."""
    _reconcile_slackbot(body, memo, retry)


@kopf.index(*SLACKBOTS)
async def slackbots_by_secret(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[tuple[str, str], str]:
    """(namespace, Secret name) → the SlackBots that reference it."""
    try:
        parsed = SlackBotSpec.parse(plain(spec), require_secrets=True)
    except ConfigError:
        return {}
    return {(namespace, secret): name for secret in secret_names(parsed)}


def child_changed(type: str | None, body: kopf.Body, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    """A child was edited, deleted, or its status moved (readiness): reconcile its SlackBot."""
    if type is None:
        return  # the initial listing: the resume handlers reconcile every SlackBot anyway
    runtime: Runtime = memo.runtime
    meta = body["metadata"]
    if type != "DELETED" and runtime.own_writes.get(meta.get("uid")) == meta.get("resourceVersion"):
        return  # the echo of our own write
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == KIND and str(ref.get("apiVersion", "")).startswith(GROUP):
            # A deleted child may be the stale one of a SlackBot deleted and created again under the same name, which
            # is waiting in Conflict for garbage collection: reconcile whichever SlackBot holds that name now.
            run(runtime, namespace, ref["name"], None if type == "DELETED" else ref.get("uid"))


for _group, _version, _plural in CHILDREN:
    kopf.on.event(_group, _version, _plural, labels={"app.kubernetes.io/managed-by": MANAGED_BY},
                  id=f"child-{_plural}")(child_changed)


@kopf.on.event("", "v1", "secrets")
def secret_changed(type: str | None, name: str, namespace: str, memo: kopf.Memo,
                   slackbots_by_secret: kopf.Index, **_: Any) -> None:
    """A Secret appeared, changed or went away: reconcile the SlackBots that reference it (the checksum decides)."""
    if type is None:
        return
    for bot_name in sorted(set(slackbots_by_secret.get((namespace, name), ()))):
        run(memo.runtime, namespace, bot_name)


class Resync:
    """Reconciles every SlackBot again at an interval: what the watches missed (an outage, a dropped event) is
    caught up. A plain thread rather than a kopf timer, which would put a finalizer on every SlackBot."""

    def __init__(self, runtime: Runtime, interval: float) -> None:
        self.runtime, self.interval = runtime, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="h1bot-resync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                bots = self.runtime.kube.slackbot_names(self.runtime.config.namespaces)
            except Exception as exc:  # the API is down: the next round tries again
                log.warning("resync: cannot list SlackBots: %s", exc)
                continue
            context = self.runtime.kopf_context
            if context is None:
                continue  # no handler has run yet: kopf is still resuming every SlackBot itself
            for namespace, name in bots:
                if self._stop.is_set():
                    return
                try:
                    context.run(run, self.runtime, namespace, name)  # so that kopf.event() works from here
                except Exception as exc:
                    log.warning("resync of SlackBot %s/%s failed: %s", namespace, name, exc)


@kopf.on.cleanup()
def stop_background_work(memo: kopf.Memo, **_: Any) -> None:
    resync: Resync | None = getattr(memo, "resync", None)
    if resync is not None:
        resync.stop()
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        runtime.metrics.close()


@kopf.on.event(*SLACKBOTS)
def slackbot_event(type: str | None, name: str, namespace: str, body: kopf.Body, memo: kopf.Memo,
                   **_: Any) -> None:
    """A deleted SlackBot leaves the phase gauge and its tools' RBAC in other namespaces, which garbage collection
    cannot reach (no deletion handler: that would add a finalizer)."""
    if type == "DELETED":
        memo.runtime.metrics.phase(namespace, name, None)
        forget_tools(memo.runtime.kube, plain(body))
