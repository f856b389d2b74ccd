"""The layers a newcomer reads from the tree are the layers the code keeps: import-linter's contracts (pyproject.toml,
[tool.importlinter]) checked on every run, as kopf checks its own."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO


def test_every_import_contract_is_kept():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    done = subprocess.run([lint_imports, "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout and "BROKEN" not in done.stdout


def test_no_module_is_named_like_a_standard_library_one():
    """`operator/h1bot_operator/secrets.py` once shadowed `secrets` for anything run from that folder."""
    clashes = sorted(str(path.relative_to(REPO)) for root in ("bot", "operator") for path in (REPO / root).rglob("*.py")
                     if path.stem in sys.stdlib_module_names and path.stem != "__main__")
    assert clashes == []


def test_a_core_module_that_reads_the_clock_breaks_a_contract(tmp_path):
    """The check can fail: the same contracts over a copy of the bot whose core imports `time` are broken."""
    shutil.copytree(REPO / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "operator", tmp_path / "operator", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    formatting = tmp_path / "bot" / "h1bot_bot" / "core" / "formatting.py"
    formatting.write_text("import time\n" + formatting.read_text())
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": f"{tmp_path / 'bot'}:{tmp_path / 'operator'}"}
    done = subprocess.run([lint_imports, "--config", str(tmp_path / "pyproject.toml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "h1bot_bot.core.formatting -> time" in done.stdout, done.stdout[-3000:]
