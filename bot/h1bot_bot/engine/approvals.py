"""Actions that need a human, performed: core/approvals.py decides, this posts, runs and audits.

    approvals = Approvals(surface, kube_tools.run_action, live_config.audit, is_admin, now=time.time,
                          admins=lambda: live_config.current.spec.access.admins)
    text = await approvals.propose(incoming, proposal)   # the tool loop: `text` is the tool result the model reads
    text = await approvals.decide(value, user, approve, channel=..., thread_ts=..., message_ts=...)   # a click
    text = await approvals.decide(proposal_id, user, approve)   # the terminal's y/N
    sweeper = asyncio.create_task(approvals.sweep())   # Slack: a proposal nobody decides shows it expired

The proposals this process made live in its book; a click on one it does not hold (made by another replica, or
before a restart) brings the proposal in its button's value. Each state change is one synchronous step on the
book between awaits, so two concurrent clicks on one proposal in this process cannot both run it; across
replicas, the surface's claim on the proposal's message (Slack: the bot's reaction, added once) decides which
click counts. Before it runs, an approved action is checked again against the current spec.tools (`recheck`), so
an action the spec no longer allows does not run. Failures to post, update or audit are logged and never stop a
decision; the action's own failure is its result (ActionFailed).
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol

from h1bot_api.status import timestamp
from h1bot_bot.core import approvals as core
from h1bot_bot.core.approvals import APPROVED, DENIED, EXPIRED, SWEEP_SECONDS, TTL_SECONDS, PendingAction
from h1bot_bot.core.surface import Incoming, Names
from h1bot_bot.core.tools import ActionProposal, ToolResult

log = logging.getLogger(__name__)

RunAction = Callable[[ActionProposal, str], Awaitable[ToolResult]]  # KubeTools.run_action(proposal, now_iso)
Recheck = Callable[[ActionProposal], str | None]  # why the current spec.tools refuses it, or None
Audit = Callable[[str, str, str], Awaitable[None]]  # LiveConfig.audit(type_, reason, message)
ADMINS_NAMED = 10  # admins a refusal names at most


class ApprovalSurface(Protocol):
    names: Names

    async def propose_action(self, incoming: Incoming, pending: PendingAction) -> str:
        """Post it; returns the message's ts ("" where messages have none)."""

    async def claim_decision(self, pending: PendingAction) -> bool:
        """Whether this click is the one that decides (False: another replica's click already did)."""

    async def decided_elsewhere(self, pending: PendingAction) -> bool:
        """Whether a decision on it was claimed (by another replica) without this process knowing."""

    async def settle_action(self, pending: PendingAction, outcome_line: str) -> None: ...

    async def tell(self, channel: str, thread_ts: str, text: str) -> None: ...


class Approvals:
    def __init__(self, surface: ApprovalSurface, run_action: RunAction, audit: Audit,
                 is_admin: Callable[[str], bool], now: Callable[[], float], ttl_seconds: float = TTL_SECONDS, *,
                 admins: Callable[[], Collection[str]] = tuple, limit: int = core.MAX_PENDING,
                 recheck: Recheck = lambda proposal: None):
        """`is_admin(user)`: who may decide (spec.access.admins, or the terminal's --admin); `admins()`: whom a
        refusal names; `now()`: epoch seconds; `recheck`: the current spec.tools' say on an approved action."""
        self.surface = surface
        self.run_action = run_action
        self.audit = audit
        self.is_admin = is_admin
        self.now = now
        self.ttl = ttl_seconds
        self.admins = admins
        self.limit = limit
        self.recheck = recheck
        self.book = core.Book()

    @property
    def pending(self) -> tuple[PendingAction, ...]:
        return self.book.pending

    async def propose(self, incoming: Incoming, proposal: ActionProposal) -> str:
        """Post `proposal` in the thread with Approve/Deny and audit it; returns the tool result for the model."""
        proposed = self._book_proposal(incoming, proposal)
        for gone in proposed.expired:
            await self._expired(gone)
        if proposed.duplicate is not None and await self._decided_elsewhere(proposed.duplicate):
            self.book = core.settled_elsewhere(self.book, proposed.duplicate)
            proposed = self._book_proposal(incoming, proposal)  # the same action, asked for again: a new proposal
        pending = proposed.pending
        if pending is None:
            log.info("action not proposed: %s", proposed.model_text, extra=_where(incoming.user, incoming.channel,
                                                                                 incoming.thread_ts))
            return proposed.model_text
        try:
            message_ts = await self.surface.propose_action(incoming, pending)
        except Exception as exc:
            self.book = core.withdraw(self.book, pending.id)
            log.warning("could not post the proposal %s: %s", pending.id, exc, extra=_extra(pending))
            return (f"not proposed: the proposal could not be posted in the thread ({type(exc).__name__}). "
                    "Nothing has run.")
        self.book = core.located(self.book, pending.id, message_ts or "")
        await self._audit(*core.proposed_event(pending))
        return proposed.model_text

    def _book_proposal(self, incoming: Incoming, proposal: ActionProposal) -> core.Proposed:
        proposed = core.propose(self.book, uuid.uuid4().hex[:16], proposal, channel=incoming.channel,
                                thread_ts=incoming.thread_ts, asker=incoming.user, now=self.now(), ttl=self.ttl,
                                limit=self.limit)
        self.book = proposed.book
        return proposed

    async def _decided_elsewhere(self, pending: PendingAction) -> bool:
        try:
            return await self.surface.decided_elsewhere(pending)
        except Exception as exc:  # cannot tell: it keeps waiting here, and the model says so
            log.warning("could not check whether %s was decided: %s", pending.id, exc, extra=_extra(pending))
            return False

    async def decide(self, value: str, user: str, approve: bool, *, channel: str = "", thread_ts: str = "",
                     message_ts: str = "") -> str:
        """An Approve (`approve`) or Deny by `user` of the proposal `value` (a button's value, or a proposal id)
        whose message is at `channel`/`message_ts` in `thread_ts`; returns the text for them. An approved action
        runs once, its result goes to the thread and the proposal's message shows the outcome."""
        proposal_id, carried = core.carried(value, channel=channel, thread_ts=thread_ts, message_ts=message_ts)
        admin = self.is_admin(user)
        names = () if admin else await self._admin_names()
        undecided = self.book.settled_as(proposal_id) is None
        decision = core.decide(self.book, proposal_id, actor=user, approve=approve, admin=admin, now=self.now(),
                               admin_names=names, carried=carried)
        self.book = decision.book  # settled now, before any await: a second click finds it decided
        pending = decision.pending
        if pending is None or decision.kind not in (APPROVED, DENIED):
            log.info("proposal %s not decided by %s: %s", proposal_id, user, decision.kind,
                     extra={**(_extra(pending) if pending else {}), "user": user})
            if decision.kind == EXPIRED and undecided and pending is not None:
                await self._expired(pending)
            return decision.text
        if not await self._claim(pending):
            self.book = core.settled_elsewhere(self.book, pending)  # not by this click: by whom, it cannot say
            log.info("proposal %s was already decided elsewhere; %s's click did nothing", pending.id, user,
                     extra={**_extra(pending), "user": user})
            return core.DECIDED_ELSEWHERE_TEXT
        await self._audit(*core.decided_event(decision.kind, pending, user))
        if decision.kind == DENIED:
            await self._show(pending, core.outcome_line(DENIED, pending, user))
            return decision.text
        await self._show(pending, core.running_line(user))
        result = await self._run(pending)
        await self._show(pending, core.outcome_line(APPROVED, pending, user, result))
        try:
            await self.surface.tell(pending.channel, pending.thread_ts, core.result_post(pending, user, result))
        except Exception as exc:
            log.warning("could not post the result of %s in its thread: %s", pending.id, exc, extra=_extra(pending))
        await self._audit(*core.ran_event(pending, user, result))
        return core.ran_text(result)

    async def expire_due(self) -> None:
        """Settle the proposals whose time ran out: each message loses its buttons and says so, and an
        ActionExpired Event records it."""
        self.book, due = core.expire(self.book, self.now())
        for pending in due:
            await self._expired(pending)

    async def sweep(self, interval: float = SWEEP_SECONDS) -> None:
        """Forever, every `interval` seconds: expire_due (run it as a task; cancel the task to stop)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.expire_due()
            except Exception:  # _show and _audit log their own failures; anything else must not end the sweep
                log.exception("expiring proposals failed")

    async def _claim(self, pending: PendingAction) -> bool:
        try:
            return await self.surface.claim_decision(pending)
        except Exception as exc:  # the surface could not say: this click decides (a proposal is not left stuck)
            log.warning("could not claim the decision of %s: %s", pending.id, exc, extra=_extra(pending))
            return True

    async def _run(self, pending: PendingAction) -> ToolResult:
        refusal = self.recheck(pending.proposal)
        if refusal is not None:
            return ToolResult(refused=f"spec.tools no longer allows it: {refusal}")
        try:
            return await self.run_action(pending.proposal, timestamp(self.now()))
        except Exception as exc:  # KubeTools returns failures as results; anything else is one too
            log.exception("running approved action %s failed", pending.id, extra=_extra(pending))
            return ToolResult(refused=f"the bot could not run it ({type(exc).__name__})")

    async def _expired(self, pending: PendingAction) -> None:
        if not await self._claim(pending):  # decided meanwhile through another replica: its message says how
            self.book = core.settled_elsewhere(self.book, pending)
            log.info("proposal %s was decided elsewhere before it expired", pending.id, extra=_extra(pending))
            return
        log.info("proposal %s expired: %s", pending.id, pending.proposal.description(), extra=_extra(pending))
        await self._show(pending, core.outcome_line(EXPIRED, pending))
        await self._audit(*core.expired_event(pending))

    async def _show(self, pending: PendingAction, line: str) -> None:
        try:
            await self.surface.settle_action(pending, line)
        except Exception as exc:
            log.warning("could not update the proposal %s: %s", pending.id, exc, extra=_extra(pending))

    async def _audit(self, type_: str, reason: str, message: str) -> None:
        try:
            await self.audit(type_, reason, message)
        except Exception as exc:
            log.error("could not audit %s (%s): %s", reason, exc, message)

    async def _admin_names(self) -> list[str]:
        ids = list(dict.fromkeys(self.admins()))[:ADMINS_NAMED]
        try:
            names = await self.surface.names.many(set(ids)) if ids else {}
        except Exception:
            names = {}
        return [names.get(i, i) for i in ids]


def _where(user: str, channel: str, thread_ts: str) -> dict[str, str]:
    return {"user": user, "channel": channel, "thread_ts": thread_ts}


def _extra(pending: PendingAction) -> dict[str, str]:
    return {"asker": pending.asker, "channel": pending.channel, "thread_ts": pending.thread_ts,
            "proposal": pending.id}
