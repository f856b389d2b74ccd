"""The bot's own SlackBot in the cluster: read it, watch it, merge-patch its status (only the bot's subtrees
`runtime` and `slack`), and record Kubernetes Events about it.

The `kubernetes` client blocks: every request runs in a worker thread (`asyncio.to_thread`) with a request timeout,
and the watch runs in its own daemon thread that hands each version of the object to the event loop. What the bot's
Role allows (operator/h1bot_operator/render.py): get/list/watch its SlackBot by name, get/patch its status, create
core v1 Events.
"""

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from h1bot_api import API_VERSION, GROUP, KIND, PLURAL, VERSION
from h1bot_bot.adapters.clock import now_iso
from h1bot_bot.adapters.retry import Backoff
from h1bot_bot.core.slack_safety import redact

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
COMPONENT = "h1bot-bot"
EVENT_MESSAGE_LIMIT = 1024


def cluster_login():
    """The pod's service account in a cluster; $KUBECONFIG or ~/.kube/config outside (exec plugins, token files,
    certificates: h1bot_kube, shared with the operator). Tokens are refreshed before they expire and after a 401."""
    from h1bot_kube import api_client  # only bots running against a cluster need it (and the kubernetes package)

    return api_client()


def describe_error(exc: BaseException) -> str:
    """A short reason for a failed request: `(503) Service Unavailable`, or the exception's own text."""
    status, reason = getattr(exc, "status", None), getattr(exc, "reason", None)
    if status and reason:
        return redact(f"({status}) {reason}")
    return redact(str(exc).splitlines()[0][:300]) if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class Written:
    """The result of a status write: status.runtime as stored now, and the object's resourceVersion."""

    runtime: dict[str, Any]
    version: str | None


class SlackBotResource:
    def __init__(self, name: str, namespace: str, timeout: float = 10.0):
        self.name = name
        self.namespace = namespace
        self.timeout = timeout
        self.uid: str | None = None  # the SlackBot's uid, for the Events' involvedObject
        self._client = None

    @property
    def description(self) -> str:
        return f"status.runtime of SlackBot {self.namespace}/{self.name}"

    def _objects(self):
        from kubernetes import client

        if self._client is None:
            self._client = cluster_login()
        return client.CustomObjectsApi(self._client)

    def _core(self):
        from kubernetes import client

        if self._client is None:
            self._client = cluster_login()
        return client.CoreV1Api(self._client)

    def read_now(self) -> dict[str, Any]:
        """The SlackBot as stored now (blocking: call from a thread)."""
        obj = self._objects().get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name,
                                                          _request_timeout=self.timeout)
        self.uid = obj.get("metadata", {}).get("uid") or self.uid
        return obj

    async def read(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.read_now)

    async def patch_status(self, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch on the status subresource; raises the client's errors."""
        return await asyncio.to_thread(lambda: self._objects().patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, PLURAL, self.name, body, _content_type=MERGE_PATCH,
            _request_timeout=self.timeout))

    async def write(self, patch: dict[str, Any]) -> Written:
        """Apply a status.runtime merge patch (overrides.merge_patch_for's body). Raises when it is not stored."""
        obj = await self.patch_status(patch)
        return Written(((obj.get("status") or {}).get("runtime") or {}),
                       (obj.get("metadata") or {}).get("resourceVersion"))

    async def record_identity(self, user_id: str, team_id: str, team: str = "") -> bool:
        """Merge-patch status.slack (the bot's own subtree); a failure is logged, never raised."""
        body = {"status": {"slack": {"botUserId": user_id, "teamId": team_id, "team": team,
                                     "connectedAt": now_iso()}}}
        try:
            await self.patch_status(body)
            return True
        except Exception as exc:
            log.warning("could not record the bot's Slack identity in status.slack of %s/%s: %s",
                        self.namespace, self.name, describe_error(exc))
            return False

    def event_body(self, type_: str, reason: str, message: str) -> dict[str, Any]:
        """A core v1 Event about this SlackBot (named like client-go's: `<object>.<unix nanos in hex>`)."""
        now = now_iso()
        involved = {"apiVersion": API_VERSION, "kind": KIND, "name": self.name, "namespace": self.namespace}
        if self.uid:
            involved["uid"] = self.uid
        message = redact(message)  # Events are read by everyone who may read the namespace
        if len(message) > EVENT_MESSAGE_LIMIT:
            message = message[:EVENT_MESSAGE_LIMIT - 1] + "…"
        return {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{self.name}.{time.time_ns():x}", "namespace": self.namespace},
                "involvedObject": involved, "type": type_, "reason": reason, "message": message,
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "reportingInstance": socket.gethostname() or COMPONENT,  # the pod name
                "firstTimestamp": now, "lastTimestamp": now, "count": 1, "action": reason}

    async def event(self, type_: str, reason: str, message: str) -> None:
        """Record a Kubernetes Event on the SlackBot; raises when the API server does not take it."""
        body = self.event_body(type_, reason, message)
        await asyncio.to_thread(lambda: self._core().create_namespaced_event(self.namespace, body,
                                                                             _request_timeout=self.timeout))


class SlackBotWatch:
    """Watches one SlackBot from a daemon thread and calls `deliver(obj)` in the event loop for every version seen.

    Starts from `since` (the resourceVersion of the read at start-up). A stream that ends is resumed from the last
    version; after an error (API server down, 410 Gone) it waits with exponential backoff, reads the object again
    (delivering it, so nothing missed is lost) and watches from there. `stop()` ends it at once.
    """

    def __init__(self, resource: SlackBotResource, deliver: Callable[[dict[str, Any]], Any],
                 loop: asyncio.AbstractEventLoop, since: str | None, timeout_seconds: int = 300,
                 backoff: float = 0.5, backoff_max: float = 30.0):
        self.resource = resource
        self.deliver = deliver
        self.loop = loop
        self.since = since
        self.timeout_seconds = timeout_seconds
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.reconnects = 0
        self._stopped = threading.Event()
        self._watch = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{resource.name}", daemon=True)

    def start(self) -> "SlackBotWatch":
        self._thread.start()
        return self

    async def stop(self) -> None:
        self._stopped.set()
        watch = self._watch
        if watch is not None:
            watch.stop()  # shuts the socket down: a blocked read returns
        await asyncio.to_thread(self._thread.join, 5)

    def _hand_over(self, obj: dict[str, Any]) -> None:
        if not self._stopped.is_set():
            self.loop.call_soon_threadsafe(self.deliver, obj)

    def _run(self) -> None:
        version, failures, backoff = self.since, 0, Backoff(self.backoff, self.backoff_max)
        while not self._stopped.is_set():
            try:
                if version is None:
                    obj = self.resource.read_now()
                    version = obj["metadata"]["resourceVersion"]
                    self._hand_over(obj)
                version = self._stream(version)
                failures = 0
            except Exception as exc:
                if self._stopped.is_set():
                    return
                failures += 1
                delay = backoff.delay(failures)
                status = getattr(exc, "status", None)
                log.warning("watch of SlackBot %s/%s failed (%s); reading it again in %.1fs", self.resource.namespace,
                            self.resource.name, "410 Gone" if status == 410 else describe_error(exc), delay)
                version = None
                self.reconnects += 1
                self._stopped.wait(delay)

    def _stream(self, version: str) -> str:
        """One watch request from `version`; returns the last version seen when the server ends it."""
        from kubernetes import watch

        self._watch = watch.Watch()
        try:
            for event in self._watch.stream(
                    self.resource._objects().list_namespaced_custom_object, GROUP, VERSION, self.resource.namespace,
                    PLURAL, field_selector=f"metadata.name={self.resource.name}", resource_version=version,
                    timeout_seconds=self.timeout_seconds, allow_watch_bookmarks=True,
                    _request_timeout=self.timeout_seconds + 10):
                obj = event.get("raw_object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if event.get("type") in ("ADDED", "MODIFIED"):
                    self._hand_over(obj)
                elif event.get("type") == "DELETED":
                    log.warning("SlackBot %s/%s was deleted; the operator removes this bot",
                                self.resource.namespace, self.resource.name)
                if self._stopped.is_set():
                    break
        finally:
            self._watch = None
        return version
