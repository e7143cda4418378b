"""Take the front page's screenshot: a report (or any page) in headless Chromium, saved as PNG.

    make demo
    python docs/tools/screenshot.py runs/demo/report.html docs/images/demo-report.png

Drives Debian's chromium (``make browser`` installs it) through Playwright, as the browser tests
do: nothing is downloaded. The page is opened at 1280 px wide, waits until every plotly panel is
drawn, and the top ``--height`` pixels are saved, then quantised to a palette to stay small.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

CHROMIUM = os.environ.get("HANDHOLD_CHROMIUM", "/usr/bin/chromium")


def screenshot(page_path: Path, out: Path, *, width: int = 1280, height: int = 900) -> Path:
    from playwright.sync_api import sync_playwright

    url = page_path.resolve().as_uri() if "://" not in str(page_path) else str(page_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every(gd => gd._fullLayout)",
                               timeout=60_000)
        page.wait_for_timeout(500)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": width, "height": height})
        browser.close()
    try:  # a palette PNG is a third of the size; pillow comes with the test extras
        from PIL import Image

        Image.open(out).convert("RGB").quantize(colors=128).save(out, optimize=True)
    except ImportError:
        pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path, help="an HTML file (report.html) or a URL (the dashboard)")
    ap.add_argument("out", type=Path, help="the PNG to write")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=900)
    args = ap.parse_args()
    path = screenshot(args.page, args.out, width=args.width, height=args.height)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
