"""Running from a manifest file: overrides made from Slack are kept in a state file beside the spec."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from h1bot_bot.adapters.state_file import StateFile, StateFileError, state_path_for
from h1bot_bot.core.overrides import apply_change, effective_spec, merge_patch_for
from tests.paths import REPO

ADMIN = "U0123ADMIN"
T1 = "2025-03-01T10:00:00Z"


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "helpdesk.yaml"
    path.write_text((REPO / "examples" / "slackbot.yaml").read_text())
    return path


def spec_of(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["spec"]


def test_the_state_lives_beside_the_spec_and_starts_empty(spec_file):
    state = StateFile.beside(spec_file)
    assert state.path == spec_file.parent / "helpdesk.yaml.state.json" == state_path_for(spec_file)
    assert state.load().runtime == {} and state.load().problem is None
    assert not state.path.exists()


def test_an_override_made_from_slack_survives_a_restart(spec_file):
    spec = spec_of(spec_file)
    runtime, _ = apply_change(spec, {}, "model", "gpt-4o", actor=ADMIN, now=T1)
    StateFile.beside(spec_file).apply_patch(merge_patch_for(runtime, {}))

    restarted = StateFile.beside(spec_file).load()  # a new process reads it back

    assert restarted.problem is None and restarted.runtime == runtime
    assert effective_spec(spec, restarted.runtime).model.name == "gpt-4o"
    assert json.loads(state_path_for(spec_file).read_text()) == {"status": {"runtime": runtime}}


def test_two_admins_changes_both_end_up_in_the_file(spec_file):
    spec, state = spec_of(spec_file), StateFile.beside(spec_file)
    first, _ = apply_change(spec, {}, "model", "gpt-4o", actor=ADMIN, now=T1)
    second, _ = apply_change(spec, {}, "temperature", "0.9", actor=ADMIN, now=T1)
    state.apply_patch(merge_patch_for(first, {}))
    stored = state.apply_patch(merge_patch_for(second, {}))
    assert set(stored["overrides"]) == {"model", "temperature"} == set(state.load().runtime["overrides"])


def test_a_patch_may_touch_only_status_runtime(spec_file):
    with pytest.raises(StateFileError, match=r"only status\.runtime"):
        StateFile.beside(spec_file).apply_patch({"status": {"phase": "Running"}})
    with pytest.raises(StateFileError, match=r"only status\.runtime"):
        StateFile.beside(spec_file).apply_patch({"spec": {}})


def test_a_crash_mid_write_keeps_the_previous_state(spec_file):
    spec, state = spec_of(spec_file), StateFile.beside(spec_file)
    before, _ = apply_change(spec, {}, "model", "gpt-4o", actor=ADMIN, now=T1)
    state.save_runtime(before)
    after, _ = apply_change(spec, before, "temperature", "1.1", actor=ADMIN, now=T1)
    # Another process dies after writing its temporary file, before renaming it over the state file.
    crash = textwrap.dedent(f"""
        import os, json
        from h1bot_bot.adapters.state_file import StateFile
        os.replace = lambda *args: os._exit(9)
        StateFile({str(state.path)!r}).save_runtime(json.loads({json.dumps(json.dumps(after))}))
    """)
    assert subprocess.run([sys.executable, "-c", crash], cwd=REPO, timeout=30).returncode == 9
    leftovers = list(spec_file.parent.glob(".helpdesk.yaml.state.json.*.tmp"))
    assert len(leftovers) == 1 and "1.1" in leftovers[0].read_text()

    loaded = state.load()

    assert loaded.problem is None and loaded.runtime == before
    state.save_runtime(after)  # the next write works, and the leftover does not get in the way
    assert state.load().runtime == after


def test_a_corrupt_file_is_moved_aside_with_a_clear_error_and_the_bot_starts_clean(spec_file, caplog):
    state = StateFile.beside(spec_file)
    state.path.write_text('{"status": {"runtime": {"overrides": {"model": {"value": "gpt-4o"')  # cut short

    loaded = state.load()

    assert loaded.runtime == {}
    assert "not a valid h1bot state" in loaded.problem and "moved to helpdesk.yaml.state.json.corrupt-" in (
        loaded.problem)
    assert loaded.problem in caplog.text
    aside = list(spec_file.parent.glob("helpdesk.yaml.state.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().endswith('"gpt-4o"')  # kept, never lost
    assert not state.path.exists()
    state.save_runtime({"overrides": {}})
    assert state.load().problem is None


@pytest.mark.parametrize("content", [b"[1, 2, 3]", b'{"status": {"runtime": "model=gpt-4o"}}',
                                     b'{"status": {"runtime": {"overrides": {"model": "gpt-4o"}}}}', b"\xff\xfe\x00"])
def test_a_file_of_the_wrong_shape_is_moved_aside_too(spec_file, content):
    state = StateFile.beside(spec_file)
    state.path.write_bytes(content)
    assert "not a valid h1bot state" in state.load().problem
    assert next(spec_file.parent.glob("helpdesk.yaml.state.json.corrupt-*")).read_bytes() == content


def test_two_corrupt_files_in_a_row_are_both_kept(spec_file):
    state = StateFile.beside(spec_file)
    for garbage in ("first", "second"):
        state.path.write_text(garbage)
        state.load()
    kept = sorted(p.read_text() for p in spec_file.parent.glob("helpdesk.yaml.state.json.corrupt-*"))
    assert kept == ["first", "second"]


def test_a_state_file_that_cannot_be_read_is_never_written_over(spec_file):
    state = StateFile.beside(spec_file)
    state.path.mkdir()  # something unreadable as a file sits where the state should be
    (state.path / "keep-me").write_text("precious")

    loaded = state.load()

    assert loaded.runtime == {} and "cannot read the state file" in loaded.problem
    with pytest.raises(StateFileError, match="not writing over"):
        state.save_runtime({"overrides": {}})
    assert (state.path / "keep-me").read_text() == "precious"


def test_a_directory_that_cannot_be_written_is_a_clear_error(tmp_path):
    state = StateFile(tmp_path / "missing-dir" / "bot.yaml.state.json")
    with pytest.raises(StateFileError, match="cannot write the state file"):
        state.save_runtime({"overrides": {}})
