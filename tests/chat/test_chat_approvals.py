"""`h1bot chat` and actions that need a human: after an answer that proposed an action, an admin at the keyboard
answers "Run it? [y/N]"; anyone else is told only an admin can approve it, and nothing runs.

The real ChatSession and TerminalSurface run in-process (their output captured, their input a piped stream) against
the fake OpenAI; the action runs with the bot's ServiceAccount against the Kubernetes API emulator. The engine's
tool loop is not here: `approvals.propose` is called as the loop will when the model calls propose_scale.
"""

import io
import logging

import pytest
from rich.console import Console

from h1bot_bot.adapters.terminal.prompt import LineReader
from h1bot_bot.adapters.terminal.render import Renderer
from h1bot_bot.chat_session import ChatSession
from h1bot_bot.core.tools import parse_call
from h1bot_bot.engine.approvals import Approvals
from tests.bot.tool_cluster import SPEC, tools_cluster
from tests.chat.conftest import ADMIN, PERSONA

SCALE_TO_5 = '{"namespace": "payments", "deployment": "checkout", "replicas": 5}'
KUBECTL = "kubectl -n payments scale deployment/checkout --replicas=5"


class Screen:
    """What the person at the keyboard sees: stdout (answers, thread messages) and stderr (notes, boxes)."""

    def __init__(self) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()
        self.renderer = Renderer(Console(file=self.out, width=200), Console(file=self.err, width=200))


@pytest.fixture
def cluster(tmp_path):
    with tools_cluster(tmp_path) as made:
        yield made


@pytest.fixture
async def session_for(tmp_path, fake_openai, cluster):
    sessions: list[ChatSession] = []

    async def start(user: str, *, admin: bool | None = None, typed: str = "") -> tuple[ChatSession, Screen]:
        screen = Screen()
        spec = {"model": {"name": "gpt-4o-mini", "maxOutputTokens": 512}, "persona": {"systemPrompt": PERSONA},
                "access": {"admins": [ADMIN]}, "tools": SPEC.model_dump(by_alias=True, exclude_none=True)["tools"]}
        session = ChatSession(spec, spec_path=str(tmp_path / "slackbot.yaml"), renderer=screen.renderer,
                              base_url=fake_openai.base_url, api_key=fake_openai.api_key, organization=None,
                              user=user, user_name=user, endpoint="the fake", admin=admin)
        sessions.append(session)
        await session.start()
        session.reader = LineReader("> ", interactive=False, stream=io.StringIO(typed))  # as `loop` sets it
        session.approvals = Approvals(session.surface, cluster.tools.run_action, session.config.audit,
                                      is_admin=session.is_admin, now=lambda: 1_800_000_000.0,
                                      admins=lambda: session.config.current.spec.access.admins)
        return session, screen

    yield start
    for session in sessions:
        await session.close()


async def model_proposes_scale(session: ChatSession, user: str) -> str:
    """The user asks; the model calls propose_scale (what the tool loop does while answering)."""
    incoming = session.surface.say(user, "checkout is overloaded, scale it to 5")
    proposal = parse_call("propose_scale", SCALE_TO_5, session.config.current.spec.tools, "default")
    return await session.approvals.propose(incoming, proposal)


async def test_an_admin_answers_y_and_the_action_runs_with_its_result_in_the_thread(session_for, cluster, caplog):
    session, screen = await session_for(ADMIN, typed="y\nnext question\n")  # --as an id in spec.access.admins
    told_model = await model_proposes_scale(session, ADMIN)
    assert "Nothing has run" in told_model
    assert f"[Approval needed]\n`scale deployment checkout in payments to 5 replicas ({KUBECTL})`" in \
        screen.err.getvalue()
    assert cluster.replicas() == 3
    with caplog.at_level(logging.INFO):
        await session.settle_proposals()
    assert cluster.replicas() == 5
    assert "Run it? [y/N]" in screen.err.getvalue()
    assert "✅ Done: deployment checkout in payments scaled to 5 replicas (approved by @U0123ADMIN)." in \
        screen.out.getvalue()
    assert session.reader.stream.readline() == "next question\n"  # one line was the answer, no more
    texts = [m["text"] for m in session.surface.conversation.messages]  # what the model reads next
    assert texts[-2].startswith(":white_check_mark: Approved by <@U0123ADMIN>: deployment checkout in "
                                "payments scaled to 5 replicas\nProposed: scale deployment checkout")
    assert texts[-1].startswith(":white_check_mark: Done:")
    audit = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Action")]
    assert [line.split(":")[0] for line in audit] == ["ActionApproved", "ActionSucceeded"]


async def test_after_an_answer_the_session_asks_and_a_no_runs_nothing(session_for, cluster, fake_openai):
    session, screen = await session_for("ada", admin=True, typed="n\n")  # --admin
    await model_proposes_scale(session, "ada")
    assert await session.handle("is that safe?") == "answered"  # the answer, then the question
    assert "Answer to" in screen.out.getvalue()
    err = screen.err.getvalue()
    assert err.index("Run it? [y/N]") > err.index("[Approval needed]")
    assert "Denied: nothing ran." in err
    assert cluster.replicas() == 3 and session.approvals.pending == ()
    assert session.surface.conversation.messages[1]["text"].startswith(":no_entry: Denied by <@ada>")


async def test_with_no_answer_left_in_the_input_it_is_denied_with_a_note(session_for, cluster):
    session, screen = await session_for(ADMIN, typed="")
    await model_proposes_scale(session, ADMIN)
    await session.settle_proposals()
    assert "No answer (end of input): denied, nothing ran." in screen.err.getvalue()
    assert cluster.replicas() == 3


async def test_a_non_admin_is_told_who_may_approve_and_nothing_runs(session_for, cluster):
    session, screen = await session_for("UBOB", typed="y\n")
    await model_proposes_scale(session, "UBOB")
    await session.settle_proposals()
    assert "Not run: only an admin can approve this (run with --admin or --as an admin id)." in \
        screen.err.getvalue()
    assert "Run it?" not in screen.err.getvalue()
    assert session.reader.stream.readline() == "y\n"  # not taken as an answer
    assert cluster.replicas() == 3 and len(session.approvals.pending) == 1
