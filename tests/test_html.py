"""The HTML report: self-contained, escaped, one section per test, and drawn for real by a
headless Chromium (screenshot not blank, every test in the DOM)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pytest_ttfb.report.html import CSP, MAX_ROWS, render_html, write_html

DOCUMENT = Path(__file__).parent / "data" / "report-document.json"
HOSTILE = "tests/t.py::test_x[\"<script>alert('x')</script>\" & <img src=http://evil/>]"


def sample() -> dict[str, Any]:
    """The realistic format-2 document (also drawn for docs/report.png), plus a test
    whose node id and URL are hostile."""
    document: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    hostile = copy.deepcopy(document["tests"][0])
    hostile["nodeid"] = HOSTILE
    hostile["requests"][0]["url"] = 'https://api.test/"><script>alert(1)</script>?a=<b>'
    hostile["requests"][0]["error"] = "ReadError: <boom> & 'quoted'"
    document["tests"].append(hostile)
    return document


class Tags(HTMLParser):
    """Every start tag with its attributes, and every data-nodeid in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.nodeids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        for name, value in attrs:
            if name == "data-nodeid" and value is not None:
                self.nodeids.append(value)


def parse(text: str) -> Tags:
    parser = Tags()
    parser.feed(text)
    parser.close()
    return parser


def test_content_security_policy_and_nothing_external() -> None:
    page = render_html(sample())
    assert page.startswith("<!DOCTYPE html>")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert CSP == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    tags = parse(page)
    names = {tag for tag, _ in tags.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "use", "image"}
    for tag, attrs in tags.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)  # no event handler
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                assert not (value or "").lower().startswith(("http:", "https:", "//")), tag
    assert "@import" not in page
    assert "url(" not in page


def test_hostile_node_id_and_url_are_escaped() -> None:
    page = render_html(sample())
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>?" not in page
    tags = parse(page)
    assert HOSTILE in tags.nodeids  # the attribute reads back exactly
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_one_section_per_test_in_order() -> None:
    document = sample()
    tags = parse(render_html(document))
    assert tags.nodeids == [t["nodeid"] for t in document["tests"]]
    classes = [dict(attrs).get("class") or "" for tag, attrs in tags.tags if tag == "section"]
    assert sum(1 for c in classes if c.startswith("card test ")) == len(document["tests"])


def test_content() -> None:
    page = render_html(sample())
    for text in (
        "emulate",  # mode
        "50.0 ms ± 5.00 ms",  # RTT
        "ci-runner-3f9a",  # machine id
        "2025-06-01T09:14:02.811Z",  # started
        "7.41 s",  # duration
        "httpx 0.28.1",  # packages
        "max_ttfb(800, percentile=95)",
        "budgets: FAIL",
        "reuse c1",
        "new c1",
        "no conn",
        "ConnectTimeout: timed out",
        "first token: 702 ms",  # the stream's tooltip
        "Limits(keepalive_expiry=60)",  # the doctor
        "TTFB distribution",
        "budget max_ttfb(400)",  # the budget line on the distribution
    ):
        assert text in page, text


def test_large_test_is_capped() -> None:
    document = sample()
    test = document["tests"][0]
    record = test["requests"][1]
    test["requests"] = [dict(record, started_at=record["started_at"] + i) for i in range(620)]
    page = render_html(document)
    section = page.split('id="test-1"')[1].split("</section>")[0]
    assert section.count("<g><title>") == MAX_ROWS
    assert "120 more requests not drawn: a waterfall shows the first 500." in section
    assert "n=620" in section  # the distribution keeps them all


def test_missing_and_broken_values_render() -> None:
    assert "No test recorded anything." in render_html({})
    broken: dict[str, Any] = {
        "run": {"rtt_ms": float("nan"), "packages": None, "duration_ms": "soon"},
        "tests": [
            {
                "nodeid": "t.py::t",
                "requests": [
                    {"ttfb_ms": float("inf"), "total_ms": None, "started_at": None},
                    "not a record",
                    {"ttfb_ms": 3.0, "total_ms": 4.0, "started_wall": "not a date"},
                ],
                "budgets": [None, {"marker": "max_ttfb", "limit": "x"}],
            },
            None,
        ],
        "doctor": [{"client": None, "tests": 3, "findings": [None, {"problem": "p"}]}],
    }
    page = render_html(broken)
    assert parse(page).nodeids == ["t.py::t"]
    assert "NaN" not in page
    assert "inf" not in page.lower().replace("info", "")


def test_write_html(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(path, sample())
    assert path.read_text(encoding="utf-8") == render_html(sample())
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# --- a real browser -----------------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "chromium is not on PATH (Debian: apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def png_pixels(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, bytes per pixel and the unfiltered pixel rows of an 8-bit
    truecolour or greyscale PNG (what Chromium writes), with the standard library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat = 8, bytearray()
    width = height = bpp = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8, depth
            assert interlace == 0
            bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    out = bytearray()
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        method, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if method == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 0xFF
        elif method == 2:
            row = bytearray((a + b) & 0xFF for a, b in zip(row, previous, strict=True))
        elif method == 3:
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif method == 4:
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                b = previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
                row[i] = (row[i] + predictor) & 0xFF
        out += row
        previous = row
    return width, height, bpp, bytes(out)


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_chromium_draws_the_report(tmp_path: Path) -> None:
    document = sample()
    page = tmp_path / "report.html"
    write_html(page, document)
    url = page.as_uri()

    shot = tmp_path / "report.png"
    run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", url)
    width, height, bpp, pixels = png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 900)
    colours = {pixels[i : i + bpp] for i in range(0, len(pixels), bpp * 7)}
    assert len(colours) > 20, f"{len(colours)} colour(s): the page did not render"

    dom = run_chromium(tmp_path, "--dump-dom", url).stdout
    assert parse(dom).nodeids == [t["nodeid"] for t in document["tests"]]
    assert "<script" not in dom
