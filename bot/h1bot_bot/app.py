"""Assembles the Slack bot: config, Slack and OpenAI clients, the engine on the Slack surface (wiring.py), Socket
Mode, health/metrics, cluster.

`RunningBot` is an async context manager (tests start bots in-process with it); `run_bot` runs one until a stop
event is set, then shuts down gracefully: no new events, in-flight replies finished (bounded), exit code 0.

Configuration: the spec (its SlackBot in the cluster, or `--spec FILE`) plus the overrides made from Slack
(status.runtime, or the state file next to FILE), held by `LiveConfig`; in a cluster the bot watches its SlackBot
and applies spec changes live. The ChatOps commands (engine/chatops.py) are registered on the router.
"""

import asyncio
import ctypes
import gc
import logging
from pathlib import Path

import aiohttp
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from h1bot_api import status as api
from h1bot_api.spec import ConfigError, SlackBotSpec
from h1bot_api.tools_spec import ToolsSpec
from h1bot_bot.adapters.health import HealthServer
from h1bot_bot.adapters.kube import SlackBotResource, SlackBotWatch, cluster_login, describe_error
from h1bot_bot.adapters.kube_tools import KubeTools
from h1bot_bot.adapters.llm import LLMClient
from h1bot_bot.adapters.metrics import Metrics
from h1bot_bot.adapters.native_stream import ReplyStreams
from h1bot_bot.adapters.slack_api import SlackGateway
from h1bot_bot.adapters.slack_app import SlackBotApp
from h1bot_bot.adapters.slack_auth import SlackAuthMonitor
from h1bot_bot.adapters.slack_surface import SlackSurface
from h1bot_bot.adapters.state_file import FileStore, StateFile
from h1bot_bot.adapters.tokenizers import Tokenizers
from h1bot_bot.config import DEFAULT_OPENAI_BASE_URL, Settings
from h1bot_bot.core.approvals import NOT_ENABLED_TEXT
from h1bot_bot.core.budget import system_prompt_tokens
from h1bot_bot.core.commands import CommandRouter
from h1bot_bot.core.conversation import BotIdentity
from h1bot_bot.core.effective import BotConfig, ConfigHolder
from h1bot_bot.core.endpoint_guard import EndpointGuard, EndpointRefused
from h1bot_bot.core.overrides import is_admin
from h1bot_bot.core.readiness import Health, assess
from h1bot_bot.core.tokens import EncodingUnavailable
from h1bot_bot.engine.approvals import Approvals
from h1bot_bot.engine.health_report import HealthReport
from h1bot_bot.engine.live_config import LiveConfig
from h1bot_bot.engine.tool_loop import ClusterTools
from h1bot_bot.wiring import Engine, ToolRunners, approvals_for, build_engine

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 15.0  # seconds between health checks besides the probes' and the changes' own


def release_startup_memory() -> None:
    """Hand the heap freed after start-up (imports, the tokenizer file's parsing) back to the OS (glibc only)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do


class StartupError(RuntimeError):
    """The bot cannot start; the message says what to fix."""


def read_manifest(path: str) -> dict:
    try:
        manifest = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise StartupError(f"cannot read the SlackBot manifest {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise StartupError(f"{path} is not a SlackBot manifest (expected a YAML mapping)")
    return manifest


def load_manifest(path: str) -> BotConfig:
    """The spec of a manifest file, without the overrides of its state file."""
    manifest = read_manifest(path)
    try:
        return BotConfig(SlackBotSpec.from_manifest(manifest), source=f"file:{path}")
    except ConfigError as exc:
        raise StartupError(f"invalid SlackBot in {path}: {exc}") from None


class RunningBot:
    """One running bot. `router` is the command registry; the ChatOps commands are registered on it at start."""

    def __init__(self, settings: Settings, router: CommandRouter | None = None):
        self.settings = settings
        self.router = router or CommandRouter()
        self.metrics = Metrics()
        self.resource = (SlackBotResource(settings.name, settings.namespace, timeout=settings.kube_timeout)
                         if not settings.spec_path else None)
        self.config: ConfigHolder | None = None
        self.live_config: LiveConfig | None = None
        self.watch: SlackBotWatch | None = None
        self._version: str | None = None  # the SlackBot's resourceVersion read at start (the watch goes on from it)
        self._namespace = settings.namespace or "default"  # the bot's own (a manifest file's metadata.namespace)
        self.kube_tools: KubeTools | None = None
        self.tool_runners: ToolRunners | None = None
        self.identity: BotIdentity | None = None
        self.slack_app: SlackBotApp | None = None
        self.surface: SlackSurface | None = None
        self.engine: Engine | None = None
        self.approvals: Approvals | None = None  # proposed actions awaiting Approve/Deny (set with the tool loop)
        self._expiry: asyncio.Task | None = None  # settles the proposals nobody decided in time
        self.tokenizers = Tokenizers()
        self.health: HealthServer | None = None
        self._endpoints = EndpointGuard(settings.allowed_base_urls)
        self.auth = SlackAuthMonitor()
        self.report = HealthReport(self._assess, None, interval=HEALTH_INTERVAL)
        self._session: aiohttp.ClientSession | None = None
        self._llm: LLMClient | None = None
        self._team = ""

    @property
    def http_port(self) -> int:
        return self.health.port if self.health else self.settings.http_port

    async def _load_config(self) -> LiveConfig:
        """The spec and the stored overrides, from the manifest file and its state file or from the cluster."""
        s = self.settings
        if s.spec_path:
            manifest = read_manifest(s.spec_path)
            state = StateFile.beside(s.spec_path)
            loaded = await asyncio.to_thread(state.load)  # a bad state file is moved aside and logged, never fatal
            spec, runtime, store = manifest.get("spec") or {}, loaded.runtime, FileStore(state)
            self._namespace = (manifest.get("metadata") or {}).get("namespace") or self._namespace
            source, where = f"file:{s.spec_path}", f"SlackBot in {s.spec_path}"
        else:
            try:
                obj = await self.resource.read()
            except Exception as exc:
                raise StartupError(f"cannot read SlackBot {s.namespace}/{s.name} from the cluster: "
                                   f"{describe_error(exc)}") from None
            self._version = obj["metadata"].get("resourceVersion")
            spec, runtime = obj.get("spec") or {}, (obj.get("status") or {}).get("runtime") or {}
            source, store, where = f"cluster:{s.namespace}/{s.name}", self.resource, f"SlackBot {s.namespace}/{s.name}"
        try:
            return LiveConfig(spec, runtime, source=source, store=store, backoff=s.persist_backoff,
                                 backoff_max=s.persist_backoff_max)
        except ConfigError as exc:
            raise StartupError(f"invalid {where}: {exc}") from None

    async def _identify(self, client: AsyncWebClient) -> BotIdentity:
        try:
            auth = await client.auth_test()
        except SlackApiError as exc:
            raise StartupError(f"Slack rejected SLACK_BOT_TOKEN (auth.test: {exc.response.get('error')})") from None
        except aiohttp.ClientError as exc:
            raise StartupError(f"cannot reach Slack at {self.settings.slack_api_url}: {exc}") from None
        self._team = auth.get("team") or ""
        return BotIdentity(user_id=auth["user_id"], bot_id=auth.get("bot_id") or "", team_id=auth.get("team_id", ""))

    def _endpoint(self) -> str:
        """The model endpoint of the current config: spec.model.baseURL (live), else OPENAI_BASE_URL; one outside
        H1BOT_ALLOWED_BASE_URLS is refused (logged once) and the last allowed endpoint kept."""
        spec_url, env_url = self.config.current.spec.model.base_url, self.settings.openai_base_url
        source = "spec.model.baseURL" if spec_url else "OPENAI_BASE_URL" if env_url else "the default endpoint"
        endpoint, refused = self._endpoints.choose(spec_url or env_url or DEFAULT_OPENAI_BASE_URL, source)
        if refused:
            log.error("%s", refused)
        return endpoint

    async def start(self) -> "RunningBot":
        s = self.settings
        self.live_config = live_config = await self._load_config()
        self.config = live_config.holder
        config = live_config.current
        spec = config.spec
        self._session = aiohttp.ClientSession()
        client = AsyncWebClient(token=s.slack_bot_token, base_url=s.slack_api_url, session=self._session)
        client.retry_handlers.insert(0, self.auth.retry_handler())  # first: it sees every response
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        self.identity = await self._identify(client)
        try:
            self._endpoint()
        except EndpointRefused as exc:
            raise StartupError(str(exc)) from None
        self._llm = LLMClient(api_key=s.openai_api_key, base_url=self._endpoint, organization=s.openai_org_id,
                              timeout=s.llm_timeout, attempts=s.llm_attempts, backoff=s.llm_backoff,
                              backoff_max=s.llm_backoff_max, answer_deadline=s.answer_deadline)
        gateway = SlackGateway(client, s.user_cache_ttl)
        streams = ReplyStreams(gateway, mode=s.slack_streaming, interval=s.update_interval,
                               buffer_size=s.stream_buffer_size, answer_deadline=s.answer_deadline)
        self.surface = SlackSurface(gateway, streams, self.identity,
                                    lambda: self.config.current.spec.access.allow_user_mentions)
        self.engine = build_engine(self.surface, self.identity, live_config, self._llm, self.tokenizers,
                                   self.metrics, self.router, surface_errors=(SlackApiError,),
                                   tools=self._cluster_tools())
        live_config.use_tokenizer(self._count_prompt_tokens)
        try:  # load the tokenizer now: a bot that cannot count tokens must not start half-broken
            self.tokenizers.count_tokens(spec.model.name)({"role": "user", "content": "warm up"})
        except Exception as exc:
            raise StartupError(f"cannot load the tokenizer for {spec.model.name} (TIKTOKEN_CACHE_DIR must hold "
                               f"its encoding when offline): {exc}") from None
        for problem in self.config.current.problems():  # counts every persona's prompt: the memo keeps them
            log.error("configuration problem (not ready; mentions are answered with it): %s", problem)
        self.tokenizers.release()  # loaded again only for a thread whose bytes may exceed the threshold
        release_startup_memory()
        self.slack_app = SlackBotApp(client, s.slack_app_token, self.identity, self.engine.dispatcher.handle,
                                     self.surface, lambda: self.config.current.spec.access.answer_bots,
                                     self.metrics, dedupe_size=s.dedupe_size, ping_interval=s.socket_ping_interval,
                                     decide=self._decide)
        self.slack_app.handler.client.on_message_listeners.append(self.auth.on_socket_message)
        self.health = HealthServer(self.metrics.registry, self.report.check, host=s.http_host, port=s.http_port)
        await self.health.start()
        await self.slack_app.connect()
        self.metrics.connected.set(1)
        log.info("connected to Slack as %s in team %s; config from %s; model %s at %s; %s streaming",
                 self.identity.user_id, self.identity.team_id, config.source, spec.model.name, self._llm.base_url,
                 s.slack_streaming)
        await live_config.begin(self.surface.tell)
        self._expiry = asyncio.create_task(self.approvals.sweep(), name="h1bot-proposal-expiry")
        if self.resource is not None:
            await self.resource.record_identity(self.identity.user_id, self.identity.team_id, self._team)
            self.report.write = self.resource.patch_status
        self.config.listeners.append(self.report.poke)
        self.auth.on_change = self.report.poke
        self.report.start()
        if self.resource is not None:
            self.watch = SlackBotWatch(self.resource, self._on_object, asyncio.get_running_loop(),
                                       since=self._version, timeout_seconds=s.watch_timeout,
                                       backoff=s.watch_backoff, backoff_max=s.watch_backoff_max).start()
        return self

    def _cluster_tools(self) -> ClusterTools:
        """spec.tools, live: the cluster is logged in to (the pod's ServiceAccount, or a kubeconfig) on the first
        lookup, so a bot without tools never needs a login for them."""
        self.kube_tools = KubeTools(cluster_login, timeout=self.settings.kube_timeout)
        self.tool_runners = ToolRunners(self._tools_spec, self.kube_tools)
        self.approvals = approvals_for(self.surface, self.kube_tools, self.live_config,
                                       lambda user: is_admin(self.config.current.spec, user), self._namespace)
        return ClusterTools(spec=self._tools_spec, own_namespace=self._namespace, lookup=self.tool_runners.lookup,
                            propose=self.approvals.propose)

    def _tools_spec(self) -> ToolsSpec | None:
        return self.config.current.spec.tools

    async def _decide(self, value: str, user: str, approve: bool, **where: str) -> str:
        """An Approve/Deny click (adapters/slack_app.py) on a proposed action."""
        if self.approvals is None:
            return NOT_ENABLED_TEXT
        return await self.approvals.decide(value, user, approve, **where)

    def _on_object(self, obj: dict) -> None:
        """A new version of the SlackBot from the watch: applied, then health re-checked (a rejected spec shows)."""
        self.live_config.on_object(obj)
        self.report.poke()

    def _count_prompt_tokens(self, model: str, text: str) -> int:
        """Tokens a system message costs with `model`'s tokenizer (the limits check counts the prompt)."""
        try:
            return system_prompt_tokens(self.tokenizers.counter(model), text)
        except EncodingUnavailable as exc:  # a channel's model whose encoding is not in TIKTOKEN_CACHE_DIR (offline)
            raise ConfigError(f"cannot load the tokenizer for {model}: {exc}") from None

    async def _assess(self) -> Health:
        """Whether this bot can answer now (the /readyz verdict and status.bot)."""
        connected = self.slack_app is not None and await self.slack_app.is_connected()
        self.metrics.connected.set(1 if connected else 0)
        problems = self.config.current.problems() if self.config is not None else []
        rejection = self.live_config.rejection if self.live_config is not None else None
        return assess(auth_failure=self.auth.failure, problems=problems, connected=connected, rejection=rejection)

    async def report_startup_failure(self, error: StartupError) -> None:
        """Tell status.bot why the bot cannot start (it exits next); best effort."""
        if self.resource is None:
            return
        health = (Health(False, api.SLACK_AUTH_REVOKED, self.auth.failure) if self.auth.failure
                  else Health(False, api.STARTUP_FAILED, str(error)))
        self.report.write = self.resource.patch_status
        await self.report.store(health)

    async def stop(self, drain_timeout: float | None = None) -> int:
        """Stop receiving, let replies in flight finish (bounded), release everything. Returns replies cancelled."""
        cancelled = 0
        self.report.write = None  # a bot shutting down is not news: its successor reports
        await self.report.stop()
        if self.slack_app is not None:
            await self.slack_app.stop_receiving()
            self.metrics.connected.set(0)
            timeout = self.settings.drain_timeout if drain_timeout is None else drain_timeout
            cancelled = await self.slack_app.drain(timeout)
        if self._expiry is not None:
            self._expiry.cancel()
            await asyncio.gather(self._expiry, return_exceptions=True)
        if self.watch is not None:
            await self.watch.stop()
        if self.live_config is not None:
            await self.live_config.close()
        if self._llm is not None:
            await self._llm.close()
        if self.tool_runners is not None:
            await self.tool_runners.close()
        if self._session is not None:
            await self._session.close()
        if self.health is not None:
            await self.health.stop()
        return cancelled

    async def __aenter__(self) -> "RunningBot":
        try:
            return await self.start()
        except BaseException:
            await self.stop(drain_timeout=0)
            raise

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()


async def run_bot(settings: Settings, stop: asyncio.Event, router: CommandRouter | None = None) -> int:
    """Run until `stop` is set; returns the process exit code (0 after a clean shutdown, 2 if it cannot start)."""
    bot = RunningBot(settings, router=router)
    try:
        await bot.start()
    except StartupError as exc:
        log.error("cannot start: %s", exc)
        await bot.report_startup_failure(exc)
        await bot.stop(drain_timeout=0)
        return 2
    await stop.wait()
    in_flight = len([t for t in bot.slack_app.in_flight if not t.done()])
    log.info("stopping: no new events; finishing %d repl%s in flight", in_flight, "y" if in_flight == 1 else "ies")
    cancelled = await bot.stop()
    log.info("stopped%s", f" ({cancelled} unfinished repl{'y' if cancelled == 1 else 'ies'} cancelled)"
             if cancelled else "")
    return 0
