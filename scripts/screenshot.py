"""Screenshot published pages in headless Chromium, to look at them (not a test).

    python scripts/screenshot.py OUTPUT_DIR [PAGE ...] [--out DIR]

Serves OUTPUT_DIR with feedsvc's own StaticServer on 127.0.0.1 (a free port) and writes
``<page>-<width>.png`` for a wide (1200 px) and a narrow (400 px) window into --out
(default /tmp/feedsvc-shots). PAGE defaults to index.html; try atom.xml to see the stylesheet.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from feedsvc.app.serve import StaticServer  # noqa: E402

WIDTHS = ((1200, 1600), (400, 1400))


def shoot(url: str, png: Path, width: int, height: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        sys.exit("chromium not found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--screenshot={png}",
                        f"--window-size={width},{height}", url],
                       check=True, capture_output=True, timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output_dir", type=Path)
    ap.add_argument("pages", nargs="*", default=["index.html"])
    ap.add_argument("--out", type=Path, default=Path("/tmp/feedsvc-shots"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server = StaticServer(args.output_dir, "127.0.0.1", 0)
    server.start()
    try:
        for page in args.pages:
            for width, height in WIDTHS:
                png = args.out / f"{page.replace('/', '_')}-{width}.png"
                shoot(server.url + page, png, width, height)
                print(png)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
