"""A Kubernetes API on loopback for tests: kmock 0.8's emulator with the gaps that real clients hit closed.

`KubeEmulator` (a `kmock.KubernetesEmulator` subclass, kmock pinned at 0.8) keeps objects in kmock's own
`objects` array (for `>=` assertions) and serves them like an API server does for kopf, kubectl and the `kubernetes`
client. Gaps of kmock 0.8 closed here, the writes (create, patch, PUT, delete, garbage collection) in
tests/fakes/kube_writes.py (numbers as in ../shared/notes/loopback-testing.md):
  1. uid / resourceVersion / creationTimestamp / generation are set on create; every change bumps one global RV;
  2. JSON patch (`application/json-patch+json`) with a failing `test` op answers 422; RV preconditions answer 409;
  3. `metadata.namespace` comes from the URL;
  4. list answers the current RV and `watch?resourceVersion=N` replays only events newer than N (410 if too old);
     a watch without an RV sends the snapshot and the events after it, atomically (no double, no gap);
  5. watch streams are `application/json`;
  6. `GET /api/v1/namespaces[/NAME]` works; core discovery says groupVersion `v1`;
  7. `metadata.generation` moves only on spec changes; the `status` subresource is separate from the main resource.
Also: Secret `stringData` is folded into `data`; owner-reference garbage collection; label/field selectors; list
`limit`/`continue` (key order, `remainingItemCount`);
server-side `Table` output from a CRD's printer columns (so `kubectl get` shows them); PUT (replace); DELETE's
DeleteOptions preconditions (a uid or resourceVersion that no longer matches → 409 Conflict).
Authentication, off by default: `accepted_tokens` set, a request without one of them as its bearer token (or, over
TLS, a client certificate with one of `accepted_client_cns`) gets 401.
Imitations of the API server's own checks, each switchable (tests/fakes/kube_validation.py): `validation` refuses
invalid names, labels and quantities with the API server's status and wording; `canonical_quantities` stores resource
quantities canonically (`cpu: 1` → "1"). Both default to on, so the suite sees what a cluster does.

tests/fakes/kube.py serves it on 127.0.0.1 from its own thread (`KubeAPI`) and runs the operator against it.
"""

import asyncio
import bisect
import copy
import json
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import apps, k8s

from tests.fakes.kube_protocol import (
    api_error,
    crd_resources,
    namespace_object,
    page,
    printer_table,
    request_matcher,
    status_body,
)
from tests.fakes.kube_tools_api import ToolsAPI
from tests.fakes.kube_writes import ObjectWrites
from tests.paths import CRD_PATH

EVENT_LOG_SIZE = 50_000  # per resource; older watch positions get 410 Gone


@attrs.define(kw_only=True)
class KubeEmulator(ObjectWrites, kmock.KubernetesEmulator):
    """Serves objects like an API server; inject changes through the HTTP API, assert on `objects`/`requests`."""

    available: bool = True  # False: every request answers 503 and open watches end
    garbage_collection: bool = True  # delete dependents when their owner (by uid) goes away
    # None: anyone may call; else only `Authorization: Bearer <one of these>` (others get 401 Unauthorized).
    accepted_tokens: frozenset[str] | None = None
    accepted_client_cns: frozenset[str] = frozenset()  # over TLS: verified client certificates with these CNs
    unauthorized: list[str] = attrs.field(factory=list)  # "METHOD path" of each request answered 401
    validation: bool = True  # refuse invalid names, labels and quantities like the API server
    canonical_quantities: bool = True  # store resource quantities in canonical form like the API server
    tools: ToolsAPI = attrs.field(factory=ToolsAPI)  # pods/log, deployments/scale, RBAC (tests/fakes/kube_tools_api)
    _store: dict[Any, dict[tuple[str | None, str], dict[str, Any]]] = attrs.field(
        factory=lambda: defaultdict(dict), init=False)
    _log: dict[Any, tuple[list[int], list[dict[str, Any]]]] = attrs.field(
        factory=lambda: defaultdict(lambda: ([], [])), init=False)
    _floor: dict[Any, int] = attrs.field(factory=lambda: defaultdict(int), init=False)
    _wakeups: dict[Any, asyncio.Event] = attrs.field(factory=dict, init=False)
    _columns: dict[Any, list[dict[str, Any]]] = attrs.field(factory=dict, init=False)
    _rv: int = attrs.field(default=0, init=False)
    _epoch: int = attrs.field(default=0, init=False)
    _own_payloads: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        # The scaffold's discovery, then our own object handling instead of kmock's (registered first = tried first).
        k8s.KubernetesScaffold.__attrs_post_init__(self)
        self.fallback["get", re.compile(r"/api/v1/namespaces/[^/]+")] << self._serve_namespace
        self.fallback[kmock.action.WATCH] << {"Content-Type": "application/json"} << self._serve_watch
        self.fallback[kmock.action.LIST] << self._serve_list
        self.fallback[kmock.action.FETCH] << self._serve_fetch
        self.fallback[kmock.action.CREATE] << self._serve_create
        self.fallback[kmock.action.UPDATE] << self._serve_update
        self.fallback[kmock.action.DELETE] << self._serve_delete
        self.fallback[kmock.method.PUT] << self._serve_replace
        self._own_payloads = len(self._payloads)

    # --- setup -----------------------------------------------------------------------------------------------------
    def register_crd(self, path: Path | str = CRD_PATH) -> None:
        """Serve the custom resource a CRD file defines (kind, names, scope, subresources, printer columns)."""
        self.serve_crd(yaml.safe_load(Path(path).read_text()))

    def serve_crd(self, crd: dict[str, Any]) -> None:
        for res, info, columns in crd_resources(crd):
            self.resources[res], self._columns[res] = info, columns

    def set_available(self, available: bool) -> None:
        self.available = available
        if not available:
            self.drop_watches()

    def drop_watches(self) -> None:
        """End every open watch stream (clients reconnect with their last resourceVersion)."""
        self._epoch += 1
        for event in self._wakeups.values():
            event.set()
        self._wakeups.clear()

    # --- plumbing --------------------------------------------------------------------------------------------------
    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if not self.available:
            return aiohttp.web.json_response(status_body(503, "ServiceUnavailable", "the server is down (test outage)"),
                                             status=503)
        if self.accepted_tokens is not None and not self._authenticated(raw_request):
            self.unauthorized.append(f"{raw_request.method} {raw_request.path}")
            return aiohttp.web.json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        if (served := await self.tools.serve(self, raw_request)) is not None:
            return served
        if re.fullmatch(r"/api/v1/namespaces/?", raw_request.path):  # kmock's URL parser cannot parse this one
            if raw_request.query.get("watch") in ("true", "1"):
                return await self._watch_namespaces(raw_request)
            return aiohttp.web.json_response({"apiVersion": "v1", "kind": "NamespaceList",
                                              "metadata": {"resourceVersion": str(self._rv)},
                                              "items": [namespace_object(ns) for ns in self._namespaces()]})
        return await super().__call__(raw_request)

    def _authenticated(self, raw_request: aiohttp.web.BaseRequest) -> bool:
        scheme, _, token = raw_request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() in (self.accepted_tokens or ()):
            return True
        peer = raw_request.transport.get_extra_info("peercert") if raw_request.transport else None
        subject = {key: value for rdn in (peer or {}).get("subject", ()) for key, value in rdn}
        return subject.get("commonName") in self.accepted_client_cns  # verified against the CA by the TLS layer

    def _namespaces(self) -> list[str]:
        return sorted({"default", "kube-system"} | {ns for store in self._store.values() for ns, _ in store if ns})

    async def _watch_namespaces(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Namespaces exist implicitly here (as soon as something is created in one): a watch (kopf's namespace
        observer) sees each as ADDED, then stays open until its timeout or until watches are dropped."""
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw_request)
        deadline = time.monotonic() + float(raw_request.query.get("timeoutSeconds") or 60)
        sent: set[str] = set()
        wakeup = self._wakeup("namespaces")  # drop_watches() (outages, restarts) sets it
        while not wakeup.is_set() and time.monotonic() < deadline:
            for namespace in self._namespaces():
                if namespace not in sent:
                    sent.add(namespace)
                    event = {"type": "ADDED", "object": namespace_object(namespace)}
                    await response.write(json.dumps(event).encode() + b"\n")
            try:
                await asyncio.wait_for(wakeup.wait(), 0.5)
            except TimeoutError:
                pass
        return response

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # Skip KubernetesEmulator._handle (its naive bookkeeping). kmock's DSL matching walks the whole request
        # history on every request (quadratic): object requests go straight to our handlers unless a test has added
        # reactions of its own, which then get their usual precedence.
        if len(self._payloads) == self._own_payloads and request.resource is not None and request.resource.plural:
            if request.method == kmock.method.PUT and request.name:
                return await kmock.Response(payload=self._serve_replace(request))(request)
            if request.action == kmock.action.WATCH:
                headers = {"Content-Type": "application/json"}
                return await kmock.Response(headers=headers, payload=self._serve_watch(request))(request)
            route = {kmock.action.LIST: self._serve_list, kmock.action.FETCH: self._serve_fetch,
                     kmock.action.CREATE: self._serve_create, kmock.action.UPDATE: self._serve_update,
                     kmock.action.DELETE: self._serve_delete}.get(request.action)
            if route is not None:
                return await kmock.Response(payload=route(request))(request)
        return await apps.RawHandler._handle(self, request)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, k8s.KubernetesError):
            return aiohttp.web.json_response(status_body(exc.status, exc.reason or "", exc.message or ""),
                                             status=exc.status)
        return await super()._render_error(exc)

    async def _serve_server_version(self, request: kmock.Request) -> dict[str, Any]:
        return {"major": "1", "minor": "32", "gitVersion": "v1.32.0-kmock", "platform": "linux/amd64"}

    async def _serve_version(self, request: kmock.Request) -> dict[str, Any]:
        result = await super()._serve_version(request)
        if request.resource is not None and request.resource.group == "":
            result["groupVersion"] = request.resource.version
        for entry in result["resources"]:
            if "/" in entry["name"]:  # subresources have no short names (kubectl warns about ambiguity otherwise)
                entry.update(shortNames=[], categories=[], singularName="")
        return result

    async def _serve_namespace(self, request: kmock.Request) -> dict[str, Any]:
        return namespace_object(request.namespace or "")

    def _info(self, res: Any) -> kmock.ResourceInfo:
        if res is None or res.plural is None or res not in self.resources:
            raise api_error(404, "NotFound", f"the server could not find the requested resource ({res})")
        return self.resources[res]

    def _api_version(self, res: Any) -> str:
        return f"{res.group}/{res.version}" if res.group else res.version

    def _wakeup(self, res: Any) -> asyncio.Event:
        if res not in self._wakeups:
            self._wakeups[res] = asyncio.Event()
        return self._wakeups[res]

    def _commit(self, res: Any, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new version (or the deletion) under a new resourceVersion and notify the watchers."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        meta = obj["metadata"]
        key = (meta.get("namespace"), meta["name"])
        kmock_key = (res, key[0], key[1])
        if kind == "DELETED":
            self._store[res].pop(key, None)
            self._objects[kmock_key].delete()
        else:
            self._store[res][key] = obj
            if kmock_key in self._objects:
                self._objects[kmock_key].history.append(copy.deepcopy(obj))
            else:
                self._objects[kmock_key] = copy.deepcopy(obj)
        rvs, events = self._log[res]
        rvs.append(self._rv)
        events.append({"type": kind, "object": obj})
        if len(rvs) > EVENT_LOG_SIZE:
            self._floor[res] = rvs[EVENT_LOG_SIZE // 2 - 1]
            del rvs[: EVENT_LOG_SIZE // 2], events[: EVENT_LOG_SIZE // 2]
        wakeup = self._wakeups.pop(res, None)
        if wakeup is not None:
            wakeup.set()
        if kind != "DELETED" and getattr(res, "plural", None) == "customresourcedefinitions":
            self.serve_crd(obj)  # `kubectl apply -f crds/`: the API server serves the new resource at once
        return obj

    def find(self, res: Any, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The current object (a copy), or None. Call it from the emulator's loop (`KubeAPI.call`)."""
        obj = self._store[kmock.resource(res)].get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def lose(self, res: Any, namespace: str | None, name: str) -> None:
        """Remove an object without telling any watcher: what a watch event lost in transit looks like."""
        self._store[kmock.resource(res)].pop((namespace, name), None)

    def count(self, res: Any, namespace: str | None = None) -> int:
        return sum(1 for ns, _ in self._store[kmock.resource(res)] if namespace is None or ns == namespace)

    def find_all(self, res: Any, namespace: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for (ns, _), o in self._store[kmock.resource(res)].items()
                if namespace is None or ns == namespace]

    def _current(self, request: kmock.Request) -> dict[str, Any]:
        self._info(request.resource)
        obj = self._store[request.resource].get((request.namespace, request.name))
        if obj is None:
            raise api_error(404, "NotFound", f'{request.resource.plural} "{request.name}" not found')
        return obj

    # --- reads -----------------------------------------------------------------------------------------------------
    async def _serve_fetch(self, request: kmock.Request) -> dict[str, Any]:
        obj = self._current(request)
        if "as=Table" in request.headers.get("Accept", ""):
            return self._table(request.resource, [obj])
        return obj

    async def _serve_list(self, request: kmock.Request) -> dict[str, Any]:
        info = self._info(request.resource)
        matches = request_matcher(request.namespace, request.name, request.params)
        items = [obj for obj in self._store[request.resource].values() if matches(obj)]
        if "as=Table" in request.headers.get("Accept", ""):
            return self._table(request.resource, items)
        items, more = page(items, request.params)
        return {"apiVersion": self._api_version(request.resource), "kind": f"{info.kind}List",
                "metadata": {"resourceVersion": str(self._rv), **more}, "items": items}

    def _table(self, res: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
        return printer_table(self._columns.get(res), items, str(self._rv))

    async def _serve_watch(self, request: kmock.Request) -> Any:
        self._info(request.resource)
        res, epoch = request.resource, self._epoch
        matches = request_matcher(request.namespace, request.name, request.params)
        since, timeout = request.params.get("resourceVersion", ""), float(request.params.get("timeoutSeconds") or 0)
        deadline = time.monotonic() + timeout if timeout else None
        yield b""  # send the headers now
        if since in ("", "0"):
            cursor = self._rv
            snapshot = [obj for obj in self._store[res].values() if matches(obj)]
            for obj in snapshot:
                yield {"type": "ADDED", "object": obj}
        else:
            cursor = int(since) if since.isdigit() else 0
        rvs, events = self._log[res]
        while self.available and self._epoch == epoch:
            if cursor < self._floor[res]:
                yield {"type": "ERROR", "object": status_body(410, "Expired", f"too old resource version: {cursor}")}
                return
            start = bisect.bisect_right(rvs, cursor)
            if start < len(rvs):
                batch, cursor = events[start:], rvs[-1]
                for event in batch:
                    if matches(event["object"]):
                        yield event
                continue
            wakeup = self._wakeup(res)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            try:
                await asyncio.wait_for(wakeup.wait(), remaining)
            except TimeoutError:
                return
