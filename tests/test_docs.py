"""Every README.md and docs/*.md code block marked runnable runs as written, in a scratch folder.

A block is marked by the HTML comment ``<!-- runnable -->`` on the line right before its fence (GitHub
renders nothing for it, and the fence keeps its language, so the block stays highlighted). ``python``
blocks run with this interpreter; ``bash`` blocks run under ``bash -euo pipefail`` with this interpreter's
``bin`` first on ``PATH`` (so ``nitrogen`` is the installed command). The marked blocks of one file run in
order in one empty scratch folder (a later block may use what an earlier one wrote, as a reader following
the page would), offline (``HF_HUB_OFFLINE=1``). Marked blocks are written with small sizes (the prose says
which flags to raise for a real run), so a documented path can never break silently and the whole runner
stays within a few minutes on 2 cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.repo import REPO_ROOT

from nitrogen_envs.import_utils import is_available

MARKER = "<!-- runnable -->"
"""The line before a fence that makes the block part of this test."""
LANGUAGES = ("python", "bash")
FENCE = re.compile(r"^```(\w+)")
BLOCK_TIMEOUT_S = 240
"""A marked block that runs longer than this is too big for the suite: shrink its sizes."""
NEEDED = ("procgen", "ale_py", "torch", "av")
"""Modules the marked blocks use (CI installs them all with the dev extra)."""
BLOCK_NEEDS = {"nitrogen data export-imitation": "imitation"}
"""Command in a block -> the module it needs beyond :data:`NEEDED`: ``imitation`` is on the classic stack only
(docs/install.md), so such a block runs where it is installed and is skipped, by name, elsewhere."""


@dataclass(frozen=True)
class Block:
    """One marked code block: where it is, its language and its code."""

    path: Path
    line: int
    language: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def marked_blocks(path: Path) -> list[Block]:
    """The blocks of one Markdown file that follow a :data:`MARKER` line.

    Raises:
        ValueError: a marker is not directly followed by a ```python or ```bash fence, or the fence never closes.
    """
    lines = path.read_text().splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        where = f"{path.name}:{number + 1}"
        fence = FENCE.match(lines[number + 1]) if number + 1 < len(lines) else None
        if fence is None or fence.group(1) not in LANGUAGES:
            raise ValueError(f"{where}: {MARKER} must be directly followed by a ```python or ```bash fence")
        try:
            end = lines.index("```", number + 2)
        except ValueError:
            raise ValueError(f"{where}: the marked block's fence never closes") from None
        blocks.append(Block(path, number + 2, fence.group(1), "\n".join(lines[number + 2 : end]) + "\n"))
    return blocks


def docs_with_blocks() -> list[Path]:
    return [path for path in doc_files() if marked_blocks(path)]


def test_the_documented_journeys_are_marked_runnable():
    names = {str(path.relative_to(REPO_ROOT)) for path in docs_with_blocks()}
    assert {"README.md", "docs/overlay.md", "docs/policies.md", "docs/finetune.md"} <= names


def test_a_marker_without_a_runnable_fence_is_refused(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"text\n{MARKER}\n\n```python\nprint(1)\n```\n")
    with pytest.raises(ValueError, match=r"doc.md:2: .* must be directly followed by a ```python or ```bash fence"):
        marked_blocks(doc)
    doc.write_text(f"{MARKER}\n```bash\necho 1\n```\n\n```python\nnot marked\n```\n")
    assert [(b.line, b.language, b.code) for b in marked_blocks(doc)] == [(2, "bash", "echo 1\n")]


def run_block(block: Block, folder: Path) -> subprocess.CompletedProcess:
    """Run ``block`` in ``folder`` as a user would, with the installed ``nitrogen`` first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1"}
    env.update(SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYTHONUNBUFFERED="1")
    # One torch thread: on a shared 2-core runner, two spinning intra-op threads made the finetune journey
    # 4-6x slower (evaluate 76 s -> 11 s); results are the same, and this test checks that paths work, not speed.
    env["OMP_NUM_THREADS"] = "1"
    if block.language == "python":
        script = folder / "block.py"
        script.write_text(block.code)
        command = [sys.executable, str(script)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S, check=False
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", docs_with_blocks(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_marked_blocks_run_as_written(path: Path, tmp_path: Path):
    for module in NEEDED:
        pytest.importorskip(module)
    skipped = []
    for block in marked_blocks(path):
        missing = [m for command, m in BLOCK_NEEDS.items() if command in block.code and not is_available(m)]
        if missing:
            skipped.append(f"{block.name} (needs {', '.join(missing)})")
            continue
        result = run_block(block, tmp_path)
        assert result.returncode == 0, (
            f"{block.name} ({block.language}) exited {result.returncode}\n"
            f"--- stdout (tail)\n{result.stdout[-3000:]}\n--- stderr (tail)\n{result.stderr[-3000:]}"
        )
    if skipped:
        pytest.skip(f"ran the other blocks; skipped {'; '.join(skipped)}")
