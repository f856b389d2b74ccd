"""The approvals' state machine, pure: a proposal says exactly what would run, waits for an admin, expires, and is
decided once; everything else a click can find (a non-admin, an unknown or settled proposal) runs nothing."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from h1bot_bot.core import approvals
from h1bot_bot.core.approvals import (
    ALREADY,
    APPROVE_ACTION,
    APPROVED,
    DENIED,
    DENY_ACTION,
    EXPIRED,
    REFUSED,
    UNKNOWN,
    Book,
    decide,
    propose,
)
from h1bot_bot.core.tools import ActionProposal, ToolResult

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
SCALE = ActionProposal("scale", "payments", "checkout", 5)
RESTART = ActionProposal("rollout-restart", "payments", "checkout")
KUBECTL = "kubectl -n payments scale deployment/checkout --replicas=5"


EMPTY = Book()


def proposed(book: Book = EMPTY, proposal: ActionProposal = SCALE, proposal_id: str = "p1", now: float = NOW,
             thread_ts: str = "1.0", **kwargs):
    return propose(book, proposal_id, proposal, channel="C1", thread_ts=thread_ts, asker="UALICE", now=now,
                   **kwargs)


def test_the_proposal_says_exactly_what_would_run_and_that_nothing_has_yet():
    made = proposed()
    pending = made.pending
    assert pending.expires_at == NOW + 900 and made.book.pending == (pending,)
    assert made.model_text == (
        "proposed in the thread: scale deployment checkout in payments to 5 replicas "
        f"({KUBECTL}). Nothing has run: it runs only if an admin approves it there (it expires in 15 minutes). "
        "Tell the user it awaits an admin's approval.")
    section, context, actions = approvals.proposal_blocks(pending)
    assert f"```scale deployment checkout in payments to 5 replicas ({KUBECTL})```" in section["text"]["text"]
    assert context["elements"][0]["text"].startswith(
        "Proposed by <@UALICE> · expires at <!date^1800000900^{time}|08:15 UTC>")
    approve, deny = actions["elements"]
    assert (approve["action_id"], approve["style"]) == (APPROVE_ACTION, "primary")
    assert (deny["action_id"], deny["style"]) == (DENY_ACTION, "danger")
    assert approve["value"] == deny["value"] == approvals.button_value(pending)
    assert approvals.proposed_event(pending) == (
        "Normal", "ActionProposed", f"UALICE proposed in C1/1.0: scale deployment checkout in payments to 5 "
        f"replicas ({KUBECTL}); it runs only if an admin approves it by 2027-01-15T08:15:00Z")


def test_what_the_model_chose_cannot_act_as_slack_markup_in_the_proposal():
    hostile = ActionProposal("rollout-restart", "payments", "x<!channel>`\n```<@UBOSS>")
    pending = proposed(proposal=hostile).pending
    shown = approvals.proposal_blocks(pending)[0]["text"]["text"]
    assert "<!channel>" not in shown and "<@UBOSS>" not in shown and "&lt;!channel&gt;" in shown
    assert shown.count("```") == 2  # the model's backticks do not close the code block


def test_an_admin_approves_once_and_a_second_click_finds_it_decided():
    book = proposed().book
    first = decide(book, "p1", actor="UADMIN", approve=True, admin=True, now=NOW + 60)
    assert first.kind == APPROVED and first.pending.proposal == SCALE and first.book.pending == ()
    again = decide(first.book, "p1", actor="UOPS", approve=True, admin=True, now=NOW + 61)
    assert again.kind == ALREADY and again.text == "Already approved by <@UADMIN>: a proposal is decided once."
    deny_after = decide(first.book, "p1", actor="UOPS", approve=False, admin=True, now=NOW + 61)
    assert deny_after.kind == ALREADY


def test_a_non_admin_is_told_who_may_decide_and_the_proposal_keeps_waiting():
    book = proposed().book
    refused = decide(book, "p1", actor="UBOB", approve=True, admin=False, now=NOW, admin_names=["Ada", "Ops"])
    assert refused.kind == REFUSED and refused.book == book
    assert refused.text == ("Only this bot's admins can approve or deny this (Ada, Ops). Nothing ran; it still "
                            "awaits an admin.")
    nobody = decide(book, "p1", actor="UBOB", approve=True, admin=False, now=NOW)
    assert "nobody: spec.access.admins is empty" in nobody.text
    assert decide(book, "p1", actor="UADMIN", approve=True, admin=True, now=NOW).kind == APPROVED


def test_past_its_expiry_nobody_can_run_it_not_even_an_admin():
    book = proposed().book
    late = decide(book, "p1", actor="UADMIN", approve=True, admin=True, now=NOW + 900)
    assert late.kind == EXPIRED and late.book.pending == ()
    assert late.text == "This proposal expired at 08:15 UTC: nothing ran. Ask again if it is still needed."
    assert decide(late.book, "p1", actor="UADMIN", approve=True, admin=True, now=NOW + 901).kind == EXPIRED
    assert decide(book, "p1", actor="UADMIN", approve=True, admin=True, now=NOW + 899).kind == APPROVED


def test_a_click_whose_button_carries_no_proposal_runs_nothing():
    unknown = decide(Book(), "gone", actor="UADMIN", approve=True, admin=True, now=NOW)
    assert unknown.kind == UNKNOWN and unknown.pending is None
    assert unknown.text == approvals.UNKNOWN_TEXT and "Nothing ran" in unknown.text


def test_the_buttons_carry_the_proposal_so_another_replica_or_a_restarted_bot_can_decide_it():
    """A fresh book (a restart, or the replica the click reached) decides the proposal its button carries, with
    the same rules: an admin only, before it expires, once."""
    made = proposed()
    value = approvals.proposal_blocks(made.pending)[-1]["elements"][0]["value"]
    proposal_id, carried = approvals.carried(value, channel="C1", thread_ts="1.0", message_ts="1.5")
    assert proposal_id == "p1" and carried == replace(made.pending, message_ts="1.5")
    assert len(value) < 2000  # Slack's limit on a button's value

    fresh = Book()
    refused = decide(fresh, "p1", actor="UBOB", approve=True, admin=False, now=NOW, carried=carried)
    assert refused.kind == REFUSED and refused.book == fresh
    approved = decide(fresh, "p1", actor="UADMIN", approve=True, admin=True, now=NOW + 60, carried=carried)
    assert approved.kind == APPROVED and approved.pending.proposal == SCALE
    again = decide(approved.book, "p1", actor="UADMIN", approve=True, admin=True, now=NOW + 61, carried=carried)
    assert again.kind == ALREADY
    late = decide(fresh, "p1", actor="UADMIN", approve=True, admin=True, now=NOW + 900, carried=carried)
    assert late.kind == EXPIRED


@pytest.mark.parametrize("value", ["p1", "", "{", "[]", '{"v": 2, "id": "p1"}', '{"v": 1, "id": "p1"}',
                                   '{"v": 1, "id": "p1", "action": "scale", "namespace": "payments", '
                                   '"deployment": "checkout", "asker": "U1", "at": "now", "expires": 1}',
                                   '{"v": 1, "id": "p1", "action": "scale", "namespace": "payments", '
                                   '"deployment": "checkout", "asker": "U1", "at": 1, "expires": 2, "replicas": 1.5}'])
def test_a_button_value_that_is_not_a_whole_proposal_carries_none(value):
    proposal_id, carried = approvals.carried(value, channel="C1", thread_ts="1.0", message_ts="1.5")
    assert carried is None and proposal_id in (value, "p1")


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=63), st.integers(0, 10_000),
       st.floats(0, 4e9, allow_nan=False))
def test_any_proposal_reads_back_from_its_button_as_it_was(deployment, namespace, replicas, now):
    pending = proposed(proposal=ActionProposal("scale", namespace, deployment, replicas), now=now).pending
    assert approvals.carried(approvals.button_value(pending), channel="C1", thread_ts="1.0",
                             message_ts="")[1] == pending


def test_deny_settles_it_and_nothing_runs():
    denied = decide(proposed().book, "p1", actor="UADMIN", approve=False, admin=True, now=NOW)
    assert denied.kind == DENIED and denied.text == "Denied: nothing ran."
    assert approvals.decided_event(DENIED, denied.pending, "UADMIN") == (
        "Normal", "ActionDenied", f"UADMIN denied scale deployment checkout in payments to 5 replicas ({KUBECTL}) "
        "(proposed by UALICE in C1/1.0); nothing ran")


def test_the_same_action_in_the_same_thread_is_not_posted_twice():
    book = proposed().book
    again = proposed(book, proposal_id="p2")
    assert again.pending is None and again.book.pending == book.pending
    assert again.model_text.startswith("not proposed again: scale deployment checkout in payments to 5 replicas")
    elsewhere = proposed(book, proposal_id="p3", thread_ts="2.0")
    assert elsewhere.pending is not None and len(elsewhere.book.pending) == 2


def test_the_number_waiting_is_bounded_and_expired_ones_make_room():
    book = Book()
    for number in range(3):
        book = proposed(book, ActionProposal("scale", "payments", "checkout", number), f"p{number}",
                        limit=3).book
    full = proposed(book, RESTART, "p9", limit=3)
    assert full.pending is None and "3 proposals already await an admin's decision" in full.model_text
    later = proposed(book, RESTART, "p9", now=NOW + 900, limit=3)
    assert later.pending is not None and [p.id for p in later.expired] == ["p0", "p1", "p2"]
    assert later.book.pending == (later.pending,)
    assert decide(later.book, "p0", actor="UADMIN", approve=True, admin=True, now=NOW + 900).kind == EXPIRED


def test_the_outcome_and_the_result_say_what_happened_and_who_approved():
    pending = proposed().pending
    done = ToolResult("deployment checkout in payments scaled to 5 replicas")
    assert approvals.outcome_line(APPROVED, pending, "UADMIN", done) == (
        ":white_check_mark: Approved by <@UADMIN>: deployment checkout in payments scaled to 5 replicas")
    assert approvals.result_post(pending, "UADMIN", done) == (
        ":white_check_mark: Done: deployment checkout in payments scaled to 5 replicas (approved by <@UADMIN>).")
    assert approvals.ran_event(pending, "UADMIN", done) == (
        "Normal", "ActionSucceeded", f"scale deployment checkout in payments to 5 replicas ({KUBECTL}): deployment "
        "checkout in payments scaled to 5 replicas (approved by UADMIN)")
    failed = ToolResult(refused="the bot's ServiceAccount may not scale it")
    assert approvals.ran_event(pending, "UADMIN", failed)[:2] == ("Warning", "ActionFailed")
    assert approvals.ran_text(failed) == "Approved, but it failed: the bot's ServiceAccount may not scale it"
    assert approvals.outcome_line(EXPIRED, pending) == ":hourglass: Expired at 08:15 UTC: nothing ran."
    blocks = approvals.settled_blocks(pending, approvals.outcome_line(DENIED, pending, "UADMIN"))
    assert [b["type"] for b in blocks] == ["section", "context"]  # no buttons left


clicks = st.lists(st.tuples(st.sampled_from(["p0", "p1", "p2", "nope"]), st.sampled_from(["UADMIN", "UBOB"]),
                            st.booleans(), st.floats(min_value=0, max_value=1200)), max_size=25)


@given(clicks)
def test_whatever_the_clicks_each_proposal_runs_at_most_once_only_by_an_admin_before_it_expires(sequence):
    book = Book()
    for number in range(3):
        book = proposed(book, ActionProposal("scale", "payments", "checkout", number), f"p{number}").book
    ran: list[str] = []
    for proposal_id, user, approve, elapsed in sorted(sequence, key=lambda click: click[3]):
        decision = decide(book, proposal_id, actor=user, approve=approve, admin=user == "UADMIN", now=NOW + elapsed)
        book = decision.book
        if decision.kind == APPROVED:
            assert user == "UADMIN" and approve and elapsed < 900
            ran.append(proposal_id)
        assert len(book.pending) + len({s.pending.id for s in book.settled}) == 3
    assert len(ran) == len(set(ran))


def test_a_proposal_decided_through_another_replica_is_neither_pending_nor_run_here():
    made = proposed()
    book = approvals.settled_elsewhere(made.book, made.pending)
    assert book.pending == ()
    later = decide(book, "p1", actor="UADMIN", approve=True, admin=True, now=NOW + 60)
    assert later.kind == ALREADY and later.text == approvals.DECIDED_ELSEWHERE_TEXT
    assert approvals.expire(book, NOW + 900) == (book, ())  # and it does not expire here either
