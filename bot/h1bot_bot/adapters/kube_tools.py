"""The bot's cluster tools, run with the bot's own kube login (its ServiceAccount in a pod): Kubernetes RBAC, as the
operator rendered it from spec.tools (h1bot_operator/tool_rbac.py), is the last line. A refused request (403) or a
missing object (404) becomes a ToolResult with `refused` set, a reason the model reads; never an exception.

Interface for the engine's tool loop (core/tools.py's module docstring shows the whole loop):
    tools = KubeTools(api_client)                         # an ApiClient, or a function that logs in on first use
    result = await tools.lookup(lookup)                   # core.tools.Lookup → ToolResult (pods, events, logs, ...)
    result = await tools.run_action(proposal)             # core.tools.ActionProposal, only after an admin approves
Blocking requests run in a worker thread (`asyncio.to_thread`) with a request timeout; `now` (for the restart
annotation) is passed in by the caller, like every clock read.
"""

import asyncio
import json
import threading
from typing import Any

import urllib3

from h1bot_api.tools_spec import READABLE_RESOURCES
from h1bot_bot.core import kube_view
from h1bot_bot.core.tools import EVENTS, LIST, LOGS, ActionProposal, Lookup, ToolResult

MERGE_PATCH = "application/merge-patch+json"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets
VERSIONS = {"": "v1", "apps": "v1", "batch": "v1", "networking.k8s.io": "v1", "autoscaling": "v2"}
UNREACHABLE = (OSError, urllib3.exceptions.HTTPError)  # connection refused, timeouts, TLS: a result, not a crash
MAX_LIST = 500  # objects per list call; the model is told when there are more
MAX_EVENT_PAGES = 4  # of MAX_LIST events read at most (the API pages in name order, not by time)
MAX_EVENTS = 60  # the newest events shown


class RequestFailed(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def collection_path(resource: str, namespace: str) -> str:
    group = READABLE_RESOURCES[resource]
    base = f"/api/{VERSIONS[group]}" if not group else f"/apis/{group}/{VERSIONS[group]}"
    return f"{base}/namespaces/{namespace}/{resource}"


def field_value(value: str) -> str:
    """A field selector value escaped as the API server reads it (`\\`, `,` and `=` are special)."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def refusal(status: int, message: str, what: str) -> str:
    if status == 403:
        return (f"the bot's ServiceAccount may not {what} (Kubernetes RBAC refused it: {message}). Only what "
                "spec.tools grants is allowed.")
    if status == 404:
        return f"not found: {what} ({message})"
    return f"the Kubernetes API failed to {what}: ({status}) {message}"


class LoginFailed(Exception):
    """The bot cannot log in to the cluster (no kubeconfig outside a pod, an exec plugin failing)."""


class KubeTools:
    def __init__(self, api_client: Any, timeout: float = 10.0) -> None:
        """`api_client`: a kubernetes ApiClient, or a callable making one on the first request (the login of a bot
        that has tools but is never asked to use them is never tried)."""
        self._api, self.timeout = api_client, timeout
        self._login = api_client if callable(api_client) and not hasattr(api_client, "call_api") else None
        self._login_lock = threading.Lock()  # parallel lookups run in worker threads: one login

    @property
    def api(self) -> Any:
        with self._login_lock:
            if self._login is not None:
                try:
                    self._api = self._login()
                except Exception as exc:  # a kubeconfig error says which file or plugin; keep it one line
                    raise LoginFailed(" ".join(str(exc).split())[:300] or type(exc).__name__) from None
                self._login = None
        return self._api

    def _request(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
                 content_type: str = "application/json", raw: bool = False) -> Any:
        headers = {"Accept": "text/plain" if raw else "application/json", "Content-Type": content_type}
        _, url, headers, body, _ = self.api.param_serialize(
            method=method, resource_path=path, query_params=list((query or {}).items()), header_params=headers,
            body=body, auth_settings=["BearerToken"])
        response = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=self.timeout)
        response.read()
        text = response.data.decode("utf-8", "replace") if response.data else ""
        if response.status >= 400:
            try:
                message = json.loads(text).get("message") or str(response.reason)
            except ValueError:
                message = text[:300] or str(response.reason)
            raise RequestFailed(response.status, message)
        return text if raw else (json.loads(text) if text else {})

    def _list(self, path: str, query: dict[str, Any], pages: int) -> tuple[list[dict[str, Any]], int | None]:
        """Up to `pages` pages of a list (following `continue`): the items, and how many remain unread (0 when the
        server does not say how many; None when none remain)."""
        items: list[dict[str, Any]] = []
        for _ in range(pages):
            found = self._request("GET", path, query)
            items += found.get("items") or []
            meta = found.get("metadata") or {}
            if not meta.get("continue"):
                return items, None
            query = {**query, "continue": meta["continue"]}
        return items, int(meta.get("remainingItemCount") or 0)

    async def lookup(self, request: Lookup) -> ToolResult:
        return await asyncio.to_thread(self._lookup, request)

    def _lookup(self, request: Lookup) -> ToolResult:
        ns = request.namespace
        try:
            if request.tool == LIST and request.name:
                obj = self._request("GET", f"{collection_path(request.resource, ns)}/{request.name}")
                return ToolResult(kube_view.object_text(obj))
            if request.tool == LIST:
                items, unread = self._list(collection_path(request.resource, ns), {"limit": MAX_LIST}, pages=1)
                more = f"\n({unread or 'more'} more {request.resource} not shown)" if unread is not None else ""
                return ToolResult(kube_view.object_lines(request.resource, items) + more)
            if request.tool == EVENTS:
                query: dict[str, Any] = {"limit": MAX_LIST}
                if request.name:  # the API server filters: the events about one object among thousands
                    query["fieldSelector"] = f"involvedObject.name={field_value(request.name)}"
                items, unread = self._list(collection_path("events", ns), query, pages=MAX_EVENT_PAGES)
                return ToolResult(kube_view.event_lines(items, request.name, MAX_EVENTS, unread), keep="tail")
            if request.tool == LOGS:
                query = {"tailLines": request.lines}
                if request.container:
                    query["container"] = request.container
                if request.previous:
                    query["previous"] = "true"
                text = self._request("GET", f"/api/v1/namespaces/{ns}/pods/{request.name}/log", query, raw=True)
                lines = text.splitlines()[-request.lines:]  # the cap holds whatever the server returns
                return ToolResult("\n".join(lines) or "(the log is empty)", keep="tail")
        except RequestFailed as exc:
            return ToolResult(refused=refusal(exc.status, exc.message, f"read {request.description()}"))
        except UNREACHABLE as exc:
            return ToolResult(refused=f"the Kubernetes API could not be reached to read {request.description()} "
                                      f"({type(exc).__name__})")
        except LoginFailed as exc:
            return ToolResult(refused=f"the bot cannot log in to the cluster to read {request.description()}: {exc}")
        return ToolResult(refused=f"unknown lookup {request.tool!r}")

    async def run_action(self, proposal: ActionProposal, now: str) -> ToolResult:
        """Run an approved action; `now` (RFC 3339) is the restart stamp. The result says what changed."""
        return await asyncio.to_thread(self._run_action, proposal, now)

    def _run_action(self, proposal: ActionProposal, now: str) -> ToolResult:
        path = f"/apis/apps/v1/namespaces/{proposal.namespace}/deployments/{proposal.deployment}"
        try:
            if proposal.action == "scale":
                scaled = self._request("PATCH", path + "/scale", body={"spec": {"replicas": proposal.replicas}},
                                       content_type=MERGE_PATCH)
                return ToolResult(f"deployment {proposal.deployment} in {proposal.namespace} scaled to "
                                  f"{(scaled.get('spec') or {}).get('replicas', proposal.replicas)} replicas")
            patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
            self._request("PATCH", path, body=patch, content_type=MERGE_PATCH)
            return ToolResult(f"deployment {proposal.deployment} in {proposal.namespace} restarted at {now}")
        except RequestFailed as exc:
            return ToolResult(refused=refusal(exc.status, exc.message, proposal.description()))
        except UNREACHABLE as exc:
            return ToolResult(refused=f"the Kubernetes API could not be reached to {proposal.description()} "
                                      f"({type(exc).__name__}); nothing was changed, unless the request arrived")
        except LoginFailed as exc:
            return ToolResult(refused=f"the bot cannot log in to the cluster to {proposal.description()}: {exc}; "
                                      "nothing was changed")
