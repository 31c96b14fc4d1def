"""A self-contained HTML report of a format-2 report document.

`render_html(document)` returns one HTML page; `write_html(path, document)` writes it
atomically. The page loads nothing: no script (not even its own), no font, no image
from anywhere, only inline CSS and inline SVG drawn here, and its Content-Security-Policy
(``default-src 'none'; style-src 'unsafe-inline'; img-src data:``) forbids the rest, so
it can be opened from a CI artifact or attached to a bug report as it is.

What it shows: the run (mode, RTT, plugin version, machine, start, duration, packages);
per test (``<section class="test" data-nodeid="...">``) its outcome and verdict, its
budgets and their verdicts, a waterfall of every request on one time axis (x = ms since
the test's first request started; one bar per phase, new and reused connections told
apart by a label and a colour, the first token marked by a tick) and the distribution of
its TTFBs; then the doctor's findings.

Every string from the document goes through `html.escape`: node ids and URLs are the
user's. Rendering is linear in the number of requests; a test's waterfall draws at most
`MAX_ROWS` requests and says how many it left out (its TTFB distribution uses all).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ..stats import nearest_rank
from .har import Phase, number, request_phases, write_atomically

__all__ = ["MAX_ROWS", "render_html", "write_html"]

MAX_ROWS = 500
"""The most requests one test's waterfall draws."""

PHASE_COLOURS: dict[str, str] = {
    "blocked": "#c5cbd3",
    "dns": "#1a9e96",
    "connect": "#ee9a2c",
    "ssl": "#a05ad4",
    "send": "#5d8fe8",
    "wait": "#4fb06d",
    "receive": "#2b63c9",
}
PHASE_LABELS: dict[str, str] = {
    "blocked": "pool wait",
    "dns": "dns",
    "connect": "tcp connect",
    "ssl": "tls",
    "send": "send",
    "wait": "wait (to first byte)",
    "receive": "receive",
}
NEW_COLOUR = "#d9731a"
REUSED_COLOUR = "#5b6b7f"
FAIL_COLOUR = "#d13c3c"
TOKEN_COLOUR = "#161b22"

# Waterfall geometry, in SVG user units (= CSS pixels at 100 %).
WIDTH = 1040
LABEL_WIDTH = 360
PLOT_LEFT = LABEL_WIDTH + 12
PLOT_RIGHT = WIDTH - 78
ROW = 22
AXIS = 26
FONT = "ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace"

DASH = "\u2013"  # shown for a value that is missing

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root{--ink:#1f2630;--muted:#5d6b7b;--line:#e3e7ec;--bg:#f5f7fa;--card:#fff;
--ok:#1e8a4c;--bad:#d13c3c;--warn:#b7791f;--na:#7b8794}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:22px;margin:0 0 2px}
h2{font-size:15px;margin:0;font-weight:600}
h3{font-size:12px;margin:18px 0 6px;color:var(--muted);text-transform:uppercase;
letter-spacing:.06em}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;
font-size:12.5px}
.sub{color:var(--muted);margin:0 0 16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:16px 18px;margin:14px 0;box-shadow:0 1px 2px rgba(20,30,40,.04)}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0 0}
.chip{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px 12px}
.chip b{font-size:17px;display:block;line-height:1.2}
.chip span{color:var(--muted);font-size:12px}
.chip.bad b{color:var(--bad)}
dl.meta{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:4px 14px;
margin:0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;overflow-wrap:anywhere}
.pill{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;
border:1px solid currentColor;white-space:nowrap}
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}.na{color:var(--na)}
.test header{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.test h2{flex:1 1 420px;overflow-wrap:anywhere;font-family:ui-monospace,SFMono-Regular,Menlo,
Consolas,'DejaVu Sans Mono',monospace;font-size:13.5px}
.test.failed{border-left:4px solid var(--bad)}
.test.passed{border-left:4px solid var(--ok)}
.facts{color:var(--muted);font-size:12.5px;margin:4px 0 0}
.facts b{color:var(--ink);font-weight:600}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;color:var(--muted);font-weight:500;border-bottom:1px solid var(--line);
padding:4px 8px}
td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:12px;color:var(--muted)}
.legend i{display:inline-block;width:12px;height:10px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
.legend .tick{width:2px;height:12px;background:#161b22;border-radius:0}
.scroll{overflow-x:auto}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace}
.note{color:var(--muted);font-size:12.5px;margin:6px 0 0}
.empty{color:var(--muted);font-style:italic}
.finding{margin:8px 0 0}
.finding .fix{color:var(--muted)}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:26px}
"""


def _e(value: object) -> str:
    """`value` as text, escaped for HTML text and attributes (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def _ms(value: float | None, unit: bool = True) -> str:
    if value is None:
        return DASH
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return text + (" ms" if unit else "")


def _axis_label(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g} ms"


def _nice_step(span: float, ticks: int = 8) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` ticks."""
    raw = max(span, 1e-6) / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _status_class(status: object) -> str:
    text = str(status or "").lower()
    if text in ("pass", "passed", "ok"):
        return "ok"
    if text in ("fail", "failed", "error"):
        return "bad"
    if text in ("n/a", "skipped", ""):
        return "na"
    return "warn"


def _pill(text: object, css: str | None = None) -> str:
    return f'<span class="pill {css or _status_class(text)}">{_e(text)}</span>'


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _path(url: object) -> str:
    if not isinstance(url, str):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return path


def _started_s(record: Mapping[str, Any]) -> float | None:
    """When the request started, in seconds on one clock shared by a test's records."""
    started = number(record.get("started_at"))
    if started is not None:
        return started
    wall = record.get("started_wall")
    if isinstance(wall, str):
        try:
            return datetime.fromisoformat(wall.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


# --- the page -----------------------------------------------------------------------


def render_html(document: Mapping[str, Any]) -> str:
    """The HTML report of a format-2 report document, as one self-contained page.

    Missing or malformed parts of the document are shown as missing, never raised on.
    """
    run = _map(document.get("run"))
    tests = [t for t in _list(document.get("tests")) if isinstance(t, Mapping)]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>pytest-ttfb report{_e(_title_suffix(run))}</title>",
        f"<style>{CSS}</style>",
        "</head><body><main>",
        _header(run, tests),
        _run_card(run),
        _legend(),
    ]
    if not tests:
        parts.append('<p class="card empty">No test recorded anything.</p>')
    parts.extend(_test_section(index, test) for index, test in enumerate(tests, start=1))
    parts.append(_doctor(_list(document.get("doctor"))))
    parts.append(
        f"<footer>pytest-ttfb {_e(run.get('plugin_version') or '')} · "
        "format-2 report · this page loads nothing from anywhere</footer>"
    )
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def write_html(path: str | os.PathLike[str], document: Mapping[str, Any]) -> None:
    """Write `render_html(document)` to `path` (UTF-8), atomically: a temporary file in
    the same directory, then `os.replace`. Raises `OSError` when it cannot be written."""
    write_atomically(path, render_html(document))


def _title_suffix(run: Mapping[str, Any]) -> str:
    started = run.get("started")
    return f" · {started}" if isinstance(started, str) else ""


def _header(run: Mapping[str, Any], tests: Sequence[Mapping[str, Any]]) -> str:
    outcomes: dict[str, int] = {}
    requests = new_connections = breached = 0
    for test in tests:
        outcome = str(test.get("outcome") or "unknown")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        records = _list(test.get("requests"))
        requests += len(records)
        new = test.get("new_connections")
        new_connections += (
            new
            if isinstance(new, int)
            else sum(1 for r in records if isinstance(r, Mapping) and r.get("new_connection"))
        )
        breached += sum(
            1
            for b in _list(test.get("budgets"))
            if isinstance(b, Mapping) and str(b.get("status")).lower() == "fail"
        )
    failed = outcomes.get("failed", 0) + outcomes.get("error", 0)
    chips = [
        (str(len(tests)), "tests", ""),
        (str(outcomes.get("passed", 0)), "passed", ""),
        (str(failed), "failed", "bad" if failed else ""),
        (str(requests), "requests", ""),
        (str(new_connections), "new connections", ""),
        (str(breached), "budgets breached", "bad" if breached else ""),
    ]
    chip_html = "".join(
        f'<div class="chip {css}"><b>{_e(value)}</b><span>{_e(label)}</span></div>'
        for value, label, css in chips
    )
    mode = run.get("mode")
    started = run.get("started")
    duration = number(run.get("duration_ms"))
    sub = " · ".join(
        s
        for s in (
            f"{_e(mode)} mode" if mode else "",
            f"started {_e(started)}" if started else "",
            f"took {_e(_duration(duration))}" if duration is not None else "",
        )
        if s
    )
    return (
        "<header><h1>pytest-ttfb report</h1>"
        f'<p class="sub">{sub}</p><div class="chips">{chip_html}</div></header>'
    )


def _duration(ms: float | None) -> str:
    if ms is None:
        return DASH
    if ms >= 60_000:
        return f"{int(ms // 60_000)} min {ms % 60_000 / 1000:.0f} s"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return _ms(ms)


def _run_card(run: Mapping[str, Any]) -> str:
    rtt = number(run.get("rtt_ms"))
    jitter = number(run.get("jitter_ms"))
    rtt_text = DASH if rtt is None else _ms(rtt) + (f" ± {_ms(jitter)}" if jitter else "")
    regions = _map(run.get("regions"))
    if regions:
        rtt_text += " · regions " + ", ".join(
            f"{name} {_ms(number(ms))}" for name, ms in regions.items()
        )
    packages = _map(run.get("packages"))
    package_text = ", ".join(f"{name} {version}" for name, version in packages.items())
    scale = number(run.get("budget_scale"))
    enforced = run.get("budgets_enforced")
    budgets = (
        ("\u00d7" + f"{scale:g}" if scale is not None else DASH)
        + ", "
        + ("enforced" if enforced is not False else "not enforced")
    )
    rows: list[tuple[str, str]] = [
        ("mode", str(run.get("mode") or DASH)),
        ("RTT", rtt_text),
        ("started", str(run.get("started") or DASH)),
        ("duration", _duration(number(run.get("duration_ms")))),
        ("plugin", str(run.get("plugin_version") or DASH)),
        ("machine", str(run.get("machine_id") or DASH)),
        ("python", str(run.get("python") or DASH)),
        ("platform", str(run.get("platform") or DASH)),
        ("base URL", str(run.get("base_url") or DASH)),
        ("first token", str(run.get("first_token_rule") or DASH)),
        ("budgets", budgets),
        ("xdist workers", str(run.get("xdist_workers", DASH))),
    ]
    cells = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    if package_text:
        cells += (
            f'<dt>packages</dt><dd style="grid-column:2 / -1" class="mono">{_e(package_text)}</dd>'
        )
    return (
        '<section class="card run"><h3 style="margin-top:0">Run</h3>'
        f'<dl class="meta">{cells}</dl></section>'
    )


def _legend() -> str:
    items = [
        f'<span><i style="background:{PHASE_COLOURS[p]}"></i>{_e(PHASE_LABELS[p])}</span>'
        for p in PHASE_COLOURS
    ]
    items.append(f'<span><i style="background:{FAIL_COLOUR}"></i>failed phase</span>')
    items.append('<span><i class="tick"></i>first token</span>')
    items.append(
        f'<span><i style="background:{NEW_COLOUR}"></i>new connection</span>'
        f'<span><i style="background:none;border:1.5px solid {REUSED_COLOUR}"></i>'
        "reused connection</span>"
    )
    return f'<div class="legend card">{"".join(items)}</div>'


# --- one test ---------------------------------------------------------------------


def _test_section(index: int, test: Mapping[str, Any]) -> str:
    nodeid = str(test.get("nodeid") or "")
    outcome = str(test.get("outcome") or "unknown")
    verdict = str(test.get("verdict") or "")
    records = [r for r in _list(test.get("requests")) if isinstance(r, Mapping)]
    attempt = test.get("attempt")
    badges = [_pill(outcome)]
    if verdict:
        badges.append(_pill(f"budgets: {verdict}", _status_class(verdict)))
    if isinstance(attempt, int) and (attempt > 1 or test.get("final") is False):
        final = "" if test.get("final") is not False else ", not final"
        badges.append(_pill(f"attempt {attempt}{final}", "na"))
    parts = [
        f'<section class="card test {_e(outcome)}" data-nodeid="{_e(nodeid)}" id="test-{index}">',
        f"<header><h2>{_e(nodeid)}</h2>{''.join(badges)}</header>",
        _facts(test, records),
        _budgets(_list(test.get("budgets"))),
    ]
    unmatched = [u for u in _list(test.get("unmatched")) if u is not None]
    if unmatched:
        parts.append(
            "<h3>Budget markers with nothing to judge</h3><p>"
            + ", ".join(f"<code>{_e(u)}</code>" for u in unmatched)
            + "</p>"
        )
    if records:
        parts.append("<h3>Waterfall</h3>")
        parts.append(_waterfall(records))
        parts.append("<h3>TTFB distribution</h3>")
        parts.append(_distribution(records, _list(test.get("budgets"))))
    else:
        parts.append('<p class="empty">No request recorded.</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _facts(test: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    new = test.get("new_connections")
    if not isinstance(new, int):
        new = sum(1 for r in records if r.get("new_connection"))
    versions = [str(v) for v in _list(test.get("http_versions")) if v]
    errors = test.get("errors")
    if not isinstance(errors, int):
        errors = sum(1 for r in records if r.get("error"))
    ttfb = _map(_map(test.get("stats")).get("ttfb_ms"))
    facts = [
        f"<b>{len(records)}</b> request{'s' if len(records) != 1 else ''}",
        f"<b>{new}</b> new connection{'s' if new != 1 else ''}",
    ]
    if versions:
        facts.append(_e(", ".join(versions)))
    if errors:
        facts.append(f'<b class="bad">{errors}</b> failed')
    if ttfb:
        facts.append(
            "TTFB "
            + " · ".join(
                f"{k} <b>{_e(_ms(number(ttfb.get(k))))}</b>"
                for k in ("p50", "p95", "max")
                if number(ttfb.get(k)) is not None
            )
        )
    return f'<p class="facts">{" · ".join(facts)}</p>'


def _budgets(budgets: Sequence[Any]) -> str:
    rows = []
    for budget in budgets:
        if not isinstance(budget, Mapping):
            continue
        name = budget.get("budget") or f"{budget.get('marker')}({budget.get('limit')})"
        observed = number(budget.get("observed"))
        marker = str(budget.get("marker") or "")
        observed_text = (
            DASH
            if observed is None
            else (f"{observed:g}" if marker == "max_new_connections" else _ms(observed))
        )
        status = budget.get("status") or DASH
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td>{_pill(status)}</td>"
            f'<td class="num">{_e(observed_text)}</td>'
            f"<td>{_e(budget.get('reason') or '')}</td></tr>"
        )
    if not rows:
        return '<p class="note">No budget declared.</p>'
    return (
        "<h3>Budgets</h3><table><thead><tr><th>budget</th><th>verdict</th>"
        '<th class="num">observed</th><th>why</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


def _row_tooltip(
    number_: int, record: Mapping[str, Any], phases: Sequence[Phase], offset: float
) -> str:
    lines = [f"#{number_} {record.get('method') or ''} {record.get('url') or ''}"]
    status = record.get("status")
    lines.append(
        f"status {status if status is not None else 'none'}, "
        f"{record.get('http_version') or 'no HTTP version'}, "
        + (
            "new connection"
            if record.get("new_connection")
            else "reused connection"
            if record.get("reused")
            else "no connection"
            if record.get("reused") is None
            else "connection"
        )
        + (f" {record.get('connection_id')}" if record.get("connection_id") else "")
    )
    lines.append(f"starts at +{_ms(offset)}, {record.get('when') or 'call'}")
    lines.extend(f"{PHASE_LABELS[p.name]}: {_ms(p.duration_ms)}" for p in phases)
    for key, label in (("ttfb_ms", "ttfb"), ("first_token_ms", "first token")):
        value = number(record.get(key))
        if value is not None:
            lines.append(f"{label}: {_ms(value)}")
    total = number(record.get("total_ms"))
    lines.append(f"total: {_ms(total)}")
    if record.get("late"):
        lines.append("late: still running when the test ended")
    if record.get("error"):
        lines.append(f"error: {record.get('error')}")
    return _e("\n".join(lines))


def _waterfall(records: Sequence[Mapping[str, Any]]) -> str:
    drawn = records[:MAX_ROWS]
    starts = [_started_s(r) for r in drawn]
    known = [s for s in starts if s is not None]
    origin = min(known) if known else 0.0
    rows: list[tuple[Mapping[str, Any], float, list[Phase]]] = []
    span = 0.0
    for record, start in zip(drawn, starts, strict=True):
        offset = max(0.0, (start - origin) * 1000) if start is not None else 0.0
        phases = request_phases(record)
        end = phases[-1].end_ms if phases else 0.0
        token = number(record.get("first_token_ms"))
        span = max(span, offset + max(end, token or 0.0))
        rows.append((record, offset, phases))
    step = _nice_step(span)
    axis_end = max(step, math.ceil(span / step) * step) if span > 0 else step
    scale = (PLOT_RIGHT - PLOT_LEFT) / axis_end
    height = AXIS + ROW * len(rows) + 8

    def x(ms: float) -> float:
        return PLOT_LEFT + ms * scale

    out = [
        f'<div class="scroll"><svg role="img" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="waterfall of {len(rows)} requests" font-size="11">',
    ]
    # Grid and time axis.
    tick = 0.0
    while tick <= axis_end + step / 2:
        px = x(tick)
        out.append(
            f'<line x1="{px:.1f}" y1="{AXIS - 6}" x2="{px:.1f}" y2="{height - 4}" '
            'stroke="#e7eaee" stroke-width="1"/>'
            f'<text x="{px:.1f}" y="{AXIS - 10}" text-anchor="middle" fill="#5d6b7b">'
            f"{_e(_axis_label(tick))}</text>"
        )
        tick += step
    for i, (record, offset, phases) in enumerate(rows):
        top = AXIS + i * ROW
        mid = top + ROW / 2
        error = bool(record.get("error"))
        background = "#fdf0f0" if error else ("#f8f9fb" if i % 2 else "none")
        out.append(f"<g><title>{_row_tooltip(i + 1, record, phases, offset)}</title>")
        if background != "none":
            out.append(
                f'<rect x="0" y="{top}" width="{WIDTH}" height="{ROW}" fill="{background}"/>'
            )
        # Label: number, connection marker, method and path, status.
        out.append(
            f'<text x="4" y="{mid + 4:.1f}" fill="#8a96a3">{i + 1}</text>'
            + _connection_marker(record, 34, mid)
        )
        method = str(record.get("method") or "")
        path = _short(_path(record.get("url")), 30 - len(method))
        when = record.get("when")
        suffix = f" ({when})" if when in ("setup", "teardown") else ""
        out.append(
            f'<text x="112" y="{mid + 4:.1f}" fill="#1f2630">'
            f'<tspan font-weight="600">{_e(method)}</tspan> {_e(path)}'
            f'<tspan fill="#8a96a3">{_e(suffix)}</tspan></text>'
        )
        status = record.get("status")
        status_text, colour = (
            (str(status), "#1f2630" if isinstance(status, int) and status < 400 else FAIL_COLOUR)
            if status is not None
            else ("ERR", FAIL_COLOUR)
        )
        out.append(
            f'<text x="{LABEL_WIDTH}" y="{mid + 4:.1f}" text-anchor="end" '
            f'fill="{colour}" font-weight="600">{_e(status_text)}</text>'
        )
        # Bars.
        for phase in phases:
            width = max(phase.duration_ms * scale, 1.0 if phase.duration_ms > 0 else 0.0)
            if width <= 0:
                continue
            thin = phase.name == "blocked"
            bar_h = 6 if thin else 12
            colour = FAIL_COLOUR if phase.failed else PHASE_COLOURS[phase.name]
            out.append(
                f'<rect x="{x(offset + phase.start_ms):.2f}" y="{mid - bar_h / 2:.1f}" '
                f'width="{width:.2f}" height="{bar_h}" fill="{colour}"'
                + (' fill-opacity=".8"' if phase.failed else "")
                + "/>"
            )
        token = number(record.get("first_token_ms"))
        if token is not None:
            tx = x(offset + token)
            out.append(
                f'<line x1="{tx:.2f}" y1="{mid - 9:.1f}" x2="{tx:.2f}" y2="{mid + 9:.1f}" '
                f'stroke="{TOKEN_COLOUR}" stroke-width="2"/>'
                f'<path d="M{tx - 4:.2f} {mid - 10:.1f}h8l-4 5z" fill="{TOKEN_COLOUR}"/>'
            )
        end = offset + (phases[-1].end_ms if phases else 0.0)
        total_text = "failed" if error and not phases else _ms(end - offset) if phases else ""
        out.append(
            f'<text x="{x(end) + 5:.1f}" y="{mid + 4:.1f}" '
            f'fill="{FAIL_COLOUR if error else "#5d6b7b"}">{_e(total_text)}</text></g>'
        )
    out.append("</svg></div>")
    left_out = len(records) - len(drawn)
    if left_out:
        out.append(
            f'<p class="note">{left_out} more request{"s" if left_out != 1 else ""} '
            f"not drawn: a waterfall shows the first {MAX_ROWS}.</p>"
        )
    return "".join(out)


def _connection_marker(record: Mapping[str, Any], left: float, mid: float) -> str:
    """A filled orange tag for a new connection, an outlined grey one for a reused one."""
    connection = str(record.get("connection_id") or "")
    if record.get("new_connection"):
        label, fill, stroke, ink = f"new {connection}", NEW_COLOUR, NEW_COLOUR, "#fff"
    elif record.get("reused"):
        label, fill, stroke, ink = f"reuse {connection}", "#fff", REUSED_COLOUR, REUSED_COLOUR
    elif record.get("reused") is None and record.get("error"):
        label, fill, stroke, ink = "no conn", "#fff", FAIL_COLOUR, FAIL_COLOUR
    else:
        label, fill, stroke, ink = DASH, "#fff", "#c5cbd3", "#8a96a3"
    label = _short(label, 11)
    return (
        f'<rect x="{left}" y="{mid - 8:.1f}" width="70" height="16" rx="8" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>'
        f'<text x="{left + 35}" y="{mid + 3.5:.1f}" text-anchor="middle" fill="{ink}" '
        f'font-size="10">{_e(label)}</text>'
    )


def _distribution(records: Sequence[Mapping[str, Any]], budgets: Sequence[Any]) -> str:
    values = sorted(v for v in (number(r.get("ttfb_ms")) for r in records) if v is not None)
    if not values:
        return '<p class="note">No response headers arrived: no TTFB to show.</p>'
    limits: list[tuple[float, str]] = []
    for budget in budgets:
        if isinstance(budget, Mapping) and budget.get("marker") == "max_ttfb":
            limit = number(budget.get("limit"))
            if limit is not None:
                limits.append((limit, str(budget.get("budget") or f"max_ttfb({limit:g})")))
    top = max([values[-1], *(limit for limit, _ in limits)])
    step = _nice_step(top, 6)
    axis_end = max(step, math.ceil(top * 1.02 / step) * step)
    width, height, left, right = WIDTH, 140, 60, WIDTH - 30
    base = 108
    scale = (right - left) / axis_end

    def x(ms: float) -> float:
        return left + ms * scale

    bins = max(10, min(60, int(math.sqrt(len(values)) * 4)))
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int(value / axis_end * bins))] += 1
    peak = max(counts)
    bin_w = (right - left) / bins
    out = [
        f'<div class="scroll"><svg role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-size="11" '
        f'aria-label="TTFB distribution of {len(values)} responses">',
        f'<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="#c5cbd3"/>',
    ]
    tick = 0.0
    while tick <= axis_end + step / 2:
        out.append(
            f'<line x1="{x(tick):.1f}" y1="{base}" x2="{x(tick):.1f}" y2="{base + 4}" '
            'stroke="#c5cbd3"/>'
            f'<text x="{x(tick):.1f}" y="{base + 16}" text-anchor="middle" fill="#5d6b7b">'
            f"{_e(_axis_label(tick))}</text>"
        )
        tick += step
    for i, count in enumerate(counts):
        if count:
            bar = max(2.0, count / peak * 56)
            out.append(
                f'<rect x="{left + i * bin_w + 1:.2f}" y="{base - bar:.1f}" '
                f'width="{max(bin_w - 2, 1):.2f}" height="{bar:.1f}" rx="1.5" '
                f'fill="{PHASE_COLOURS["wait"]}"><title>{count} response(s)</title></rect>'
            )
    # Every value as a tick under the axis: the strip shows outliers the bins hide.
    out.extend(
        f'<line x1="{x(v):.1f}" y1="{base + 20}" x2="{x(v):.1f}" y2="{base + 27}" '
        f'stroke="{PHASE_COLOURS["receive"]}" stroke-opacity=".55"/>'
        for v in _thin(values, 2000)
    )
    marks = [
        (nearest_rank(values, p), f"{name} {_ms(nearest_rank(values, p))}", "#1f2630", "2 2")
        for name, p in (("p50", 50.0), ("p95", 95.0))
    ]
    marks += [(limit, f"budget {label}", FAIL_COLOUR, "5 3") for limit, label in limits]
    for row, (value, label, colour, dash) in enumerate(marks):
        label_y = 13 + 13 * row
        px = x(value)
        fits = px + 4 + len(label) * 6.7 <= width
        out.append(
            f'<line x1="{px:.1f}" y1="{label_y - 9}" x2="{px:.1f}" y2="{base}" '
            f'stroke="{colour}" stroke-width="1.3" stroke-dasharray="{dash}"/>'
            f'<text x="{px + 4 if fits else px - 4:.1f}" y="{label_y}" fill="{colour}" '
            f'text-anchor="{"start" if fits else "end"}">{_e(label)}</text>'
        )
    out.append(f'<text x="4" y="{base - 2}" fill="#8a96a3">n={len(values)}</text></svg></div>')
    return "".join(out)


def _thin(values: Sequence[float], most: int) -> Iterable[float]:
    """At most `most` of the sorted `values`, evenly spaced (the extremes kept)."""
    if len(values) <= most:
        return values
    stride = (len(values) - 1) / (most - 1)
    return [values[round(i * stride)] for i in range(most)]


# --- the doctor -------------------------------------------------------------------


def _doctor(reports: Sequence[Any]) -> str:
    cards = []
    for report in reports:
        if not isinstance(report, Mapping):
            continue
        tests = report.get("tests")
        if isinstance(tests, int):
            tests_text = f"{tests} test(s)"
        else:
            names = [str(t) for t in _list(tests)]
            tests_text = f"{len(names)} test(s)"
            if names:
                tests_text += ": " + ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        findings = "".join(
            f'<div class="finding">⚠ {_e(f.get("problem"))}<br>'
            f'<span class="fix">fix: <code>{_e(f.get("fix"))}</code></span></div>'
            for f in _list(report.get("findings"))
            if isinstance(f, Mapping)
        )
        cards.append(
            f'<div class="card"><code>{_e(report.get("client"))}</code>'
            f'<p class="note">{_e(tests_text)}</p>{findings}</div>'
        )
    if not cards:
        return (
            '<section class="doctor"><h3>Doctor</h3><p class="note">'
            "No client setting that defeats the recipe.</p></section>"
        )
    return (
        '<section class="doctor"><h3>Doctor: settings that defeat the recipe</h3>'
        + "".join(cards)
        + "</section>"
    )
