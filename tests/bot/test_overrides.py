"""Settings changed from Slack: validated as the CRD would, recorded in status.runtime, and given up when the spec
changes the same field (GitOps-safe)."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h1bot_api import API_VERSION, KIND
from h1bot_api.spec import ConfigError
from h1bot_bot.core.overrides import (
    ChangeRejected,
    NotAdmin,
    apply_change,
    apply_merge_patch,
    effective_spec,
    is_admin,
    merge_patch_for,
    reconcile_with_spec,
    reset,
)
from tests.fakes.crd_schema import admit

ADMIN, OTHER_ADMIN, USER = "U0ADMIN01", "U0ADMIN02", "U0REGULAR"
T1, T2 = "2025-03-01T10:00:00Z", "2025-03-01T10:05:00Z"


def make_spec(**model) -> dict:
    return {
        "model": {"name": "gpt-4o", "temperature": 0.7, **model},
        "secrets": {"slackBotToken": {"name": "creds", "key": "bot"}, "slackAppToken": {"name": "creds", "key": "app"},
                    "openAIAPIKey": {"name": "creds", "key": "openai"}},
        "access": {"admins": [ADMIN, OTHER_ADMIN]},
    }


def stored(spec: dict, status: dict) -> dict:
    """The SlackBot as the API server would hold it."""
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "helpdesk", "namespace": "default"},
            "spec": spec, "status": status}


def test_an_admin_switches_the_model_and_the_override_records_who_when_and_what_it_replaced():
    spec = make_spec()
    runtime, change = apply_change(spec, {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)

    assert runtime["overrides"]["model"] == {"value": "gpt-4o-mini", "specValue": "gpt-4o", "previous": "gpt-4o",
                                             "by": ADMIN, "at": T1}
    assert runtime["lastChange"] == {"action": "set", "key": "model", "value": "gpt-4o-mini", "previous": "gpt-4o",
                                     "by": ADMIN, "at": T1}
    assert (change.key, change.value, change.previous, change.spec_value, change.outcome) == (
        "model", "gpt-4o-mini", "gpt-4o", "gpt-4o", "set")
    assert effective_spec(spec, runtime).model.name == "gpt-4o-mini"
    # The write touches only status.runtime, and the API server would admit the result.
    patch = merge_patch_for(runtime, {})
    assert list(patch) == ["status"] and list(patch["status"]) == ["runtime"]
    operator_status = {"phase": "Running", "observedGeneration": 3}
    status = apply_merge_patch(operator_status, patch["status"])
    assert status["phase"] == "Running" and status["observedGeneration"] == 3
    assert admit(stored(spec, status)) == []


def test_typed_values_become_numbers_of_the_fields_type():
    spec = make_spec()
    runtime, _ = apply_change(spec, {}, "thresholdTokens", "12k", actor=ADMIN, now=T1)
    runtime, _ = apply_change(spec, runtime, "chunkTokens", "3,000", actor=ADMIN, now=T1)
    runtime, _ = apply_change(spec, runtime, "temperature", "0.2", actor=ADMIN, now=T1)
    effective = effective_spec(spec, runtime)
    assert effective.summarization.threshold_tokens == 12000
    assert effective.summarization.chunk_tokens == 3000
    assert effective.model.temperature == 0.2
    assert [type(runtime["overrides"][k]["value"]) for k in ("thresholdTokens", "chunkTokens", "temperature")] == [
        int, int, float]


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("temperature", "3", "less than or equal to 2"),
    ("temperature", "warm", "temperature must be a number"),
    ("temperature", "nan", "finite"),
    ("chunkTokens", "2.5", "whole number"),
    ("chunkTokens", "64", "greater than or equal to 128"),
    ("maxOutputTokens", "lots", "whole number"),
    ("model", "gpt 4o", "one word"),
])
def test_a_bad_value_is_refused_with_the_reason_and_nothing_changes(key, value, reason):
    spec = make_spec()
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    before = copy.deepcopy(runtime)
    with pytest.raises(ChangeRejected, match=reason) as refused:
        apply_change(spec, runtime, key, value, actor=ADMIN, now=T2)
    assert "\n" not in str(refused.value)
    assert runtime == before


def test_a_threshold_above_the_context_window_is_refused():
    # The window comes from the spec…
    with pytest.raises(ChangeRejected, match=r"thresholdTokens must be below spec\.model\.contextTokens"):
        apply_change(make_spec(contextTokens=8192), {}, "thresholdTokens", "9000", actor=ADMIN, now=T1)
    # …or from the table of known models.
    with pytest.raises(ChangeRejected, match=r"must be below the context window of gpt-3\.5-turbo \(16385\)"):
        apply_change(make_spec(name="gpt-3.5-turbo"), {}, "thresholdTokens", "20000", actor=ADMIN, now=T1)


def test_a_model_outside_allowed_models_is_refused_naming_the_allowed_ones():
    spec = make_spec(allowedModels=["gpt-4o", "gpt-4o-mini"])
    with pytest.raises(ChangeRejected, match=r"not allowed here.*gpt-4o, gpt-4o-mini"):
        apply_change(spec, {}, "model", "o3", actor=ADMIN, now=T1)
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    assert effective_spec(spec, runtime).model.name == "gpt-4o-mini"


def test_a_model_the_endpoint_does_not_serve_is_refused_when_the_list_is_known():
    with pytest.raises(ChangeRejected, match="not served by the model endpoint"):
        apply_change(make_spec(), {}, "model", "gpt-4.1", actor=ADMIN, now=T1, available_models=["gpt-4o"])


def test_an_unknown_model_needs_a_context_window_in_the_spec():
    with pytest.raises(ChangeRejected, match=r"not in the table of known models: set spec\.model\.contextTokens"):
        apply_change(make_spec(), {}, "model", "llama-3.1-70b", actor=ADMIN, now=T1)
    runtime, _ = apply_change(make_spec(contextTokens=32768), {}, "model", "llama-3.1-70b", actor=ADMIN, now=T1)
    assert runtime["overrides"]["model"]["value"] == "llama-3.1-70b"


def test_a_system_prompt_too_long_for_the_context_window_is_refused_when_tokens_are_counted():
    spec = make_spec(name="my-small-model", contextTokens=2048, maxOutputTokens=1024)
    with pytest.raises(ChangeRejected, match=r"the system prompt \(1,000 tokens\) does not fit the 2,048-token"):
        apply_change(spec, {}, "systemPrompt", "word " * 1000, actor=ADMIN, now=T1,
                     count_tokens=lambda text: len(text.split()))


def test_only_admins_change_settings():
    spec = make_spec()
    with pytest.raises(NotAdmin) as refused:
        apply_change(spec, {}, "temperature", "0.1", actor=USER, now=T1)
    assert refused.value.admins == (ADMIN, OTHER_ADMIN)
    with pytest.raises(NotAdmin):
        reset(spec, {}, None, actor=USER, now=T1)
    nobody = {**spec, "access": {"admins": []}}
    with pytest.raises(NotAdmin):
        apply_change(nobody, {}, "temperature", "0.1", actor=ADMIN, now=T1)
    assert is_admin(effective_spec(spec, {}), ADMIN) and not is_admin(effective_spec(spec, {}), USER)


def test_setting_the_specs_own_value_removes_the_override_and_repeating_a_value_changes_nothing():
    spec = make_spec()
    runtime, _ = apply_change(spec, {}, "temperature", "0.2", actor=ADMIN, now=T1)
    again, change = apply_change(spec, runtime, "temperature", "0.20", actor=OTHER_ADMIN, now=T2)
    assert change.outcome == "unchanged" and merge_patch_for(again, runtime) == {}

    back, change = apply_change(spec, runtime, "temperature", "0.7", actor=OTHER_ADMIN, now=T2)
    assert change.outcome == "spec" and change.previous == 0.2
    assert "temperature" not in back["overrides"]
    assert merge_patch_for(back, runtime)["status"]["runtime"]["overrides"] == {"temperature": None}


def test_a_temperature_for_a_model_that_takes_none_is_kept_with_a_note():
    runtime, change = apply_change(make_spec(name="o3"), {}, "temperature", "0.3", actor=ADMIN, now=T1)
    assert "o3 takes no temperature" in change.note
    assert runtime["overrides"]["temperature"]["value"] == 0.3


def test_someone_kubectl_applies_a_new_model_and_the_override_is_dropped_and_reported():
    old_spec = make_spec()
    runtime, _ = apply_change(old_spec, {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    runtime, _ = apply_change(old_spec, runtime, "temperature", "0.1", actor=ADMIN, now=T1)
    new_spec = make_spec(name="gpt-4.1")

    kept, dropped = reconcile_with_spec(old_spec, new_spec, runtime)

    assert [(d.key, d.value, d.replaced, d.spec_value, d.by, d.reason) for d in dropped] == [
        ("model", "gpt-4o-mini", "gpt-4o", "gpt-4.1", ADMIN, "spec-changed")]
    effective = effective_spec(new_spec, kept)
    assert effective.model.name == "gpt-4.1" and effective.model.temperature == 0.1
    assert merge_patch_for(kept, runtime) == {"status": {"runtime": {"overrides": {"model": None}}}}


def test_an_unrelated_spec_change_keeps_the_override():
    old_spec = make_spec()
    runtime, _ = apply_change(old_spec, {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    new_spec = {**make_spec(temperature=0.4), "access": {"admins": [ADMIN], "answerBots": True}}

    kept, dropped = reconcile_with_spec(old_spec, new_spec, runtime)

    assert dropped == [] and kept == runtime
    assert effective_spec(new_spec, kept).model.name == "gpt-4o-mini"


def test_at_startup_overrides_are_checked_against_the_spec_they_replaced():
    spec = make_spec()
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    assert reconcile_with_spec(None, spec, runtime) == (runtime, [])
    # The spec changed while the bot was down.
    _, dropped = reconcile_with_spec(None, make_spec(name="gpt-4.1"), runtime)
    assert [d.key for d in dropped] == ["model"]


def test_an_override_of_a_field_the_spec_left_unset_is_dropped_once_the_spec_sets_it():
    spec = make_spec()
    runtime, _ = apply_change(spec, {}, "thresholdTokens", "12000", actor=ADMIN, now=T1)
    assert "specValue" not in runtime["overrides"]["thresholdTokens"]  # a merge patch cannot write null
    assert reconcile_with_spec(spec, {**spec, "summarization": {"chunkTokens": 1000}}, runtime)[1] == []
    _, dropped = reconcile_with_spec(spec, {**spec, "summarization": {"thresholdTokens": 20000}}, runtime)
    assert [(d.key, d.replaced, d.spec_value) for d in dropped] == [("thresholdTokens", None, 20000)]


def test_an_override_the_new_spec_no_longer_admits_is_dropped_with_the_reason():
    old_spec = make_spec(allowedModels=["gpt-4o", "gpt-4o-mini"])
    runtime, _ = apply_change(old_spec, {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    new_spec = make_spec(allowedModels=["gpt-4o", "gpt-4.1"])

    kept, dropped = reconcile_with_spec(old_spec, new_spec, runtime)

    assert [(d.key, d.reason) for d in dropped] == [("model", "invalid")]
    assert "allowedModels" in dropped[0].detail
    assert effective_spec(new_spec, kept).model.name == "gpt-4o"


def test_an_invalid_new_spec_is_an_error_not_a_silent_drop():
    runtime, _ = apply_change(make_spec(), {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    with pytest.raises(ConfigError, match="temperature"):
        reconcile_with_spec(make_spec(), make_spec(temperature=5), runtime)


def test_reset_one_then_reset_all():
    spec = make_spec()
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o-mini", actor=ADMIN, now=T1)
    runtime, _ = apply_change(spec, runtime, "temperature", "0.1", actor=OTHER_ADMIN, now=T1)

    one, resets = reset(spec, runtime, "temperature", actor=ADMIN, now=T2)
    assert [(r.key, r.value, r.spec_value, r.by) for r in resets] == [("temperature", 0.1, 0.7, OTHER_ADMIN)]
    assert list(one["overrides"]) == ["model"]
    assert one["lastChange"] == {"action": "reset", "key": "temperature", "keys": ["temperature"], "by": ADMIN,
                                 "at": T2}

    everything, resets = reset(spec, one, None, actor=ADMIN, now=T2)
    assert [r.key for r in resets] == ["model"] and everything["overrides"] == {}
    assert effective_spec(spec, everything) == effective_spec(spec, {})
    assert reset(spec, everything, None, actor=ADMIN, now=T2)[1] == []
    assert reset(spec, everything, "model", actor=ADMIN, now=T2)[1] == []


def test_a_reset_that_would_leave_an_invalid_configuration_is_refused():
    spec = make_spec(name="gpt-3.5-turbo")
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o", actor=ADMIN, now=T1)
    runtime, _ = apply_change(spec, runtime, "thresholdTokens", "50000", actor=ADMIN, now=T1)
    with pytest.raises(ChangeRejected, match="resetting model leaves an invalid configuration"):
        reset(spec, runtime, "model", actor=ADMIN, now=T2)
    assert reset(spec, runtime, None, actor=ADMIN, now=T2)[0]["overrides"] == {}


def test_two_admins_changing_different_keys_at_once_are_both_recorded():
    spec = make_spec()
    start, _ = apply_change(spec, {}, "temperature", "1.2", actor=ADMIN, now=T1)
    # Both start from the same state: one switches the model while the other lowers the temperature.
    by_first, _ = apply_change(spec, start, "model", "gpt-4o-mini", actor=ADMIN, now=T2)
    by_second, _ = apply_change(spec, start, "temperature", "0.1", actor=OTHER_ADMIN, now=T2)
    first, second = merge_patch_for(by_first, start), merge_patch_for(by_second, start)
    assert set(first["status"]["runtime"]["overrides"]) == {"model"}
    assert set(second["status"]["runtime"]["overrides"]) == {"temperature"}
    status = {"phase": "Running", "runtime": start}

    for order in ((first, second), (second, first)):
        result = status
        for patch in order:
            result = apply_merge_patch(result, patch["status"])
        effective = effective_spec(spec, result["runtime"])
        assert (effective.model.name, effective.model.temperature) == ("gpt-4o-mini", 0.1)
        assert result["runtime"]["overrides"]["temperature"]["by"] == OTHER_ADMIN


def test_a_changed_override_is_written_whole_so_no_stale_field_survives():
    spec = make_spec()
    runtime = {"overrides": {"model": {"value": "gpt-4o-mini", "specValue": "gpt-4o", "by": ADMIN, "at": T1,
                                       "note": "written by hand"}}}
    changed, _ = apply_change(spec, runtime, "model", "gpt-4.1", actor=OTHER_ADMIN, now=T2)
    patch = merge_patch_for(changed, runtime)["status"]["runtime"]["overrides"]["model"]
    assert patch["note"] is None and patch["value"] == "gpt-4.1" and patch["by"] == OTHER_ADMIN
    assert apply_merge_patch(runtime, merge_patch_for(changed, runtime)["status"]["runtime"]) == changed


_CHANGES = st.one_of(
    st.tuples(st.just("model"), st.sampled_from(["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3"])),
    st.tuples(st.just("temperature"), st.sampled_from(["0", "0.7", "1.5", "3"])),
    st.tuples(st.just("thresholdTokens"), st.sampled_from(["1000", "12000", "200000"])),
    st.tuples(st.just("chunkTokens"), st.sampled_from(["500", "2000", "50"])),
    st.tuples(st.just("systemPrompt"), st.sampled_from(["Be brief.", "Talk like a pirate."])),
    st.tuples(st.just("reset"), st.sampled_from([None, "model", "temperature"])),
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_CHANGES, st.sampled_from([ADMIN, OTHER_ADMIN, USER])), max_size=8))
def test_the_stored_status_follows_every_change_through_its_merge_patches(steps):
    spec = make_spec()
    runtime: dict = {}
    status = {"phase": "Running", "conditions": []}
    for (key, value), actor in steps:
        try:
            if key == "reset":
                new, _ = reset(spec, runtime, value, actor=actor, now=T1)
            else:
                new, _ = apply_change(spec, runtime, key, value, actor=actor, now=T1)
        except ChangeRejected:
            continue
        status = apply_merge_patch(status, merge_patch_for(new, runtime).get("status", {}))
        runtime = new
        assert status.get("runtime", {}).get("overrides", {}) == runtime.get("overrides", {})
        assert status.get("runtime", {}).get("lastChange") == runtime.get("lastChange")
        assert status["phase"] == "Running"
        effective_spec(spec, runtime)  # always valid


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from(["model", "temperature", "chunkTokens", "systemPrompt"]),
                       st.sampled_from(["1", "0.5", "gpt-4o-mini", "Be brief."]), min_size=2, max_size=4),
       st.randoms(use_true_random=False))
def test_patches_of_disjoint_keys_commute(values, random):
    start = {"overrides": {"maxOutputTokens": {"value": 512, "specValue": 1024, "by": ADMIN, "at": T1}}}
    patches = []
    for key, value in values.items():
        new = {"overrides": {**start["overrides"], key: {"value": value, "by": ADMIN, "at": T1}}}
        patches.append(merge_patch_for(new, start)["status"]["runtime"])
    in_order = start
    for patch in patches:
        in_order = apply_merge_patch(in_order, patch)
    random.shuffle(patches)
    shuffled = start
    for patch in patches:
        shuffled = apply_merge_patch(shuffled, patch)
    assert in_order == shuffled
    assert set(in_order["overrides"]) == set(values) | {"maxOutputTokens"}


def test_a_change_on_top_of_overrides_the_spec_no_longer_admits_asks_for_a_reset():
    runtime = {"overrides": {"model": {"value": "o3", "specValue": "gpt-4o", "by": ADMIN, "at": T1}}}
    spec = make_spec(allowedModels=["gpt-4o"])
    with pytest.raises(NotAdmin):  # a non-admin learns only that they are not an admin
        apply_change(spec, runtime, "temperature", "0.1", actor=USER, now=T2)
    with pytest.raises(ChangeRejected, match="`config reset` them"):
        apply_change(spec, runtime, "temperature", "0.1", actor=ADMIN, now=T2)
