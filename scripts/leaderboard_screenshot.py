"""Screenshot of a running leaderboard page in headless Chromium (the one in docs/leaderboard.md).

Uses the system browser and driver through the page tests' harness (``tests/fixtures/chromium.py``); nothing
is downloaded.

Usage::

    python scripts/leaderboard_screenshot.py --url 'http://127.0.0.1:8000/?all=1' --out docs/img/leaderboard.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.chromium import chromium_missing, headless_chromium


def main() -> None:
    """Open the page, size the window to it, save the PNG."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=0, help="window height (default: the page's full height)")
    args = parser.parse_args()
    reason = chromium_missing()
    if reason:
        sys.exit(f"cannot take a screenshot: {reason}")
    with headless_chromium(args.width, args.height or 900) as driver:
        driver.get(args.url)
        if not args.height:  # make the viewport as tall as the document, so the screenshot holds the whole page
            height = int(driver.execute_script("return document.documentElement.scrollHeight"))
            metrics = {"width": args.width, "height": height, "deviceScaleFactor": 1, "mobile": False}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.out))
    print(f"wrote {args.out}")  # noqa: T201 (a script reports its result)


if __name__ == "__main__":
    main()
