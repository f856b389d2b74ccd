"""Replicas of one bot: what the claim before answering costs per mention, and how long a failover takes.

Real `h1bot-bot --spec` subprocesses (the replicas) against one fake Slack and one fake OpenAI (instant answers) on
loopback. The fake Slack behaves as Slack does with several Socket Mode connections: each event goes to ONE of them,
and an envelope not acked within `--ack-timeout` seconds is sent again on another connection.

1. cost: mentions sent alternately to a replica that claims (reactions.add) and one whose claims are off (the app
   without reactions:write), interleaved so both see the same machine load; latency is envelope → final reply.
2. duplicates: every mention delivered to BOTH connections (the worst case): replies, model calls, Slack calls.
3. failover: the replica that receives the events is killed (kill -9: its connection closes) or frozen (SIGSTOP:
   a lost node, connection left open); a mention sent at that instant is timed until the other replica answers it.
4. rollout: mentions every 50 ms while a 2-replica bot is rolled (surge a new pod, SIGTERM an old one, twice).
5. primitives: one claim's round trip on loopback, through Slack (reactions.add, this mechanism) and through the
   Kubernetes API (create a Lease named by the event: the alternative), against the fakes.

    .venv/bin/python bench/failover.py [--mentions 100] [--rounds 5] [--ack-timeout 3]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.bot_process import BotProcess  # noqa: E402
from tests.fakes.openai import FakeOpenAI  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.tiktoken_offline import seed_tiktoken_cache  # noqa: E402

SPEC = {"apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot", "metadata": {"name": "bench"},
        "spec": {"model": {"name": "gpt-4o-mini", "maxOutputTokens": 512},
                 "secrets": {"slackBotToken": {"name": "s", "key": "b"}, "slackAppToken": {"name": "s", "key": "a"},
                             "openAIAPIKey": {"name": "s", "key": "o"}}}}
QUIET = {"LOG_LEVEL": "ERROR", "LOG_FORMAT": "text"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50):.1f} ms, p95 {percentile(values, 95):.1f} ms, max {max(values):.1f} ms "
            f"(n={len(values)})")


class Bench:
    def __init__(self, slack: FakeSlack, llm: FakeOpenAI, workdir: Path):
        self.slack, self.llm, self.workdir = slack, llm, workdir
        self.count = 0
        self.final: dict[str, asyncio.Future] = {}  # expected final text → when it was posted
        slack.call_hooks.append(self._on_call)

    def _on_call(self, call) -> None:
        if call.method in ("chat.update", "chat.postMessage"):
            future = self.final.get(call.params.get("text", ""))
            if future is not None and not future.done():
                future.set_result(call.at)

    def replica(self, name: str, **env: str) -> BotProcess:
        return BotProcess(self.slack, self.llm, SPEC, self.workdir / f"{name}-{uuid.uuid4().hex[:6]}",
                          **QUIET, **env)

    def question(self) -> tuple[str, dict, str]:
        """A new thread's first message mentioning the bot: (channel, app_mention event, expected answer)."""
        self.count += 1
        channel, text = f"C{self.count:05d}", f"question {self.count}"
        message = self.slack.say(channel, "UALICE", f"<@{self.slack.bot_user_id}> {text}")
        expected = f"Answer to: Alice (UALICE): {text}"
        self.final[expected] = asyncio.get_running_loop().create_future()
        return channel, {**message, "type": "app_mention", "channel": channel, "event_ts": message["ts"]}, expected

    async def answered(self, expected: str, timeout: float = 60) -> float:  # noqa: ASYNC109
        return await asyncio.wait_for(asyncio.shield(self.final[expected]), timeout)

    def replies(self, channel: str) -> int:
        return sum(len(self.slack.bot_replies(channel, m["ts"])) for m in self.slack.messages.get(channel, [])
                   if m.get("user") != self.slack.bot_user_id)


async def cost(bench: Bench, mentions: int) -> None:
    slack = bench.slack
    off = await bench.replica("off").start()
    slack.fail("reactions.add", "missing_scope")  # this replica's app cannot react: it answers without claiming
    _, event, expected = bench.question()
    await slack.send_event(event, to=off.connection)
    await bench.answered(expected)
    on = await bench.replica("on").start()
    try:
        for warm in range(5):
            _, event, expected = bench.question()
            await slack.send_event(event, to=(on, off)[warm % 2].connection)
            await bench.answered(expected)
        with_claim, without = [], []
        calls_before = len(slack.calls)
        for i in range(2 * mentions):
            replica, into = (on, with_claim) if i % 2 == 0 else (off, without)
            _, event, expected = bench.question()
            envelope = await slack.send_event(event, to=replica.connection)
            into.append((await bench.answered(expected) - slack.envelopes[envelope].sent_at) * 1000)
        claims = sum(1 for c in slack.calls[calls_before:] if c.method == "reactions.add")
    finally:
        await asyncio.gather(on.stop(), off.stop())
    print(f"1. cost per mention, one connection each, interleaved ({mentions} + {mentions} mentions):")
    print(f"   with the claim:    {summary(with_claim)}")
    print(f"   without the claim: {summary(without)}")
    print(f"   added: p50 {percentile(with_claim, 50) - percentile(without, 50):+.2f} ms, mean "
          f"{statistics.mean(with_claim) - statistics.mean(without):+.2f} ms; Slack calls added per mention: "
          f"{claims / mentions:.2f} reactions.add")


async def duplicates(bench: Bench, mentions: int) -> None:
    slack, llm = bench.slack, bench.llm
    replicas = [await bench.replica("dup").start() for _ in range(2)]
    try:
        latencies, channels = [], []
        calls_before, models_before = len(slack.calls), len(llm.chat_requests)
        for _ in range(mentions):
            channel, event, expected = bench.question()
            channels.append(channel)
            envelopes = await slack.deliver_to_all(event)
            latencies.append((await bench.answered(expected) - slack.envelopes[envelopes[0]].sent_at) * 1000)
        for replica in replicas:  # each replica decided on every mention it was sent (won or lost)
            await replica.wait_metric("h1bot_reply_claims_total", mentions)
        lost = sum([await r.metric('h1bot_reply_claims_total{outcome="lost"}') for r in replicas])
        calls = slack.calls[calls_before:]
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
    per = {m: sum(1 for c in calls if c.method == m) / mentions for m in ("reactions.add", "conversations.replies",
                                                                        "chat.postMessage", "chat.update")}
    print(f"2. every mention on both connections ({mentions} mentions, 2 replicas): {summary(latencies)}")
    print(f"   replies per mention {sum(bench.replies(c) for c in channels) / mentions:.2f}, model calls per mention "
          f"{(len(llm.chat_requests) - models_before) / mentions:.2f}, claims lost {int(lost)}/{mentions}; "
          f"Slack calls per mention: " + ", ".join(f"{m} {n:.2f}" for m, n in per.items()))


async def failover(bench: Bench, rounds: int, how: str) -> None:
    """The mention sent at the instant of the failure, and (kill) one sent once Slack saw the connection close."""
    slack = bench.slack
    survivor = await bench.replica("survivor").start()
    at_once, closed, after_close, replies = [], [], [], []
    try:
        for _ in range(rounds):
            victim = await bench.replica("victim").start()  # the newest connection: it receives the events
            channel, event, expected = bench.question()
            started = time.perf_counter()
            victim.kill() if how == "kill" else victim.freeze()
            await slack.send_event(event)
            if how == "kill":
                await slack.wait_for(lambda v=victim: v.connection not in slack.connections, timeout=30)
                closed.append((time.perf_counter() - started) * 1000)
                later_channel, later_event, later = bench.question()
                envelope = await slack.send_event(later_event)
                after_close.append((await bench.answered(later) - slack.envelopes[envelope].sent_at) * 1000)
                replies.append(bench.replies(later_channel))
            at_once.append((await bench.answered(expected) - started) * 1000)
            if how == "freeze":  # the node comes back: its late copy of the event must not be answered again
                victim.thaw()
                await victim.wait_metric("h1bot_reply_claims_total", 1)
            await victim.stop()
            replies.append(bench.replies(channel))
    finally:
        await survivor.stop()
    if how == "kill":
        print(f"3. failover, kill -9 (its connection closes): mention sent at the kill → answered by the other "
              f"replica: {summary(at_once)}")
        print(f"   connection seen closed after {summary(closed)}; a mention sent then: {summary(after_close)}; "
              f"replies per mention {statistics.mean(replies):.2f}")
    else:
        print(f"3. failover, frozen by SIGSTOP (a lost node: its connection stays open): mention → answered by the "
              f"other replica after Slack's retry: {summary(at_once)}; replies per mention "
              f"{statistics.mean(replies):.2f} (the frozen one, thawed, stood back)")


async def rollout(bench: Bench) -> None:
    slack = bench.slack
    slack.delivery = "round_robin"
    pods = [await bench.replica("old").start() for _ in range(2)]
    asked: list[tuple[str, str, float]] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            channel, event, expected = bench.question()
            envelope = await slack.send_event(event)
            asked.append((channel, expected, slack.envelopes[envelope].sent_at))
            await asyncio.sleep(0.05)

    sender = asyncio.ensure_future(traffic())
    started = time.perf_counter()
    try:
        for _ in range(2):  # maxSurge 1, maxUnavailable 0: a new pod is ready, then an old one is terminated
            pods.append(await bench.replica("new").start())
            old = pods.pop(0)
            code = await old.terminate()
            assert code == 0, code
        stop.set()
        await sender
        latencies = [(await bench.answered(expected) - sent) * 1000 for _, expected, sent in asked]
    finally:
        stop.set()
        await asyncio.gather(*(p.stop() for p in pods))
    replies = [bench.replies(channel) for channel, _, _ in asked]
    unanswered, twice = sum(1 for r in replies if r == 0), sum(1 for r in replies if r > 1)
    channels = {channel for channel, _, _ in asked}
    retried = len({e.payload["payload"]["event_id"] for e in slack.envelopes.values()
                   if e.payload["retry_attempt"] > 0 and e.payload["payload"]["event"].get("channel") in channels
                   and e.payload["payload"]["event"].get("type") == "app_mention"})
    print(f"4. rollout of 2 replicas ({time.perf_counter() - started:.1f} s, a mention every 50 ms): "
          f"{summary(latencies)}; unanswered {unanswered}, answered twice {twice}; {retried} reached a pod as it "
          f"closed its connection and were answered after Slack's retry")


async def primitives(bench: Bench, n: int) -> None:
    import warnings

    from kubernetes import client as k8s
    from slack_sdk.web.async_client import AsyncWebClient

    from tests.fakes.kube import KubeAPI

    slack = bench.slack
    web = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    won, lost = [], []
    for _ in range(n):
        message = slack.say("CPRIM", "UALICE", "hi")
        for into in (won, lost):
            started = time.perf_counter()
            try:
                await web.reactions_add(channel="CPRIM", timestamp=message["ts"], name="eyes")
            except Exception:
                pass
            into.append((time.perf_counter() - started) * 1000)
    await web.session.close() if web.session else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api = KubeAPI(crds=()).start()
    try:
        configuration = k8s.Configuration(host=api.url)
        leases = k8s.CoordinationV1Api(k8s.ApiClient(configuration))
        created, refused, statuses = [], [], set()
        for i in range(n):
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": f"h1bot-bench-ev{i:06d}"}, "spec": {"holderIdentity": "pod-a"}}
            for into in (created, refused):
                started = time.perf_counter()
                try:
                    await asyncio.to_thread(leases.create_namespaced_lease, "default", body)
                    statuses.add(201)
                except k8s.ApiException as exc:
                    statuses.add(exc.status)
                into.append((time.perf_counter() - started) * 1000)
    finally:
        api.stop()
    print(f"5. one claim's round trip on loopback ({n} each):")
    print(f"   Slack reactions.add: first (wins) {summary(won)}; second (already_reacted) {summary(lost)}")
    print(f"   Kubernetes Lease create (emulator): first {summary(created)}; second {summary(refused)} "
          f"(statuses seen: {sorted(statuses)})")


async def run(args: argparse.Namespace) -> None:
    seed_tiktoken_cache(Path(tempfile.gettempdir()) / "h1bot-tiktoken-cache")
    async with FakeSlack() as slack, FakeOpenAI() as llm:
        slack.add_user("UALICE", "Alice")
        slack.ack_timeout = args.ack_timeout
        bench = Bench(slack, llm, Path(tempfile.mkdtemp(prefix="h1bot-failover-")))
        print(f"replicas: h1bot-bot subprocesses; fake Slack retries an unacked envelope after {args.ack_timeout} s "
              f"on another connection; instant fake LLM; loopback")
        await cost(bench, args.mentions)
        await duplicates(bench, args.mentions)
        await failover(bench, args.rounds, "kill")
        await failover(bench, args.rounds, "freeze")
        await rollout(bench)
        await primitives(bench, args.mentions)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mentions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ack-timeout", type=float, default=3.0, help="Slack's ack deadline before a retry")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
