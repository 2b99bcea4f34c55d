"""The pinned environments (``requirements/*.lock``) agree with ``pyproject.toml``.

Every requirement of the runtime and of the extra a lock is for is pinned there, at a version
the requirement's range accepts; so a dependency added to ``pyproject.toml`` without compiling
the locks again (``requirements/README.md``) fails here rather than as an ImportError in a
fresh environment.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", re.MULTILINE)
LOCKS = {"test.lock": "test", "bench.lock": "bench"}


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


@pytest.mark.parametrize(("lock", "extra"), LOCKS.items())
def test_every_requirement_is_pinned_within_its_range(lock: str, extra: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"][extra]
    ]
    pinned = pins(lock)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in requirements/{lock}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={pinned[name]}, outside {requirement}"
        )


def test_the_locks_pin_no_package_twice_and_the_same_version_where_they_share_one() -> None:
    test, bench = pins("test.lock"), pins("bench.lock")
    for lock in LOCKS:
        text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
        names = [canonicalize_name(n) for n, _ in PIN.findall(text)]
        assert len(names) == len(set(names)), lock
    shared = set(test) & set(bench)
    assert {n: test[n] for n in shared} == {n: bench[n] for n in shared}
