"""Redraw docs/report.png: the HTML report of tests/data/report-document.json, as a
headless Chromium shows it (Debian: apt-get install -y chromium).

    python docs/report_png.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from pytest_ttfb.report.html import write_html

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    document = json.loads((ROOT / "tests/data/report-document.json").read_text("utf-8"))
    document["tests"] = document["tests"][:3]  # the README shows the first three tests
    with tempfile.TemporaryDirectory() as directory:
        page = Path(directory) / "report.html"
        write_html(page, document)
        subprocess.run(
            [
                "chromium",
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={directory}/profile",
                f"--screenshot={ROOT / 'docs/report.png'}",
                "--window-size=1200,2190",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )


if __name__ == "__main__":
    main()
