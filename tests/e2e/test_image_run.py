"""Opt-in: the BUILT images, run the way the chart runs them, against the fakes on loopback.

The bot image answers a mention in its thread (fake Slack, fake OpenAI, a mounted `--spec` manifest); the operator
image reconciles a SlackBot into a Deployment against the Kubernetes emulator, with a mounted kubeconfig. Each runs
as UID 10001 on a read-only root with only a tmpfs /tmp writable, all capabilities dropped, and `--network host`
so that it reaches the fakes on 127.0.0.1. Build the images first (docs/testing.md):

    /path/to/image-check all            # tags localhost/h1bot-bot:check and localhost/h1bot-operator:check
    H1BOT_TEST_IMAGES=1 .venv/bin/pytest tests/e2e/test_image_run.py
"""

import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.kube import KubeAPI, free_port, wait_until
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.paths import REPO

BOT_IMAGE = os.environ.get("H1BOT_TEST_BOT_IMAGE", "localhost/h1bot-bot:check")
OPERATOR_IMAGE = os.environ.get("H1BOT_TEST_OPERATOR_IMAGE", "localhost/h1bot-operator:check")


def _image_missing(reference: str) -> str | None:
    if os.environ.get("H1BOT_TEST_IMAGES") != "1":
        return "opt-in: build the images (image-check all), then set H1BOT_TEST_IMAGES=1 (see docs/testing.md)"
    if shutil.which("podman") is None:
        return "podman is not installed"
    if subprocess.run(["podman", "image", "exists", reference], capture_output=True).returncode != 0:
        return f"image {reference} is not in podman: build it with image-check"
    return None


def needs_image(reference: str) -> pytest.MarkDecorator:
    reason = _image_missing(reference)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def podman_run(image: str, name: str, env: dict[str, str], mounts: dict[Path, str], args: list[str]) -> list[str]:
    """`podman run -d` as the chart runs the pod: UID 10001, read-only root, tmpfs /tmp, no capabilities."""
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    command = ["podman", "--runtime", "runc", "run", "-d", "--name", name, "--user", "10001:10001",
               "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m,mode=1777",
               "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
               "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}", "--network", "host"]
    for key, value in env.items():
        command += ["-e", f"{key}={value}"]
    for host_path, container_path in mounts.items():
        host_path.chmod(0o644)  # readable by UID 10001
        command += ["-v", f"{host_path}:{container_path}:ro"]
    return [*command, image, *args]


class Container:
    def __init__(self, name: str) -> None:
        self.name = name

    def logs(self) -> str:
        result = subprocess.run(["podman", "logs", self.name], capture_output=True, text=True, timeout=30)
        return result.stdout + result.stderr

    def state(self) -> dict:
        result = subprocess.run(["podman", "inspect", "--format", "{{json .State}}", self.name],
                                capture_output=True, text=True, timeout=30)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def assert_running(self) -> None:
        state = self.state()
        assert state.get("Running"), f"the container exited ({state.get('ExitCode')}):\n{self.logs()}"

    def stop(self) -> int:
        """SIGTERM to PID 1, as the kubelet sends it (SIGKILL after 10 s); the exit code."""
        subprocess.run(["podman", "stop", "-t", "10", self.name], capture_output=True, timeout=60)
        return self.state().get("ExitCode", -1)


def start(command: list[str], name: str) -> Container:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"podman run failed:\n{result.stderr}"
    return Container(name)


def remove(container: Container) -> None:
    subprocess.run(["podman", "stop", "-t", "10", container.name], capture_output=True, timeout=60)
    subprocess.run(["podman", "rm", "-f", container.name], capture_output=True, timeout=60)


@contextlib.contextmanager
def running(command: list[str], name: str) -> Iterator[Container]:
    container = start(command, name)
    try:
        yield container
    except BaseException:
        print(f"--- logs of {name} ---\n{container.logs()}")
        raise
    finally:
        remove(container)


@contextlib.asynccontextmanager
async def running_async(command: list[str], name: str) -> AsyncIterator[Container]:
    """`running` for async tests: podman runs in a thread, so the fakes in this loop keep serving."""
    container = await asyncio.to_thread(start, command, name)
    try:
        yield container
    except BaseException:
        print(f"--- logs of {name} ---\n{await asyncio.to_thread(container.logs)}")
        raise
    finally:
        await asyncio.to_thread(remove, container)


def http_status(url: str) -> int | None:
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    return None


@needs_image(BOT_IMAGE)
async def test_the_bot_image_answers_a_mention_in_its_thread(tmp_path: Path):
    async with FakeSlack() as slack, FakeOpenAI() as llm:
        slack.add_user("UALICE", "Alice")
        slack.add_user("UBOB", "Bob")
        spec = tmp_path / "slackbot.yaml"
        spec.write_text(yaml.safe_dump({
            "apiVersion": "chatops.h1bot.dev/v1alpha1", "kind": "SlackBot",
            "metadata": {"name": "helpdesk", "namespace": "default"},
            "spec": {"model": {"name": "gpt-4o-mini", "maxOutputTokens": 512},
                     "persona": {"systemPrompt": "You are the platform team's helpdesk bot."},
                     "secrets": {"slackBotToken": {"name": "creds", "key": "bot"},
                                 "slackAppToken": {"name": "creds", "key": "app"},
                                 "openAIAPIKey": {"name": "creds", "key": "openai"}}}}))
        http_port = free_port()
        name = f"h1bot-bot-test-{uuid.uuid4().hex[:8]}"
        env = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token,
               "SLACK_API_URL": slack.api_url, "OPENAI_API_KEY": llm.api_key, "OPENAI_BASE_URL": llm.base_url,
               "H1BOT_HTTP_PORT": str(http_port), "LOG_FORMAT": "json"}
        command = podman_run(BOT_IMAGE, name, env, {spec: "/etc/h1bot/slackbot.yaml"},
                             ["--spec", "/etc/h1bot/slackbot.yaml"])
        async with running_async(command, name) as bot:
            await slack.wait_for(lambda: slack.connected, timeout=60)
            assert await asyncio.to_thread(http_status, f"http://127.0.0.1:{http_port}/readyz") == 200

            root = slack.say("C1", "UALICE", "Our deploys to staging fail since this morning.")
            slack.say("C1", "UBOB", "Same here, the image pull times out.", thread_ts=root["ts"])
            llm.script("Looks like the registry is down. Check `kubectl get events`.")
            await slack.mention("C1", "UALICE", "any idea what's wrong?", thread_ts=root["ts"])

            answer = "Looks like the registry is down. Check `kubectl get events`."
            assert await slack.wait_for_texts("C1", root["ts"], timeout=30) == [answer]  # final, not streaming
            # The model saw the thread, counted with the encodings baked into the image (no network for them).
            assert [m["content"] for m in llm.chat_requests[-1].messages[1:]] == [
                "Alice (UALICE): Our deploys to staging fail since this morning.",
                "Bob (UBOB): Same here, the image pull times out.",
                "Alice (UALICE): any idea what's wrong?"]
            bot.assert_running()
            assert await asyncio.to_thread(bot.stop) == 0, bot.logs()
            assert not slack.connected


@needs_image(OPERATOR_IMAGE)
def test_the_operator_image_runs_a_slackbot_as_a_deployment_and_reports_it(tmp_path: Path):
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        name = f"h1bot-operator-test-{uuid.uuid4().hex[:8]}"
        env = {"KUBECONFIG": "/kube/kubeconfig", "H1BOT_NAMESPACES": "default", "H1BOT_BOT_IMAGE": BOT_IMAGE,
               "H1BOT_PEERING": "", "LOG_FORMAT": "json", "H1BOT_METRICS_PORT": str(free_port())}
        command = podman_run(OPERATOR_IMAGE, name, env, {kubeconfig: "/kube/kubeconfig"}, [f"--liveness={liveness}"])
        with running(command, name) as operator:
            def alive() -> bool:
                operator.assert_running()
                return http_status(liveness) == 200
            wait_until(alive, timeout=60, interval=0.5, message="the operator container's liveness endpoint")

            for path in ("secret.yaml", "slackbot.yaml"):
                api.apply(yaml.safe_load((REPO / "examples" / path).read_text()))
            deployment = wait_until(lambda: api.find("apps/v1/deployments", "default", "h1bot-helpdesk"),
                                    timeout=30, message="the bot Deployment")
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            assert container["image"] == BOT_IMAGE
            assert api.find("v1/serviceaccounts", "default", "h1bot-helpdesk") is not None

            # What the Deployment controller reports once the bot pod is ready.
            api.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/h1bot-helpdesk/status",
                        {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}})

            def running_status() -> dict | None:
                slackbot = api.find("chatops.h1bot.dev/v1alpha1/slackbots", "default", "helpdesk") or {}
                status = slackbot.get("status", {})
                return status if status.get("phase") == "Running" else None
            status = wait_until(running_status, timeout=30, message="the SlackBot's phase Running")
            assert {c["type"]: c["status"] for c in status["conditions"]} == {
                "Ready": "True", "SecretsResolved": "True", "DeploymentAvailable": "True"}
            assert status["deployment"]["name"] == "h1bot-helpdesk"
            operator.assert_running()
            assert operator.stop() == 0, operator.logs()
