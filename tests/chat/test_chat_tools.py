"""`h1bot chat` with a manifest that grants tools: the terminal answer looks at the cluster as the Slack bot does,
logging in with the kubeconfig like kubectl (here: the bot's ServiceAccount token against the API emulator)."""

from tests.bot.tool_cluster import BOT, CRASHING, bot_kubeconfig, populate
from tests.chat.conftest import write_spec
from tests.chat.test_chat import run_chat
from tests.fakes.kube import KubeAPI
from tests.fakes.openai import ToolCall, ToolCalls


async def test_the_terminal_chat_looks_at_the_cluster_and_says_what_it_looked_at(tmp_path, chat_env, fake_openai):
    spec = write_spec(tmp_path, tools=BOT["spec"]["tools"])
    fake_openai.script(
        ToolCalls([ToolCall("kube_list", {"resource": "pods", "namespace": "payments"}),
                   ToolCall("kube_events", {"namespace": "payments", "name": CRASHING})]),
        f"{CRASHING} is in CrashLoopBackOff: back-off restarting its app container.")
    with KubeAPI() as api:
        populate(api)
        env = {**chat_env, "KUBECONFIG": str(bot_kubeconfig(api, tmp_path))}
        code, out, err = await run_chat(env, "--spec", str(spec), "-m", "why is checkout crashing?")
    assert code == 0, err
    assert f"{CRASHING} is in CrashLoopBackOff" in out
    assert f"looked at: pods in payments, events of {CRASHING}" in err  # notes go to stderr, the answer to stdout
    assert "Tools: read pods,events,deployments,replicasets in payments; logs (200 lines)" in err
    assert "CrashLoopBackOff" in fake_openai.chat_requests[1].tool_results[0]["content"]


async def test_without_a_cluster_login_the_model_hears_why_and_the_chat_still_answers(tmp_path, chat_env,
                                                                                     fake_openai):
    spec = write_spec(tmp_path, tools=BOT["spec"]["tools"])
    fake_openai.script(ToolCalls([ToolCall("kube_list", {"resource": "pods", "namespace": "payments"})]),
                       "I could not look at the cluster.")
    env = {**chat_env, "KUBECONFIG": str(tmp_path / "missing-kubeconfig")}
    code, out, err = await run_chat(env, "--spec", str(spec), "-m", "why is checkout crashing?")
    assert code == 0, err
    assert "I could not look at the cluster." in out
    refusal = fake_openai.chat_requests[1].tool_results[0]["content"]
    assert refusal.startswith("refused: the bot cannot log in to the cluster to read pods in payments:")
    assert "missing-kubeconfig" in refusal
