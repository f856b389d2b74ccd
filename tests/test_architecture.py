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
