"""The live configuration's transitions, pure: what an admin's change, a new SlackBot version or a stored write
does to the state, and which effects (save, Event, a message in a thread) the bot must then perform."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h1bot_bot.core import config_state
from h1bot_bot.core.config_state import Log, RecordEvent, Save, Tell
from h1bot_bot.core.effective import BotConfig
from h1bot_bot.core.overrides import ChangeRejected, NotAdmin, apply_merge_patch, effective_spec, overrides_of
from tests.bot.conftest import BASE_SPEC

ADMIN, USER = "UADMIN", "UBOB"
SPEC = {**BASE_SPEC, "model": {**BASE_SPEC["model"], "allowedModels": ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]},
        "access": {"admins": [ADMIN]}}
NOW = "2026-12-02T10:00:00Z"


def build(spec, runtime) -> BotConfig:
    return BotConfig(effective_spec(spec, runtime), source="test")


def switch(state, model: str, actor: str = ADMIN, **extra):
    return config_state.change(state, "model", model, actor=actor, now=NOW, channel="C1", thread_ts="1.0", **extra)


def observed(spec, runtime=None, version="10"):
    return {"metadata": {"resourceVersion": version}, "spec": spec, "status": {"runtime": runtime or {}}}


def test_an_admins_switch_applies_at_once_then_is_saved_audited_and_answered():
    start = config_state.start(SPEC, None)
    assert start.effects == ()
    moved = switch(start.state, "gpt-4o")
    assert effective_spec(moved.state.spec, moved.state.local).model.name == "gpt-4o"
    assert [type(e) for e in moved.effects] == [Log, Save, RecordEvent]
    assert moved.effects[1] == Save("C1", "1.0") and moved.effects[2].reason == "ConfigChanged"
    assert moved.state.pending["status"]["runtime"]["overrides"]["model"]["value"] == "gpt-4o"
    assert "`gpt-4o`" in moved.reply(True) and moved.reply(True) != moved.reply(False)


def test_someone_else_is_refused_and_nothing_changes_unless_the_surface_says_they_are_admin():
    state = config_state.start(SPEC, None).state
    with pytest.raises(NotAdmin):
        switch(state, "gpt-4o", actor=USER)
    assert switch(state, "gpt-4o", actor=USER, admin=True).state.local["overrides"]["model"]["by"] == USER
    with pytest.raises(NotAdmin):
        switch(state, "gpt-4o", actor=ADMIN, admin=False)


def test_a_spec_change_drops_the_override_of_that_field_and_tells_the_thread_it_was_made_in():
    state = switch(config_state.start(SPEC, None).state, "gpt-4o").state
    state = config_state.stored(state, state.pending, "5")
    changed = {**SPEC, "model": {**SPEC["model"], "name": "gpt-4.1-mini"}}
    seen = config_state.observe(state, observed(changed, state.local), build)
    assert "overrides" not in seen.state.local or not seen.state.local["overrides"]
    tells = [e for e in seen.effects if isinstance(e, Tell)]
    assert [(t.channel, t.thread_ts) for t in tells] == [("C1", "1.0")] and "gpt-4.1-mini" in tells[0].text
    assert [e.reason for e in seen.effects if isinstance(e, RecordEvent)] == ["OverrideDropped"]
    assert seen.effects[-1] == Save()


def test_an_invalid_spec_is_refused_once_and_the_previous_configuration_kept():
    state = config_state.start(SPEC, None).state
    broken = {**SPEC, "model": {"name": "gpt-4o-mini", "maxOutputTokens": -1}}
    first = config_state.observe(state, observed(broken), build)
    assert first.state.spec == SPEC and first.state.current_rejection
    assert [e.reason for e in first.effects if isinstance(e, RecordEvent)] == ["InvalidSpec"]
    again = config_state.observe(first.state, observed(broken, version="11"), build)
    assert again.effects == () and again.state.current_rejection == first.state.current_rejection
    fixed = config_state.observe(again.state, observed(SPEC, version="12"), build)
    assert fixed.state.current_rejection is None


def test_a_version_older_than_our_own_write_does_not_roll_the_override_back():
    state = switch(config_state.start(SPEC, None).state, "gpt-4o").state
    state = config_state.stored(state, state.pending, "20")
    stale = config_state.observe(state, observed(SPEC, {}, version="19"), build)
    assert stale.state.local["overrides"]["model"]["value"] == "gpt-4o" and stale.effects == ()


def test_overrides_the_spec_no_longer_admits_at_start_are_reported_once_the_bot_can_tell():
    runtime = {"overrides": {"model": {"value": "gpt-5-mini", "by": ADMIN, "at": NOW, "channel": "C9",
                                       "threadTs": "9.0"}}}
    start = config_state.start(SPEC, runtime)
    assert not start.state.local.get("overrides")
    assert Tell in {type(e) for e in start.effects} and start.effects[-1] == Save()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "reset"]), max_size=8),
       st.sets(st.integers(min_value=0, max_value=7)))
def test_whatever_the_changes_and_whichever_writes_succeed_storing_the_pending_patch_leaves_nothing_pending(
        steps, stored_after):
    state, version = config_state.start(SPEC, None).state, 0
    for i, step in enumerate(steps):
        if step == "reset":
            moved = config_state.reset_overrides(state, None, actor=ADMIN, now=NOW, channel="C1", thread_ts="1.0")
        else:
            moved = switch(state, step)
        assert all(isinstance(e, Save) for e in moved.effects if not isinstance(e, Log | RecordEvent))
        state = moved.state
        if i in stored_after and state.pending:
            version += 1
            state = config_state.stored(state, state.pending, str(version))
    if state.pending:
        state = config_state.stored(state, state.pending, str(version + 1))
    assert state.pending == {}
    model = effective_spec(state.spec, state.local).model.name
    assert model == (SPEC["model"]["name"] if not steps or steps[-1] == "reset" else steps[-1])


# ---- more of each input, and what a transition never does ------------------------------------------------------
LATER = "2026-12-02T11:00:00Z"


def set_(state, key: str, value: str, actor: str = ADMIN, **extra):
    return config_state.change(state, key, value, actor=actor, now=NOW, channel="C1", thread_ts="1.0", **extra)


def saved(transition):
    """The state once the store took everything the transition left pending."""
    state = transition.state
    return config_state.stored(state, state.pending, "50") if state.pending else state


def test_the_override_records_who_when_and_where_from_the_callers_now_and_actor():
    moved = config_state.change(config_state.start(SPEC, None).state, "temperature", "0.7", actor=ADMIN, now=LATER,
                                channel="C7", thread_ts="7.0")
    assert moved.state.local["overrides"]["temperature"] == {
        "value": 0.7, "specValue": 0.3, "previous": 0.3, "by": ADMIN, "at": LATER, "channel": "C7", "threadTs": "7.0"}
    assert moved.state.local["lastChange"] == {"action": "set", "key": "temperature", "value": 0.7,
                                               "previous": 0.3, "by": ADMIN, "at": LATER}


def test_a_refused_value_or_a_value_already_in_effect_asks_for_nothing():
    state = config_state.start(SPEC, None).state
    with pytest.raises(ChangeRejected, match="temperature"):
        set_(state, "temperature", "7")
    same = set_(state, "temperature", "0.3")
    assert same.effects == () and same.state is state and same.reply(True) == same.reply(False)


def test_a_reset_of_a_stored_override_asks_to_store_its_removal_and_audits_it():
    state = saved(set_(config_state.start(SPEC, None).state, "temperature", "0.7"))
    back = config_state.reset_overrides(state, "temperature", actor=ADMIN, now=LATER, channel="C1", thread_ts="1.0")
    assert effective_spec(back.state.spec, back.state.local).model.temperature == 0.3
    assert [type(e) for e in back.effects] == [Log, Save, RecordEvent] and back.effects[2].reason == "ConfigReset"
    assert back.state.pending["status"]["runtime"]["overrides"] == {"temperature": None}
    again = config_state.reset_overrides(back.state, None, actor=ADMIN, now=LATER, channel="C1", thread_ts="1.0")
    assert again.effects == ()


def test_a_spec_change_elsewhere_keeps_the_override_and_asks_to_store_nothing():
    state = saved(set_(config_state.start(SPEC, None).state, "temperature", "0.7"))
    new_spec = {**SPEC, "persona": {"systemPrompt": "Be brief."}}
    seen = config_state.observe(state, observed(new_spec, state.accepted, "60"), build)
    assert seen.state.spec == new_spec and effective_spec(new_spec, seen.state.local).model.temperature == 0.7
    assert [type(e) for e in seen.effects] == [Log] and seen.state.pending == {}


def test_a_runtime_someone_else_stored_is_taken_with_what_is_pending_on_top():
    state = saved(set_(config_state.start(SPEC, None).state, "temperature", "0.7"))
    pending = set_(state, "maxOutputTokens", "256").state  # not stored yet
    by_kubectl = apply_merge_patch(state.accepted, {"overrides": {"temperature": None}})
    seen = config_state.observe(pending, observed(SPEC, by_kubectl, "70"), build)
    assert set(seen.state.local["overrides"]) == {"maxOutputTokens"} and seen.state.accepted == by_kubectl
    assert seen.state.pending["status"]["runtime"]["overrides"] == {
        "maxOutputTokens": pending.local["overrides"]["maxOutputTokens"]}


STEPS = st.lists(st.one_of(
    st.tuples(st.just("temperature"), st.sampled_from(["0", "0.3", "0.5", "1.2", "7"])),
    st.tuples(st.just("maxOutputTokens"), st.sampled_from(["64", "512", "2048", "-1"])),
    st.tuples(st.just("model"), st.sampled_from(["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "nope"])),
    st.tuples(st.just("reset"), st.sampled_from(["temperature", "model", ""])),
    st.tuples(st.just("stored"), st.just("")),
), max_size=12)


@settings(max_examples=60, deadline=None)
@given(STEPS)
def test_transitions_never_touch_their_input_and_the_pending_patch_turns_what_is_stored_into_what_is_in_effect(
        steps):
    state = config_state.start(SPEC, None).state
    for key, value in steps:
        before = copy.deepcopy(state)
        if key == "stored":
            state = config_state.stored(state, state.pending, None) if state.pending else state
            continue
        try:
            moved = (config_state.reset_overrides(state, value or None, actor=ADMIN, now=NOW, channel="C1",
                                                  thread_ts="1.0") if key == "reset" else set_(state, key, value))
        except ChangeRejected:
            moved = None
        assert state == before  # neither a refusal nor a change alters the state it was given
        if moved is None:
            continue
        assert [e for e in moved.effects if isinstance(e, Save)] == ([Save("C1", "1.0")] if moved.effects else [])
        state = moved.state
        patch = state.pending
        stored_runtime = apply_merge_patch(state.accepted, patch["status"]["runtime"]) if patch else state.accepted
        # (no `overrides` and an empty one are the same runtime: a merge patch writes no empty map)
        assert overrides_of(stored_runtime) == overrides_of(state.local)
        assert stored_runtime.get("lastChange") == state.local.get("lastChange")
        effective_spec(state.spec, state.local)  # always a configuration the bot can run
