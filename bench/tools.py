"""Tool output on loopback: a question that needs 3 lookups in a namespace of 200 pods and 2,000 events, answered with
spec.tools.limits and without them, to show what the limits save.

The bot runs as a real `h1bot-bot --spec` subprocess (the SlackBot of examples/tools/slackbot.yaml) against the fake
Slack and an instant fake OpenAI in this process, and logs in as its ServiceAccount to the Kubernetes API emulator
(in a thread here), which enforces the RBAC the operator renders from spec.tools. The namespace is
tests/bot/tool_cluster.busy_namespace(): 200 pods of ten apps (three checkout pods crash-looping), 2,000 events (four
about the pod asked about), ten Deployments, and that pod's 1,000-line log ending in the FATAL line.
The model scripts: round 1 kube_list pods in payments; round 2 kube_events of the pod and kube_logs of it (previous,
in parallel); then the answer. Tokens are counted with the model's real tiktoken encoding (offline cache).

"Without limits" is the same bot with spec.tools.limits.maxOutputTokens at its schema maximum (100000), which
gpt-4o-mini's 128k context window leaves in place: the bench checks that nothing was clipped. Both modes ask for the
same log lines (spec.tools.kubernetes.logs.maxLines 200). The third row is computed, not sent: the objects the
lookups read as the API returns them (JSON), not summarized to one line per object and not clipped.

    .venv/bin/python bench/tools.py [--runs 5]
"""

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bot_latency import bot_files  # noqa: E402
from h1bot_bot.adapters.tokenizers import counter_for  # noqa: E402
from tests.bot.tool_cluster import (  # noqa: E402
    BOT,
    CRASH_LOG_LINE,
    CRASHING,
    Namespace,
    bot_kubeconfig,
    busy_namespace,
    load,
)
from tests.fakes.kube import KubeAPI  # noqa: E402
from tests.fakes.openai import FakeOpenAI, ReceivedRequest, ToolCall, ToolCalls  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.tiktoken_offline import seed_tiktoken_cache  # noqa: E402

MODEL = BOT["spec"]["model"]["name"]
QUESTION = f"why is {CRASHING} crash-looping?"
ANSWER = f"{CRASHING} crash-loops: postgres refuses its database password (FATAL in its previous log)."
UNLIMITED_TOKENS = 100_000  # spec.tools.limits.maxOutputTokens at its schema maximum (h1bot_api/tools_spec.py)
EVENTS_PATH = "/api/v1/namespaces/payments/events"


def instant_model(body: dict):
    """The fake model's three rounds, chosen from what it has already called in this answer."""
    rounds = sum(1 for m in body.get("messages", []) if m.get("tool_calls"))
    if body.get("tool_choice") == "none" or rounds >= 2:
        return ANSWER
    if rounds == 0:
        return ToolCalls([ToolCall("kube_list", {"resource": "pods", "namespace": "payments"})])
    return ToolCalls([ToolCall("kube_events", {"namespace": "payments", "name": CRASHING}),
                      ToolCall("kube_logs", {"namespace": "payments", "pod": CRASHING, "previous": True})])


def manifest(max_output_tokens: int | None) -> dict:
    """The example SlackBot; `max_output_tokens` replaces spec.tools.limits.maxOutputTokens (None: as written)."""
    bot = copy.deepcopy(BOT)
    if max_output_tokens is not None:
        bot["spec"]["tools"]["limits"]["maxOutputTokens"] = max_output_tokens
    return bot


@dataclass
class Answer:
    seconds: float  # envelope sent → the bot's last Slack call in the thread
    text: str
    requests: list[ReceivedRequest]  # the model requests of this answer


async def ask(slack: FakeSlack, llm: FakeOpenAI, channel: str) -> Answer:
    first = len(llm.chat_requests)
    message, envelope_id = await slack.mention(channel, "UALICE", QUESTION)
    sent = slack.envelopes[envelope_id].sent_at
    texts = await slack.wait_for_texts(channel, message["ts"], timeout=30)
    last_call = max(c.at for c in slack.calls if c.params.get("channel") == channel)
    return Answer(last_call - sent, "\n".join(texts), llm.chat_requests[first:])


async def answers(slack: FakeSlack, llm: FakeOpenAI, kubeconfig: Path, bot: dict, label: str,
                  runs: int) -> list[Answer]:
    """`runs` answers (after one warm-up: the login, the tokenizer) of a bot running with manifest `bot`."""
    spec_path, env = bot_files(slack, llm, bot)
    env = {**env, "KUBECONFIG": str(kubeconfig)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    process = await asyncio.create_subprocess_exec(str(Path(sys.executable).parent / "h1bot-bot"), "--spec",
                                                   str(spec_path), env=env, cwd=spec_path.parent)
    try:
        await slack.wait_for(lambda: slack.connected, timeout=60)
        await ask(slack, llm, f"C{label}-warmup")
        return [await ask(slack, llm, f"C{label}{i:03d}") for i in range(runs)]
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        await slack.wait_for(lambda: not slack.connected, timeout=30)


@dataclass
class Figures:
    calls: int
    tool_tokens: int  # of the tool messages the model received
    prompt_tokens: int  # of the final request's messages (tool definitions not counted)
    seconds: float  # median per answer
    clipped: bool
    pods_seen: int
    crashing_seen: int  # pods in CrashLoopBackOff among them
    fatal_seen: bool
    backoff_seen: bool


def figures(found: list[Answer], count) -> Figures:
    last = found[-1]
    final = last.requests[-1]
    results = [m["content"] for m in final.tool_results]
    pods, events, logs = results
    calls = [c for m in final.messages if m.get("tool_calls") for c in m["tool_calls"]]
    # as the bot counts a request (content, per-message overhead), plus the calls' names and arguments
    prompt = count.count_messages(final.messages) + sum(
        count.count_text(c["function"]["name"] + c["function"]["arguments"]) for c in calls)
    assert ANSWER in last.text, f"unexpected answer: {last.text[-300:]}"
    return Figures(len(calls), sum(count.count_text(r) for r in results), prompt,
                   statistics.median(a.seconds for a in found), "clipped to the tool output limit" in last.text,
                   sum(1 for line in pods.splitlines() if "  phase=" in line), pods.count("CrashLoopBackOff"),
                   CRASH_LOG_LINE in logs,
                   f"BackOff Pod/{CRASHING}" in events)


def raw_tokens(api: KubeAPI, contents: Namespace, log_lines: int, count) -> int:
    """Tokens of what the three lookups read as the API returns it: the pod list and the pod's Event objects as
    JSON, and the log lines (already raw): nothing summarized, nothing clipped."""
    pods = api.request("GET", "/api/v1/namespaces/payments/pods")
    events = [e for e in api.find_all("v1/events", "payments") if e["involvedObject"]["name"] == CRASHING]
    log = "\n".join(contents.logs[("payments", CRASHING)].splitlines()[-log_lines:])
    return sum(count.count_text(text) for text in (json.dumps(pods, separators=(",", ":")),
                                                    json.dumps(events, separators=(",", ":")), log))


def events_method(api: KubeAPI) -> str:
    queries = [dict(r.params) for r in api.received("GET", EVENTS_PATH)]
    if queries and all("fieldSelector" in q for q in queries):
        return "server-side (fieldSelector)"
    limits = sorted({q.get("limit", "none") for q in queries})
    return (f"client-side: the tool lists events (limit {', '.join(limits)}; the emulator ignores limit and returns "
            f"all {api.count('v1/events', 'payments')}) and keeps the pod's")


async def run(runs: int) -> None:
    seed_tiktoken_cache(Path(tempfile.gettempdir()) / "h1bot-tiktoken-cache")
    count = counter_for(MODEL)
    contents = busy_namespace(pods=200, events=2000)
    log_lines = BOT["spec"]["tools"]["kubernetes"]["logs"]["maxLines"]
    limit = BOT["spec"]["tools"]["limits"]["maxOutputTokens"]
    with KubeAPI() as api:
        load(api, contents)
        kubeconfig = bot_kubeconfig(api, Path(tempfile.mkdtemp(prefix="h1bot-bench-kube-")))
        async with FakeSlack() as slack, FakeOpenAI(responder=instant_model) as llm:
            slack.add_user("UALICE", "Alice")
            limited = figures(await answers(slack, llm, kubeconfig, manifest(None), "L", runs), count)
            unlimited = figures(await answers(slack, llm, kubeconfig, manifest(UNLIMITED_TOKENS), "U", runs), count)
        raw = raw_tokens(api, contents, log_lines, count)
        how_events = events_method(api)
        refused = api.call(lambda: list(api.emulator.tools.refused))

    print(f"bot: h1bot-bot --spec subprocess (examples/tools/slackbot.yaml), instant fake {MODEL}, fakes and the Kube "
          f"API emulator (RBAC from spec.tools) on loopback; tokens: tiktoken {count.encoding_name}")
    print(f"namespace payments: {len(contents.pods)} pods (3 crash-looping), {len(contents.events)} events (4 about "
          f"{CRASHING}), {len(contents.deployments)} deployments; question: {QUESTION!r}; {runs} runs per mode")
    print(f"events of the pod read {how_events}; logs: last {log_lines} lines (logs.maxLines) in every mode; "
          f"RBAC refusals: {len(refused)}")
    print("'without limits': spec.tools.limits.maxOutputTokens = 100000 (the schema maximum), context 128k, same bot "
          "otherwise; 'raw API output': computed, not sent")
    header = (f"{'mode':<34}{'tool calls':>11}{'tool-output tokens':>20}{'final prompt tokens':>21}"
              f"{'wall/answer (median)':>22}{'clipped':>9}  model saw")
    print(header)
    print("-" * len(header))
    for name, f in ((f"with limits (maxOutputTokens {limit})", limited),
                    (f"without limits ({UNLIMITED_TOKENS})", unlimited)):
        seen = (f"{f.pods_seen}/{len(contents.pods)} pods ({f.crashing_seen} crash-looping), "
                f"BackOff event {'yes' if f.backoff_seen else 'NO'}, FATAL line {'yes' if f.fatal_seen else 'NO'}")
        print(f"{name:<34}{f.calls:>11}{f.tool_tokens:>20}{f.prompt_tokens:>21}{f.seconds * 1000:>19.0f} ms"
              f"{'yes' if f.clipped else 'no':>9}  {seen}")
    print(f"{'raw API output (computed)':<34}{3:>11}{raw:>20}{'':>21}{'':>22}{'no':>9}  everything, as JSON")
    print(f"the limits save {1 - limited.tool_tokens / unlimited.tool_tokens:.0%} of the tool-output tokens and "
          f"{1 - limited.prompt_tokens / unlimited.prompt_tokens:.0%} of the final prompt against no limits; "
          f"summarizing and limits together save {1 - limited.tool_tokens / raw:.0%} against the raw API output")
    if unlimited.clipped:
        print("WARNING: the run without limits was clipped all the same: its figures are not unclipped")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5, help="answers per mode (the median wall time is shown)")
    asyncio.run(run(parser.parse_args().runs))


if __name__ == "__main__":
    main()
