"""Pair two ``false_finds.py`` results files (JSON lines) and print every (clip, template) whose verdict differs.

Usage::

    python experiments/results/overlay_session27/compare_verdicts.py BEFORE.jsonl AFTER.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: Path) -> dict[tuple[str, str], dict]:
    """The results by (clip, template)."""
    results = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        results[(row["clip"], row["template"])] = row
    return results


def main() -> None:
    """Print the changed verdicts, then one summary line."""
    before, after = (load(Path(arg)) for arg in sys.argv[1:3])
    same = 0
    for key, row in after.items():
        old = before.get(key)
        if old is None:
            continue
        if (old["verdict"], old["false_find"]) == (row["verdict"], row["false_find"]):
            same += 1
        else:
            print(key, "\n  before:", old["verdict"], "\n  after: ", row["verdict"])
    changed = sum(1 for key in after if key in before) - same
    print(f"compare_verdicts: same={same} changed={changed} false_after={sum(r['false_find'] for r in after.values())}")


if __name__ == "__main__":
    main()
