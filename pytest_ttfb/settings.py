"""settings: every option resolved in one place.

Precedence, highest first: the command line, the ini file (``[pytest]``,
``[tool.pytest.ini_options]``...), the environment (``ANTHROPIC_BASE_URL`` and
``OPENAI_BASE_URL`` only), the default. A bad value is a ``pytest.UsageError`` naming
the option, where it came from, and what was expected.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from .measure.scanner import DEFAULT_RULE, FIRST_TOKEN_RULES

if TYPE_CHECKING:
    from .baseline.gates import Gate

__all__ = [
    "DEFAULT_RTT_MS",
    "MODES",
    "OPTIONS",
    "PROBE_SAMPLES",
    "RECIPE",
    "Bounds",
    "PoolConfig",
    "Settings",
    "check_number",
    "resolve",
    "to_number",
]

MODES = ("mock", "emulate", "live")
REPORT_STYLES = ("full", "short", "none")
DEFAULT_STORAGE = ".ttfb"
DEFAULT_MOCK_HISTORY = 1000
DEFAULT_RTT_MS = 50.0


class Option(NamedTuple):
    """One command-line option and its ini key. (This module's classes are named tuples,
    not dataclasses: every run loads this module, and each dataclass definition costs
    its start-up ~0.5 ms.)"""

    flag: str
    ini: str
    help: str
    kind: str = "string"  # "string" or "bool"
    metavar: str | None = None


OPTIONS = (
    Option(
        "--ttfb-mode",
        "ttfb_mode",
        "where requests go: mock (default, respx in-process), "
        "emulate (local TLS + HTTP/2 server with injected RTT) or live (the network).",
        metavar="MODE",
    ),
    Option("--ttfb-live", "ttfb_live", "shorthand for --ttfb-mode=live.", kind="bool"),
    Option(
        "--ttfb-rtt",
        "ttfb_rtt",
        f"emulated round-trip time in ms (default {DEFAULT_RTT_MS:g}).",
        metavar="MS",
    ),
    Option(
        "--ttfb-jitter",
        "ttfb_jitter",
        "emulated jitter in ms: each chunk waits up to half of it more, each way (default 0).",
        metavar="MS",
    ),
    Option(
        "--ttfb-base-url",
        "ttfb_base_url",
        "base URL of the Anthropic clients; else ANTHROPIC_BASE_URL, else the SDK's default.",
        metavar="URL",
    ),
    Option(
        "--ttfb-openai-base-url",
        "ttfb_openai_base_url",
        "base URL of the OpenAI clients; else OPENAI_BASE_URL, else the SDK's default.",
        metavar="URL",
    ),
    Option(
        "--ttfb-first-token",
        "ttfb_first_token",
        "which event of a stream is its first token: auto (default: by the stream's "
        "shape: delta for Anthropic, openai for OpenAI, data for any other event stream), "
        "delta (any content_block_delta), visible (not thinking), openai (Chat "
        "Completions content or tool calls, Responses deltas) or data (the first data: "
        "event).",
        metavar="RULE",
    ),
    Option(
        "--ttfb-json",
        "ttfb_json",
        "write the run's report (JSON format 2: run metadata, per-test statistics, every "
        "record and verdict) to this file.",
        metavar="PATH",
    ),
    Option(
        "--ttfb-har",
        "ttfb_har",
        "write every request as an HTTP Archive (HAR 1.2) to this file.",
        metavar="PATH",
    ),
    Option(
        "--ttfb-html",
        "ttfb_html",
        "write a self-contained HTML report (waterfalls, distributions, budgets) to this file.",
        metavar="PATH",
    ),
    Option(
        "--ttfb-report",
        "ttfb_report",
        "the terminal summary: full (default: a row per test, and the doctor), short "
        "(breaches and one line) or none.",
        metavar="STYLE",
    ),
    Option(
        "--ttfb-autosave",
        "ttfb_autosave",
        "save the run's report under --ttfb-storage, named after the time and commit.",
        kind="bool",
    ),
    Option(
        "--ttfb-storage",
        "ttfb_storage",
        f"where saved runs live (default {DEFAULT_STORAGE}), in a folder per machine id.",
        metavar="DIR",
    ),
    Option(
        "--ttfb-budget-scale",
        "ttfb_budget_scale",
        "multiply every time budget by F (for example 3 on a slow CI machine).",
        metavar="F",
    ),
    Option(
        "--ttfb-no-budgets",
        "ttfb_no_budgets",
        "record and report budgets, never fail a test on them.",
        kind="bool",
    ),
)


class PoolConfig(NamedTuple):
    """The pooled clients' settings. The defaults are the recipe, written here only."""

    max_connections: int = 20
    max_keepalive_connections: int = 20
    keepalive_expiry: float = 60.0
    http2: bool = True
    connect_timeout: float = 5.0
    read_timeout: float = 120.0
    write_timeout: float = 10.0
    pool_timeout: float = 10.0


RECIPE = PoolConfig()


class PoolSetting(NamedTuple):
    """An ini key for the pooled clients; its default is the recipe's."""

    ini: str
    help: str

    @property
    def field(self) -> str:
        return self.ini.removeprefix("ttfb_")

    @property
    def default(self) -> float | int | bool:
        value: float | int | bool = getattr(RECIPE, self.field)
        return value


POOL_SETTINGS = (
    PoolSetting("ttfb_max_connections", "pooled clients: Limits.max_connections"),
    PoolSetting(
        "ttfb_max_keepalive_connections", "pooled clients: Limits.max_keepalive_connections"
    ),
    PoolSetting("ttfb_keepalive_expiry", "pooled clients: Limits.keepalive_expiry (s)"),
    PoolSetting("ttfb_http2", "pooled clients: negotiate HTTP/2"),
    PoolSetting("ttfb_connect_timeout", "pooled clients: Timeout.connect (s)"),
    PoolSetting("ttfb_read_timeout", "pooled clients: Timeout.read (s)"),
    PoolSetting("ttfb_write_timeout", "pooled clients: Timeout.write (s)"),
    PoolSetting("ttfb_pool_timeout", "pooled clients: Timeout.pool (s)"),
)


class Settings(NamedTuple):
    mode: str = "mock"
    rtt_ms: float = DEFAULT_RTT_MS
    jitter_ms: float = 0.0
    regions: tuple[tuple[str, float], ...] = ()
    first_token: str = DEFAULT_RULE
    base_url: str | None = None
    openai_base_url: str | None = None
    json_path: str | None = None
    budget_scale: float = 1.0
    enforce_budgets: bool = True
    pool: PoolConfig = RECIPE
    har_path: str | None = None
    html_path: str | None = None
    report_style: str = "full"
    save_name: str | None = None
    autosave: bool = False
    storage: str = DEFAULT_STORAGE
    compare: str | None = None  # "" is the latest saved run
    gates: tuple[Gate, ...] = ()
    mock_history: int = DEFAULT_MOCK_HISTORY


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("ttfb", "pytest-ttfb: HTTP latency budgets")
    for option in OPTIONS:
        dest = option.ini
        if option.kind == "bool":
            group.addoption(
                option.flag, action="store_true", default=None, dest=dest, help=option.help
            )
            # Read as text and parsed by _bool, so a bad value names its ini key.
            parser.addini(option.ini, option.help, default=None)
        else:
            group.addoption(
                option.flag,
                action="store",
                default=None,
                dest=dest,
                metavar=option.metavar,
                help=option.help,
            )
            parser.addini(option.ini, option.help, default=None)
    for setting in POOL_SETTINGS:
        parser.addini(setting.ini, f"{setting.help} (default {setting.default})", default=None)
    group.addoption(
        "--ttfb-probe",
        nargs="+",
        metavar="URL",
        dest="ttfb_probe",
        help="measure DNS, connect, TLS and TTFB to each base URL, cold and warm, "
        "recommend the fastest, and exit without running tests (put it last).",
    )
    group.addoption(
        "--ttfb-probe-samples",
        type=int,
        default=5,
        metavar="N",
        dest="ttfb_probe_samples",
        help="samples per URL and state for --ttfb-probe (default 5).",
    )
    group.addoption(
        "--ttfb-save",
        metavar="NAME",
        dest="ttfb_save",
        help="save the run's report under --ttfb-storage as NNNN_NAME.json.",
    )
    group.addoption(
        "--ttfb-compare",
        nargs="?",
        const="",
        default=None,
        metavar="NUM|NAME|PATH",
        dest="ttfb_compare",
        help="compare this run with a saved one (default: the latest saved) and print "
        "the deltas per test.",
    )
    group.addoption(
        "--ttfb-compare-fail",
        action="append",
        default=None,
        metavar="EXPR",
        dest="ttfb_compare_fail",
        help="fail the session when a statistic regressed against the baseline, "
        "repeatable: METRIC[.warm|.cold]:STAT:THRESHOLD (ttfb:p95:20%%, "
        "first_token:p50:50ms) or new_connections:+N.",
    )
    parser.addini(
        "ttfb_compare_fail",
        "regression gates, one per line, as --ttfb-compare-fail takes them",
        type="linelist",
        default=[],
    )
    parser.addini(
        "ttfb_mock_history",
        "calls each ttfb_mock route (and the router) keeps in its history; call_count "
        f"stays exact (default {DEFAULT_MOCK_HISTORY})",
        default=None,
    )
    parser.addini(
        "ttfb_regions",
        "emulated regions as NAME:RTT_MS pairs, for example 'us-east-1:12 eu-west-1:95'; "
        "a host named NAME or NAME.anything costs that RTT",
        default=None,
    )


def _raw(config: pytest.Config, ini: str) -> tuple[Any, str]:
    """The value and where it came from: command line first, then the ini file."""
    flag = "--" + ini.replace("_", "-")
    value = config.getoption(ini, default=None)
    if value is not None:
        return value, flag
    value = config.getini(ini)
    if value not in (None, "", []):
        return value, f"ini key {ini}"
    return None, ""


def _plain(number: float) -> str:
    """A bound as people write it: 1000000, not 1e+06."""
    return str(int(number)) if number == int(number) else f"{number:g}"


class Bounds(NamedTuple):
    """The range a number the user gives must fall in: ``low`` to ``high``, ``low``
    itself excluded when ``open_low``; ``whole`` asks for an integer."""

    low: float
    high: float
    open_low: bool = False
    whole: bool = False

    def describe(self) -> str:
        return f"{'(' if self.open_low else '['}{_plain(self.low)}, {_plain(self.high)}]"

    def contains(self, number: float) -> bool:
        above = number > self.low if self.open_low else number >= self.low
        return above and number <= self.high


# Every number a user can give, and its range (NaN and infinities are outside them all).
RTT_MS = Bounds(0, 10_000)
BUDGET_SCALE = Bounds(0, 1_000, open_low=True)
POOL_SIZE = Bounds(1, 1_000_000, whole=True)
SECONDS = Bounds(0, 86_400)
PROBE_SAMPLES = Bounds(1, 1_000, whole=True)
MOCK_HISTORY = Bounds(0, 1_000_000, whole=True)


def to_number(value: Any) -> float | None:
    """``value`` as a finite float, or None: not a number, NaN, an infinity, a bool, or
    an int too large for a float (``10**400``)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _number(value: Any, source: str, bounds: Bounds, what: str) -> float:
    """``value`` as a number within ``bounds``, else a usage error naming ``source``."""
    number = to_number(value)
    if number is None or not bounds.contains(number) or (bounds.whole and number % 1):
        raise pytest.UsageError(f"{source}: expected {what} in {bounds.describe()}, got {value!r}")
    return number


def check_number(value: Any, source: str, bounds: Bounds, what: str) -> float:
    """``value`` within ``bounds``, else a ``pytest.UsageError`` naming ``source``."""
    return _number(value, source, bounds, what)


def _option_number(
    config: pytest.Config, ini: str, default: float, bounds: Bounds, what: str
) -> float:
    raw, source = _raw(config, ini)
    if raw is None:
        return default
    return _number(raw, source, bounds, what)


def _bool(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise pytest.UsageError(f"{source}: expected true or false, got {value!r}")


def _pool(config: pytest.Config) -> PoolConfig:
    values: dict[str, Any] = {}
    for setting in POOL_SETTINGS:
        raw, source = _raw(config, setting.ini)
        if raw is None:
            continue
        field = setting.field
        if isinstance(setting.default, bool):
            values[field] = _bool(raw, source)
        elif isinstance(setting.default, int):
            values[field] = int(_number(raw, source, POOL_SIZE, "a whole number"))
        else:
            values[field] = _number(raw, source, SECONDS, "seconds")
    return PoolConfig(**values)


def _check_writable(path: str, source: str) -> None:
    """Fail now, not after the whole run, when the report cannot be written there."""
    if os.path.isdir(path):
        raise pytest.UsageError(f"{source}: {path!r} is a directory; name a file")
    parent = os.path.dirname(os.path.abspath(path))
    existing = parent
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            raise pytest.UsageError(f"{source}: {existing!r} is a file, not a directory")
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK):
        raise pytest.UsageError(f"{source}: cannot write under {existing!r}")


def _regions(config: pytest.Config) -> tuple[tuple[str, float], ...]:
    raw, source = _raw(config, "ttfb_regions")
    if raw is None:
        return ()
    regions = []
    for entry in str(raw).replace(",", " ").split():
        name, _, rtt = entry.rpartition(":")
        if not name:
            raise pytest.UsageError(f"{source}: expected NAME:RTT_MS, got {entry!r}")
        where = f"{source} ({name})"
        regions.append((name.lower(), _number(rtt, where, RTT_MS, "milliseconds")))
    return tuple(regions)


def _gates(config: pytest.Config) -> tuple[Gate, ...]:
    """The regression gates: the command line's, else the ini file's."""
    expressions: list[str] = config.getoption("ttfb_compare_fail", default=None) or []
    source = "--ttfb-compare-fail"
    if not expressions:
        expressions = [line for line in config.getini("ttfb_compare_fail") if line.strip()]
        source = "ini key ttfb_compare_fail"
    if not expressions:
        return ()
    from .baseline.gates import GateError, parse_gate  # only a run that has gates

    try:
        return tuple(parse_gate(expression) for expression in expressions)
    except GateError as error:
        raise pytest.UsageError(f"{source}: {error}") from None


def resolve(config: pytest.Config) -> Settings:
    """Read every pytest-ttfb option once; raise ``pytest.UsageError`` on a bad one."""
    raw_mode, mode_source = _raw(config, "ttfb_mode")
    live, live_source = _raw(config, "ttfb_live")
    live = bool(live) and _bool(live, live_source)
    mode = "mock"
    if raw_mode is not None:
        mode = str(raw_mode).strip().lower()
        if mode not in MODES:
            raise pytest.UsageError(
                f"{mode_source}: expected one of {', '.join(MODES)}, got {raw_mode!r}"
            )
    if live:
        if raw_mode is not None and mode != "live":
            raise pytest.UsageError(
                f"{live_source} asks for live mode but {mode_source} asks for {mode}: choose one"
            )
        mode = "live"

    rtt = _option_number(config, "ttfb_rtt", DEFAULT_RTT_MS, RTT_MS, "milliseconds")
    jitter = _option_number(config, "ttfb_jitter", 0.0, RTT_MS, "milliseconds")
    scale = _option_number(config, "ttfb_budget_scale", 1.0, BUDGET_SCALE, "a factor")
    history = _option_number(
        config, "ttfb_mock_history", DEFAULT_MOCK_HISTORY, MOCK_HISTORY, "a whole number"
    )
    no_budgets, no_budgets_source = _raw(config, "ttfb_no_budgets")
    base_url, _ = _raw(config, "ttfb_base_url")
    if base_url is None:
        base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
    openai_base_url, _ = _raw(config, "ttfb_openai_base_url")
    if openai_base_url is None:
        openai_base_url = os.environ.get("OPENAI_BASE_URL") or None
    first_token, first_token_source = _raw(config, "ttfb_first_token")
    first_token = str(first_token or DEFAULT_RULE).strip().lower()
    if first_token not in FIRST_TOKEN_RULES:
        raise pytest.UsageError(
            f"{first_token_source}: expected one of {', '.join(FIRST_TOKEN_RULES)}, "
            f"got {first_token!r}"
        )
    paths = {}
    for key in ("ttfb_json", "ttfb_har", "ttfb_html"):
        path, source = _raw(config, key)
        if path:
            _check_writable(str(path), source)
        paths[key] = str(path) if path else None
    json_path = paths["ttfb_json"]
    report_style, report_source = _raw(config, "ttfb_report")
    report_style = str(report_style or "full").strip().lower()
    if report_style not in REPORT_STYLES:
        raise pytest.UsageError(
            f"{report_source}: expected one of {', '.join(REPORT_STYLES)}, got {report_style!r}"
        )
    autosave, autosave_source = _raw(config, "ttfb_autosave")
    storage, _ = _raw(config, "ttfb_storage")
    return Settings(
        mode=mode,
        rtt_ms=rtt,
        jitter_ms=jitter,
        regions=_regions(config),
        first_token=first_token,
        base_url=str(base_url) if base_url else None,
        openai_base_url=str(openai_base_url) if openai_base_url else None,
        json_path=json_path,
        har_path=paths["ttfb_har"],
        html_path=paths["ttfb_html"],
        report_style=report_style,
        save_name=config.getoption("ttfb_save", default=None),
        autosave=autosave is not None and _bool(autosave, autosave_source),
        storage=str(storage) if storage else DEFAULT_STORAGE,
        compare=config.getoption("ttfb_compare", default=None),
        gates=_gates(config),
        mock_history=int(history),
        budget_scale=scale,
        enforce_budgets=not (no_budgets is not None and _bool(no_budgets, no_budgets_source)),
        pool=_pool(config),
    )
