"""Both constraints files agree with pyproject.toml (issue #21: two stacks, each reproducible)."""

from __future__ import annotations

import pytest
from fixtures.repo import REPO_ROOT, load_script
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.classic  # also run on the classic stack (README test command)


constraints = load_script("scripts/constraints.py", "constraints_script")


@pytest.mark.parametrize("stack", sorted(constraints.STACKS))
def test_constraints_file_satisfies_pyproject(stack):
    assert constraints.problems(stack) == []


def test_a_pin_outside_pyproject_bounds_is_reported(tmp_path, monkeypatch):
    (tmp_path / "constraints.txt").write_text("numpy==1.20.0\ngymnasium==1.4.0\n")
    monkeypatch.setattr(constraints, "REPO_ROOT", tmp_path)
    (tmp_path / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text())
    found = constraints.problems("current")
    assert any("numpy==1.20.0 does not satisfy numpy" in line for line in found)
    assert any("torch" in line and "is not pinned" in line for line in found)


def test_the_stacks_differ_where_imitation_needs_them_to():
    current = constraints.read_pins(REPO_ROOT / "constraints.txt")
    classic = constraints.read_pins(REPO_ROOT / "constraints-classic.txt")
    assert current["numpy"].major == 2 and classic["numpy"].major == 1
    assert current["gymnasium"].major == 1 and classic["gymnasium"].release[:2] == (0, 29)
    assert "imitation" in classic and "imitation" not in current
    assert current[canonicalize_name("stable-baselines3")] > classic[canonicalize_name("stable-baselines3")]
