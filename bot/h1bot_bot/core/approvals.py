"""Actions that need a human: proposals awaiting an admin's Approve or Deny, as a pure state machine.

The model proposes an action (core/tools.ActionProposal); engine/approvals.py posts it in the thread with
Approve/Deny buttons and keeps it here, in a `Book`, as a `PendingAction` until an admin decides or it expires.
The buttons carry the proposal too (`button_value`), so a click reaching another replica of the bot, or the bot
after a restart, still finds what it was (`carried`); the surface's claim on the message (engine/approvals.py)
makes a decision once across replicas.

`decide` takes a proposal out of `pending` in the same step that approves (or denies) it, so it is decided once
even when two admins click at the same moment. At most MAX_PENDING proposals wait at once; a further one is refused
(the model is told why) until some are decided or expire. No I/O and no clock: `now` (epoch seconds) and `actor`
come in. The texts here are Slack mrkdwn; each says exactly what would run (ActionProposal.description).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from h1bot_api.status import timestamp
from h1bot_bot.core.slack_safety import escape, outside_text
from h1bot_bot.core.tools import ActionProposal, ToolResult

TTL_SECONDS = 900.0  # a proposal not decided within 15 minutes expires: nothing runs
SWEEP_SECONDS = 30.0  # how often the bot looks for proposals whose time ran out, to say so in their messages
MAX_PENDING = 20  # proposals awaiting a decision at once (in this process)
MAX_SETTLED = 200  # decided proposals remembered, to answer a late click with who decided
APPROVE_ACTION, DENY_ACTION = "h1bot_approve", "h1bot_deny"  # the buttons' action_id
APPROVED, DENIED, EXPIRED = "approved", "denied", "expired"  # how a proposal was settled
ELSEWHERE = "elsewhere"  # settled through another replica of the bot (its message says how)
# What `decide` found: one of the three above, or
REFUSED, UNKNOWN, ALREADY = "refused", "unknown", "already"
NOT_ENABLED_TEXT = "Actions are not enabled on this bot: nothing ran."
UNKNOWN_TEXT = "I cannot read this proposal (it is not one this bot made). Nothing ran; ask again if it is needed."
DECIDED_ELSEWHERE_TEXT = "Already decided (the message shows how): a proposal is decided once. Nothing more ran."
DECIDED_REACTION = "ballot_box_with_check"  # the bot's mark on a decided proposal (one decision across replicas)
VALUE_VERSION = 1  # the layout of a button's value (button_value)


@dataclass(frozen=True)
class PendingAction:
    """A proposal posted in a thread, waiting for an admin (times in epoch seconds)."""

    id: str
    proposal: ActionProposal
    channel: str
    thread_ts: str
    asker: str
    proposed_at: float
    expires_at: float
    message_ts: str = ""  # the proposal's own message, once posted (where its outcome is shown)

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class Settled:
    """A proposal that will not run again: approved or denied by `by`, or expired (`by` empty)."""

    pending: PendingAction
    outcome: str
    by: str = ""


@dataclass(frozen=True)
class Book:
    """Proposals awaiting a decision (oldest first) and the latest settled ones (newest last)."""

    pending: tuple[PendingAction, ...] = ()
    settled: tuple[Settled, ...] = ()

    def find(self, proposal_id: str) -> PendingAction | None:
        return next((p for p in self.pending if p.id == proposal_id), None)

    def settled_as(self, proposal_id: str) -> Settled | None:
        return next((s for s in reversed(self.settled) if s.pending.id == proposal_id), None)


@dataclass(frozen=True)
class Proposed:
    """What `propose` did: the new book, the proposal to post (None when refused or a duplicate), the proposals
    that expired meanwhile (their messages say so), the tool result the model reads, and the proposal awaiting
    approval that this one duplicates (unless another replica decided it: see `settled_elsewhere`)."""

    book: Book
    pending: PendingAction | None
    expired: tuple[PendingAction, ...]
    model_text: str
    duplicate: PendingAction | None = None


@dataclass(frozen=True)
class Decision:
    """What a click (or the terminal's answer) found: `kind` (APPROVED, DENIED, EXPIRED, REFUSED, UNKNOWN,
    ALREADY), the new book, the proposal concerned (None when unknown) and the text for the one who clicked."""

    kind: str
    book: Book
    pending: PendingAction | None
    text: str


def _settle(book: Book, settled: Sequence[Settled]) -> Book:
    ids = {s.pending.id for s in settled}
    return Book(tuple(p for p in book.pending if p.id not in ids), (*book.settled, *settled)[-MAX_SETTLED:])


def expire(book: Book, now: float) -> tuple[Book, tuple[PendingAction, ...]]:
    """The proposals due by `now` moved to settled; returns them too."""
    due = tuple(p for p in book.pending if p.expired(now))
    return (_settle(book, [Settled(p, EXPIRED) for p in due]), due) if due else (book, ())


def settled_elsewhere(book: Book, pending: PendingAction) -> Book:
    """The proposal was decided through another replica: no longer awaiting (nor expiring) here, and a later
    click here says it was decided, not by whom (this process does not know)."""
    return _settle(book, [Settled(pending, ELSEWHERE)])


def located(book: Book, proposal_id: str, message_ts: str) -> Book:
    """The proposal's message is posted at `message_ts`."""
    return replace(book, pending=tuple(replace(p, message_ts=message_ts) if p.id == proposal_id else p
                                       for p in book.pending))


def button_value(pending: PendingAction) -> str:
    """What the buttons carry: the proposal itself (compact JSON, far below Slack's 2,000 characters)."""
    proposal = pending.proposal
    value = {"v": VALUE_VERSION, "id": pending.id, "action": proposal.action, "namespace": proposal.namespace,
             "deployment": proposal.deployment, "asker": pending.asker, "at": pending.proposed_at,
             "expires": pending.expires_at}
    if proposal.replicas is not None:
        value["replicas"] = proposal.replicas
    return json.dumps(value, separators=(",", ":"))


def carried(value: str, *, channel: str, thread_ts: str, message_ts: str) -> tuple[str, PendingAction | None]:
    """A clicked button's value read back: the proposal id, and the proposal when the value holds one (None for
    anything else; the engine checks it against the current spec.tools before it runs)."""
    try:
        fields = json.loads(value)
    except ValueError:
        return value, None
    if not isinstance(fields, dict) or fields.get("v") != VALUE_VERSION:
        return value, None
    try:
        replicas = fields.get("replicas")
        proposal = ActionProposal(_text(fields["action"]), _text(fields["namespace"]), _text(fields["deployment"]),
                                  None if replicas is None else _number(replicas, int))
        pending = PendingAction(_text(fields["id"]), proposal, channel, thread_ts, _text(fields["asker"]),
                                _number(fields["at"], float), _number(fields["expires"], float), message_ts)
    except (KeyError, TypeError):
        return str(fields.get("id") or value), None
    return pending.id, pending


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("not a non-empty string")
    return value


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)):
        raise TypeError("not a number")
    return kind(value)


def withdraw(book: Book, proposal_id: str) -> Book:
    """A proposal taken back unseen (it could not be posted): as if never made."""
    return replace(book, pending=tuple(p for p in book.pending if p.id != proposal_id))


def propose(book: Book, proposal_id: str, proposal: ActionProposal, *, channel: str, thread_ts: str, asker: str,
            now: float, ttl: float = TTL_SECONDS, limit: int = MAX_PENDING) -> Proposed:
    """A new proposal by `asker` in a thread. The same action already awaiting approval in that thread is not
    posted twice; past `limit` proposals waiting, it is refused. Either way nothing runs."""
    book, expired = expire(book, now)
    same = next((p for p in book.pending if (p.proposal, p.channel, p.thread_ts) == (proposal, channel, thread_ts)),
                None)
    if same is not None:
        return Proposed(book, None, expired, f"not proposed again: {proposal.description()} already awaits an "
                        f"admin's approval in this thread (until {clock(same.expires_at)}). Nothing has run. Tell "
                        "the user it awaits approval.", duplicate=same)
    if len(book.pending) >= limit:
        return Proposed(book, None, expired, f"not proposed: {len(book.pending)} proposals already await an "
                        "admin's decision, the most this bot keeps. Nothing has run. Tell the user to ask an admin "
                        "to approve or deny those first, or to ask again once they expire.")
    pending = PendingAction(proposal_id, proposal, channel, thread_ts, asker, now, now + ttl)
    return Proposed(replace(book, pending=(*book.pending, pending)), pending, expired, model_text(pending))


def decide(book: Book, proposal_id: str, *, actor: str, approve: bool, admin: bool, now: float,
           admin_names: Sequence[str] = (), carried: PendingAction | None = None) -> Decision:
    """An Approve (`approve`) or Deny click by `actor`. Only an admin decides: anyone else is told who may (the
    proposal keeps waiting). An expired, unknown or already settled proposal is never run. `carried`: the
    proposal as its button carries it, for one this book does not hold (made before a restart, or by another
    replica). APPROVED means: run it now, once (it is settled already; `ran_text` is the clicker's text once it
    ran)."""
    pending = book.find(proposal_id)
    settled = book.settled_as(proposal_id) if pending is None else None
    if settled is not None:
        if settled.outcome == EXPIRED:
            return Decision(EXPIRED, book, settled.pending, expired_text(settled.pending))
        if settled.outcome == ELSEWHERE:
            return Decision(ALREADY, book, settled.pending, DECIDED_ELSEWHERE_TEXT)
        return Decision(ALREADY, book, settled.pending, f"Already {settled.outcome} by <@{settled.by}>: a proposal "
                        "is decided once.")
    if pending is None and carried is None:
        return Decision(UNKNOWN, book, None, UNKNOWN_TEXT)
    if pending is None:
        pending = carried
    elif carried is not None and not pending.message_ts:
        pending = replace(pending, message_ts=carried.message_ts)  # clicked before its message was located
    if pending.expired(now):
        return Decision(EXPIRED, _settle(book, [Settled(pending, EXPIRED)]), pending, expired_text(pending))
    if not admin:
        admins = ", ".join(escape(n) for n in admin_names) or "nobody: spec.access.admins is empty"
        return Decision(REFUSED, book, pending, f"Only this bot's admins can approve or deny this ({admins}). "
                        "Nothing ran; it still awaits an admin.")
    outcome = APPROVED if approve else DENIED
    text = "" if approve else "Denied: nothing ran."
    return Decision(outcome, _settle(book, [Settled(pending, outcome, actor)]), pending, text)



# ---- texts ---------------------------------------------------------------------------------------------------------
def clock(epoch: float) -> str:
    """`12:15 UTC`, for the terminal and as Slack's fallback."""
    return f"{timestamp(epoch)[11:16]} UTC"


def slack_clock(epoch: float) -> str:
    """The time in the reader's own time zone (Slack's date formatting), `12:15 UTC` where it cannot."""
    return f"<!date^{int(epoch)}^{{time}}|{clock(epoch)}>"


def shown(proposal: ActionProposal) -> str:
    """The description as mrkdwn code: what the model chose (the deployment's name) cannot act as markup."""
    return outside_text(proposal.description()).replace("`", "'")


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes >= 1 else f"{seconds:.0f} seconds"


def model_text(pending: PendingAction) -> str:
    """The tool result the model reads after proposing."""
    return (f"proposed in the thread: {pending.proposal.description()}. Nothing has run: it runs only if an admin "
            f"approves it there (it expires in {_minutes(pending.expires_at - pending.proposed_at)}). Tell the user "
            "it awaits an admin's approval.")


def proposal_text(pending: PendingAction, when: str) -> str:
    """The message's text: what notifications show and what the model reads in the thread later."""
    return (f":raised_hand: Approval needed: {shown(pending.proposal)} (proposed by <@{pending.asker}>; it runs "
            f"only if an admin approves it by {when})")


def proposal_blocks(pending: PendingAction) -> list[dict[str, Any]]:
    """The Block Kit proposal: what would run, who asked and until when, and the Approve and Deny buttons."""
    def button(label: str, action_id: str, style: str) -> dict[str, Any]:
        return {"type": "button", "action_id": action_id, "style": style, "value": button_value(pending),
                "text": {"type": "plain_text", "text": label}}
    return [*_described(pending, ":raised_hand: *Approval needed*: this runs only if an admin clicks Approve."),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                f"Proposed by <@{pending.asker}> · expires at {slack_clock(pending.expires_at)}")}]},
            {"type": "actions", "block_id": f"h1bot_approval_{pending.id}",
             "elements": [button("Approve", APPROVE_ACTION, "primary"), button("Deny", DENY_ACTION, "danger")]}]


def _described(pending: PendingAction, heading: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": f"{heading}\n```{shown(pending.proposal)}```"}}]


def settled_blocks(pending: PendingAction, outcome_line: str) -> list[dict[str, Any]]:
    """The proposal once decided (or expired): what it was and its outcome, without buttons."""
    return [*_described(pending, "*Proposed action*"),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": outcome_line}]}]


def settled_text(pending: PendingAction, outcome_line: str) -> str:
    return f"{outcome_line}\nProposed: {shown(pending.proposal)} (by <@{pending.asker}>)"


def running_line(actor: str) -> str:
    return f":hourglass_flowing_sand: Approved by <@{actor}>: running…"


def outcome_line(kind: str, pending: PendingAction, actor: str = "", result: ToolResult | None = None) -> str:
    """The outcome shown on the proposal: approved (with what happened), denied, or expired."""
    if kind == APPROVED and result is not None and result.refused is not None:
        return f":x: Approved by <@{actor}>, but it failed: {outside_text(result.refused, 1500)}"
    if kind == APPROVED:
        return f":white_check_mark: Approved by <@{actor}>: {outside_text(result.text if result else '', 1500)}"
    if kind == DENIED:
        return f":no_entry: Denied by <@{actor}>: nothing ran."
    return f":hourglass: Expired at {clock(pending.expires_at)}: nothing ran."


def expired_text(pending: PendingAction) -> str:
    return f"This proposal expired at {clock(pending.expires_at)}: nothing ran. Ask again if it is still needed."


def ran_text(result: ToolResult) -> str:
    """The approver's text once the action ran."""
    if result.refused is not None:
        return f"Approved, but it failed: {outside_text(result.refused, 1500)}"
    return f"Approved: {outside_text(result.text, 1500)}"


def result_post(pending: PendingAction, actor: str, result: ToolResult) -> str:
    """The message in the thread once an approved action ran: what happened, who approved it."""
    if result.refused is not None:
        return (f":x: {shown(pending.proposal)} failed (approved by <@{actor}>): "
                f"{outside_text(result.refused, 1500)}")
    return f":white_check_mark: Done: {outside_text(result.text, 1500)} (approved by <@{actor}>)."


# ---- the audit trail: (Event type, reason, message) -------------------------------------------------------------
def _where(pending: PendingAction) -> str:
    return f"in {pending.channel}/{pending.thread_ts}"


def proposed_event(pending: PendingAction) -> tuple[str, str, str]:
    return ("Normal", "ActionProposed", f"{pending.asker} proposed {_where(pending)}: "
            f"{pending.proposal.description()}; it runs only if an admin approves it by "
            f"{timestamp(pending.expires_at)}")


def decided_event(kind: str, pending: PendingAction, actor: str) -> tuple[str, str, str]:
    what = f"{pending.proposal.description()} (proposed by {pending.asker} {_where(pending)})"
    if kind == APPROVED:
        return "Normal", "ActionApproved", f"{actor} approved {what}"
    return "Normal", "ActionDenied", f"{actor} denied {what}; nothing ran"


def expired_event(pending: PendingAction) -> tuple[str, str, str]:
    return ("Normal", "ActionExpired", f"{pending.proposal.description()} (proposed by {pending.asker} "
            f"{_where(pending)}) expired at {timestamp(pending.expires_at)} undecided; nothing ran")


def ran_event(pending: PendingAction, actor: str, result: ToolResult) -> tuple[str, str, str]:
    what = pending.proposal.description()
    if result.refused is not None:
        return "Warning", "ActionFailed", f"{what} failed (approved by {actor}): {result.refused}"
    return "Normal", "ActionSucceeded", f"{what}: {result.text} (approved by {actor})"
