"""The whole story a platform team lives, on loopback, with every part run as it runs for real.

The Kubernetes API is the emulator (tests/fakes/kube_emulator.py), driven with the real `kubectl`; the operator runs
as the chart's Deployment says (its command and env); the bot runs as the Deployment the operator created says (the
image's entrypoint, the container's env with the Secret's values): only the Slack and OpenAI base URLs point at the
fakes, and $KUBECONFIG stands in for the pod's service-account login. From `kubectl apply` to `kubectl delete`.
"""

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.helm_chart import only, render
from tests.fakes.bot_process import BotProcess
from tests.fakes.kube import KubeAPI, OperatorProcess, free_port, kubectl
from tests.fakes.openai import FakeOpenAI, default_responder
from tests.fakes.slack import FakeSlack
from tests.fakes.waiting import eventually
from tests.operator.conftest import BOTS, DEPLOYMENTS
from tests.paths import REPO

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(subprocess.run(["which", "kubectl"], capture_output=True).returncode != 0,
                                 reason="kubectl is not installed")]

EXAMPLE = yaml.safe_load((REPO / "examples" / "slackbot.yaml").read_text())
ADMIN = EXAMPLE["spec"]["access"]["admins"][0]
PERSONA = EXAMPLE["spec"]["persona"]["systemPrompt"]
CHANNEL = "C0STORY00"  # not the example's on-call channel, which has its own model
VENV_BIN = Path(sys.executable).parent
SUMMARIZERS = ("You condense", "You merge")


def image_entrypoint(dockerfile: Path) -> list[str]:
    """The final ENTRYPOINT of a Dockerfile (exec form): what a container without `command` runs."""
    [*_, last] = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile.read_text(), flags=re.MULTILINE)
    return json.loads(last)


def container_env(env: list[dict[str, Any]], secrets: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A container's `env` as the kubelet gives it to the process: values, and secretKeyRef values from the Secret."""
    resolved: dict[str, str] = {}
    for entry in env:
        if "value" in entry:
            resolved[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        resolved[entry["name"]] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
    return resolved


def summarizing_model(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    if system.startswith(SUMMARIZERS):
        return "Summary: the team discussed the checkout incident and its rollbacks."
    return default_responder(body)


class Story:
    """The cluster, the fakes and the commands a user types."""

    def __init__(self, api: KubeAPI, kubeconfig: Path, slack: FakeSlack, llm: FakeOpenAI, workdir: Path):
        self.api, self.kubeconfig, self.slack, self.llm, self.workdir = api, kubeconfig, slack, llm, workdir
        self.bots = 0

    async def kubectl(self, *args: str) -> str:
        if args[0] == "apply":  # the emulator publishes no OpenAPI schemas for kubectl's client-side validation
            args = (*args, "--validate=false")
        return await asyncio.to_thread(kubectl, self.kubeconfig, *args)

    def bot(self) -> dict[str, Any]:
        return self.api.find(BOTS, "default", "helpdesk") or {}

    def deployment(self) -> dict[str, Any]:
        return self.api.find(DEPLOYMENTS, "default", "h1bot-helpdesk") or {}

    def bot_from_deployment(self) -> BotProcess:
        """A new bot pod of the Deployment as it is now."""
        pod = self.deployment()["spec"]["template"]["spec"]
        [container] = pod["containers"]
        argv = [*(container.get("command") or image_entrypoint(REPO / "Dockerfile.bot")), *container.get("args", [])]
        secrets = {s["metadata"]["name"]: s for s in self.api.find_all("v1/secrets", "default")}
        env = container_env(container["env"], secrets)
        self.bots += 1
        env |= {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "HOME": str(self.workdir / f"pod{self.bots}"),
                "TIKTOKEN_CACHE_DIR": os.environ["TIKTOKEN_CACHE_DIR"],  # the image bakes the encodings in
                "KUBECONFIG": str(self.kubeconfig),  # in place of the pod's service-account token
                "H1BOT_HTTP_PORT": str(free_port()),  # a pod has its own network: here, another free port
                "SLACK_API_URL": self.slack.api_url, "OPENAI_BASE_URL": self.llm.base_url}
        return BotProcess.as_in_pod(self.slack, self.llm, argv, env, self.workdir / f"pod{self.bots}")

    async def ask(self, user: str, text: str, thread_ts: str | None = None) -> tuple[str, str]:
        """`user` mentions the bot; returns the thread and the text of the bot's final reply."""
        before = len(self.slack.bot_replies(CHANNEL, thread_ts)) if thread_ts else 0
        message, _ = await self.slack.mention(CHANNEL, user, text, thread_ts=thread_ts)
        root = thread_ts or message["ts"]
        replies = await self.slack.wait_for_replies(CHANNEL, root, count=before + 1)
        return root, replies[-1]["text"]

    def answers(self) -> list[dict[str, Any]]:
        return [r.body for r in self.llm.chat_requests if not r.messages[0]["content"].startswith(SUMMARIZERS)]

    async def effective_model(self) -> str:
        """The EFFECTIVE column of `kubectl get sb` (blank when no override is in effect)."""
        header, row = (await self.kubectl("get", "sb", "helpdesk")).splitlines()
        start = header.index("EFFECTIVE")
        end = min((m.start() for m in re.finditer(r"\S+", header) if m.start() > start), default=len(row))
        return row[start:end].strip()


@pytest.fixture
async def fakes():
    async with FakeSlack() as slack, FakeOpenAI(models=("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"),
                                                responder=summarizing_model) as llm:
        for user, name in ((ADMIN, "Ada"), ("UALICE", "Alice"), ("UBOB", "Bob")):
            slack.add_user(user, name)
        yield slack, llm


def operator_as_in_its_pod(chart: Any, kubeconfig: Path, llm: FakeOpenAI, log: Path) -> OperatorProcess:
    """The chart's operator container, its endpoint allow-list admitting the team's OpenAI-compatible endpoint."""
    values = {"models": {"allowedBaseURLs": ["https://api.openai.com/*", llm.base_url.removesuffix("/v1") + "/*"]}}
    [deployment] = only(render(chart, values), "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if e["name"] != "H1BOT_METRICS_PORT"}  # OperatorProcess's
    command = [str(VENV_BIN / container["command"][0]), *container["command"][1:]]
    return OperatorProcess(kubeconfig, command=command, args=tuple(container.get("args", ())), env=env, log_path=log)


async def test_from_kubectl_apply_to_kubectl_delete(tmp_path: Path, chart, fakes):
    slack, llm = fakes
    with KubeAPI(crds=()) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        story = Story(api, kubeconfig, slack, llm, tmp_path)

        # 1. The CRD; the example Secret with its placeholders replaced (as its comment says); the operator; the
        # example SlackBot.
        assert "created" in await story.kubectl("apply", "-f", str(REPO / "crds"))
        secret = yaml.safe_load((REPO / "examples" / "secret.yaml").read_text())
        assert set(secret["stringData"]) == {"slack-bot-token", "slack-app-token", "openai-api-key", "openai-org-id"}
        secret["stringData"] = {"slack-bot-token": slack.bot_token, "slack-app-token": slack.app_token,
                                "openai-api-key": llm.api_key, "openai-org-id": "org-story"}
        (tmp_path / "secret.yaml").write_text(yaml.safe_dump(secret))
        await story.kubectl("apply", "-f", str(tmp_path / "secret.yaml"))
        operator = operator_as_in_its_pod(chart, kubeconfig, llm, tmp_path / "operator.log")
        with operator:
            out = await story.kubectl("apply", "-f", str(REPO / "examples" / "slackbot.yaml"))
            assert "slackbot.chatops.h1bot.dev/helpdesk created" in out
            await eventually(lambda: story.deployment().get("spec"), timeout=30, message="the bot Deployment")
            checksum = story.deployment()["spec"]["template"]["metadata"]["annotations"][
                "chatops.h1bot.dev/secrets-checksum"]

            # 2. A bot pod, as the Deployment says.
            bot = await story.bot_from_deployment().start()
            try:
                # 3. A 300-message thread, with one earlier answer of the bot's; Bob asks.
                root = slack.say(CHANNEL, "UALICE", "#0 checkout is failing since 09:12 " + "cart payment " * 25)
                for i in range(1, 299):
                    slack.say(CHANNEL, "UBOB" if i % 2 else "UALICE", f"#{i} update " + "pods restarted " * 20,
                              thread_ts=root["ts"])
                slack.say(CHANNEL, slack.bot_user_id, "Rolling back the deploy fixed it.", bot_id=slack.bot_id,
                          thread_ts=root["ts"])
                _, reply = await story.ask("UBOB", "what is the status?", root["ts"])
                assert reply.startswith("Answer to: Bob (UBOB): what is the status?") and "summarized" in reply
                [answer] = story.answers()
                assert answer["stream"] is True and answer["model"] == "gpt-4o-mini"
                assert answer["messages"][0] == {"role": "system", "content": PERSONA}
                assert {"role": "assistant", "content": "Rolling back the deploy fixed it."} in answer["messages"]
                assert answer["messages"][-1] == {"role": "user", "content": "Bob (UBOB): what is the status?"}
                assert not any("#0 checkout" in m["content"] for m in answer["messages"]), "summarized, not sent"
                assert len(llm.chat_requests) > 1, "the older messages went through the model to be summarized"
                [reply_message] = slack.bot_replies(CHANNEL, root["ts"])[-1:]
                assert [c for c in slack.calls_to("chat.update") if c.params.get("ts") == reply_message["ts"]], \
                    "the reply was written as it streamed (placeholder, then edits)"

                # 4. An admin switches models from Slack; kubectl shows it; the next answer uses it.
                switched, said = await story.ask(ADMIN, "model gpt-4o")
                assert "*Model* is now `gpt-4o`" in said, said
                await eventually(lambda: (story.bot().get("status") or {}).get("runtime", {}).get("overrides"),
                                 message="the override in status.runtime")
                assert await story.effective_model() == "gpt-4o"
                await story.ask("UALICE", "which model now?")
                assert story.answers()[-1]["model"] == "gpt-4o"

                # 5. The pod dies; its replacement, from the same Deployment, keeps the override.
                bot.kill()
                await bot.process.wait()
                bot = await story.bot_from_deployment().start()
                await story.ask("UALICE", "still there?")
                assert story.answers()[-1]["model"] == "gpt-4o"

                # 6. The team changes the model in Git: the spec wins, the override is dropped and said where it
                # was made, the new model answers, the bot is not restarted.
                template = story.deployment()["spec"]["template"]
                changed = yaml.safe_load((REPO / "examples" / "slackbot.yaml").read_text())
                changed["spec"]["model"]["name"] = "gpt-4.1-mini"
                (tmp_path / "changed.yaml").write_text(yaml.safe_dump(changed))
                await story.kubectl("apply", "-f", str(tmp_path / "changed.yaml"))
                dropped = await slack.wait_for_texts(CHANNEL, switched, count=2)
                assert "the spec wins" in dropped[-1] and "gpt-4.1-mini" in dropped[-1], dropped[-1]
                await eventually(lambda: not (story.bot().get("status") or {}).get("runtime", {}).get("overrides"),
                                 message="the dropped override gone from status.runtime")
                await story.ask("UALICE", "and now?")
                assert story.answers()[-1]["model"] == "gpt-4.1-mini"
                assert bot.process.returncode is None and story.deployment()["spec"]["template"] == template
                assert await story.effective_model() == ""
                events = await story.kubectl("get", "events", "--field-selector",
                                             "involvedObject.name=helpdesk", "-o", "json")
                assert any("dropped" in e["message"] for e in json.loads(events)["items"]), events
            finally:
                await bot.stop()

            # 7. The Slack token is rotated in the Secret: the pods roll (the template's checksum changes).
            await story.kubectl("patch", "secret", "h1bot-credentials", "--type=merge", "-p",
                                json.dumps({"stringData": {"slack-bot-token": "xoxb-rotated"}}))
            await eventually(lambda: story.deployment()["spec"]["template"]["metadata"]["annotations"][
                "chatops.h1bot.dev/secrets-checksum"] != checksum, timeout=30, message="a new secrets checksum")

            # 8. `kubectl delete sb`: every child is owned by the SlackBot, so garbage collection removes it.
            uid = story.bot()["metadata"]["uid"]
            children = {kind: api.find_all(kind, "default") for kind in (
                DEPLOYMENTS, "v1/serviceaccounts", "rbac.authorization.k8s.io/v1/roles",
                "rbac.authorization.k8s.io/v1/rolebindings", "policy/v1/poddisruptionbudgets")}
            assert all(children.values()), children
            for kind, objects in children.items():
                for obj in objects:
                    [owner] = obj["metadata"]["ownerReferences"]
                    assert (owner["uid"], owner["kind"], owner["controller"]) == (uid, "SlackBot", True), (kind, obj)
            await story.kubectl("delete", "sb", "helpdesk", "--wait=false")
            await eventually(lambda: not any(api.find_all(kind, "default") for kind in children),
                             timeout=30, message="the children garbage-collected")
