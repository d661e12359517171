"""Extract clips with the tree on ``PYTHONPATH``, or compare two folders of such extractions column by column.

``extract`` mode writes ``OUT/<clip folder>.parquet`` for every clip folder given (``clip.mp4`` and
``clip.layout.json``, as the knob harness leaves them; clips whose overlay is not found are skipped).
``compare`` mode prints, per parquet file of the first folder, "identical" or each column's largest
difference from the same file in the second. Session 28 ran the tree before and after (and each twice) over 32
training-harness clips and the throughput clip, with ``--sticks knob`` and ``--sticks parser``.

Usage::

    python experiments/results/overlay_session28/same_readings.py extract OUT [--sticks knob|parser] CLIP_FOLDER...
    python experiments/results/overlay_session28/same_readings.py compare BEFORE_OUT AFTER_OUT
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def extract_all(out: Path, sticks: str, folders: list[Path]) -> None:
    """One parquet file per clip folder whose overlay is found."""
    from nitrogen_datasets.overlay.extract import ExtractConfig, extract
    from nitrogen_datasets.overlay.localize import OverlayNotFound

    out.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        try:
            extract(
                folder / "clip.mp4",
                folder / "clip.layout.json",
                out / f"{folder.name}.parquet",
                config=ExtractConfig(sticks=sticks),
            )
        except OverlayNotFound:
            print(f"{folder.name}: overlay not found, skipped")


def differences(before: Path, after: Path) -> dict[str, object]:
    """Each column that differs: its largest absolute difference, or why it cannot be compared."""
    a, b = pq.read_table(before), pq.read_table(after)
    if a.column_names != b.column_names or a.num_rows != b.num_rows:
        return {"table": "different columns or rows"}
    found: dict[str, object] = {}
    for column in a.column_names:
        x, y = a[column].to_numpy(), b[column].to_numpy()
        if x.dtype.kind != "f":
            if not np.array_equal(x, y):
                found[column] = "differs"
        elif not np.array_equal(np.isnan(x), np.isnan(y)):
            found[column] = "NaN in different rows"
        elif np.isfinite(x).any() and (largest := float(np.nanmax(np.abs(x - y)))) > 0:
            found[column] = largest
    return found


def main() -> None:
    """Extract or compare, as the first argument says."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    run = modes.add_parser("extract")
    run.add_argument("out", type=Path)
    run.add_argument("--sticks", choices=["knob", "parser"], default="knob")
    run.add_argument("folders", type=Path, nargs="+")
    compare = modes.add_parser("compare")
    compare.add_argument("before", type=Path)
    compare.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.mode == "extract":
        extract_all(args.out, args.sticks, args.folders)
        return
    same = 0
    files = sorted(args.before.glob("*.parquet"))
    for path in files:
        found = differences(path, args.after / path.name)
        same += not found
        if found:
            print(f"{path.name}: {found}")
    print(f"same_readings: files={len(files)} identical={same}")


if __name__ == "__main__":
    main()
