"""The per-chunk checks of a steady stream: compiled (``measure/_delta.c``) and their
Python twins (``measure/scanner.py``) say the same of every read.

The byte streams call one of them on every chunk of a long stream once its first token
is found (``FirstTokenScanner.steady``); the compiled ones are what a wheel built with
a C compiler runs, the twins what runs without one (or with
``PYTEST_TTFB_NO_EXTENSIONS=1``). ``tests/test_scanner_fuzz.py`` runs the byte streams
with each set; here the checks meet arbitrary reads, most of them built round the
events the checks look for, since arbitrary bytes rarely are one. ``stamper``, which
binds a check to a stream's chunk times, is compared with its twin the same way.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import random
import shutil
import subprocess
import sys
import sysconfig
import time
import tracemalloc
import weakref
from array import array
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_ttfb.measure import scanner
from pytest_ttfb.measure.scanner import DELTA_LINE, EVENT_END, OUTPUT_DELTA_LINES

try:
    from pytest_ttfb.measure import _delta
except ImportError:  # a checkout not built (no C compiler): nothing compiled to compare
    _delta = None  # type: ignore[assignment]

NAMES = ("is_delta_event", "is_output_delta_event", "is_chat_content_event")
built = pytest.mark.skipif(_delta is None, reason="pytest_ttfb.measure._delta not built")
# A stamper, compiled or its twin, as these tests call it (with checks, clocks and appends
# of any kind).
_Stamper = Callable[..., Callable[[object], bool]]


class _Bytes(bytes):
    """A bytes subclass, as a custom byte stream may yield."""


# Event lines the checks look for, and near misses of them.
_heads = st.sampled_from(
    [
        DELTA_LINE,
        *OUTPUT_DELTA_LINES,
        DELTA_LINE[:-1],
        OUTPUT_DELTA_LINES[0][:-1] + b" \n",
        b"data: ",
        b"",
        b"",
        b"event: ping\n",
    ]
)
# Lines: arbitrary bytes, or pieces of what the Chat Completions check reads (its keys,
# the whitespace a bytes pattern's \s matches, the punctuation after a key).
_pieces = [
    b'{"choices":[{"delta":{',
    b'"content"',
    b'"tool_calls"',
    b'"completion_tokens"',
    b'"completion_tokens',
    b'"content',
    *(bytes([c]) for c in b' \t\x0b\x0c:"[{}x\x00\xff'),
    b"\n",
    b"\r",
]
# And lines shaped as the keys' values: a key, then what may come between it and its
# value (every byte \s matches), then a value's opening or something else.
_space = st.lists(st.sampled_from([b" ", b"\t", b"\x0b", b"\x0c", b"\r", b"\n", b""]), max_size=3)
_keyed = st.tuples(
    st.sampled_from([b"", b'data: {"delta":{']),
    st.sampled_from([b'"content"', b'"tool_calls"', b'"content', b"content"]),
    _space.map(b"".join),
    st.sampled_from([b":", b":", b";", b""]),
    _space.map(b"".join),
    st.sampled_from([b'"', b'"', b"[", b"{", b"x"]),
    _space.map(b"".join),
    st.sampled_from([b'"', b"x", b"{", b"[", b""]),
    st.sampled_from([b"}}", b"", b',"completion_tokens":1}']),
).map(b"".join)
_lines = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from(_pieces), max_size=10).map(b"".join),
    _keyed,
    _keyed,
)
_ends = st.sampled_from([EVENT_END, EVENT_END, EVENT_END, b"\n", b"\r\n\r\n", b"\n\n\n", b""])
reads = st.one_of(st.tuples(_heads, _lines, _ends).map(b"".join), st.binary(max_size=80))
kinds = st.sampled_from([bytes, bytes, bytes, bytearray, _Bytes, memoryview])


@built
@settings(deadline=None, max_examples=3000)
@given(reads, kinds, st.sampled_from(NAMES))
def test_each_compiled_check_answers_as_its_python_twin(
    read: bytes, kind: Callable[[bytes], object], name: str
) -> None:
    chunk = kind(read)
    twin = getattr(scanner, f"_{name}")(chunk)
    assert getattr(_delta, name)(chunk) is twin
    if kind is not bytes:  # exact bytes only: anything else goes to the scanner
        assert twin is False


@built
@settings(deadline=None, max_examples=2000)
@given(_keyed, st.sampled_from([EVENT_END, EVENT_END, EVENT_END, b"\n"]))
def test_the_compiled_chat_check_reads_keys_and_values_as_its_twin(line: bytes, end: bytes) -> None:
    """The Chat Completions check's own ground: one line with the keys it looks for."""
    read = line + end
    assert _delta.is_chat_content_event(read) is scanner._is_chat_content_event(read)


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("is_delta_event", DELTA_LINE + b'data: {"delta":{}}' + EVENT_END),
        ("is_output_delta_event", OUTPUT_DELTA_LINES[0] + b'data: {"delta":"a"}' + EVENT_END),
        ("is_output_delta_event", OUTPUT_DELTA_LINES[1] + b'data: {"delta":"{"}' + EVENT_END),
        ("is_chat_content_event", b'data: {"delta":{"content":"a"}}' + EVENT_END),
        ("is_chat_content_event", b'data: {"delta":{"content" :\t"a"}}' + EVENT_END),
        ("is_chat_content_event", b'data: {"delta":{"tool_calls": [ {"id":1}]}}' + EVENT_END),
        # Every byte a bytes pattern's \s matches but CR and LF (no line holds them).
        ("is_chat_content_event", b'data: {"content"\x0b:\x0c"a"}' + EVENT_END),
        ("is_chat_content_event", b'data: {"tool_calls"\x0c:\t[\x0b{}]}' + EVENT_END),
    ],
)
def test_the_usual_reads_are_content(name: str, read: bytes) -> None:
    checks = [getattr(scanner, f"_{name}")] + ([getattr(_delta, name)] if _delta else [])
    assert [check(read) for check in checks] == [True] * len(checks)


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("is_delta_event", DELTA_LINE + b"data: {}\r\n\n"),  # a CR in the line
        ("is_delta_event", DELTA_LINE + EVENT_END),  # no line
        ("is_delta_event", DELTA_LINE + b"data: {}\n\n" + DELTA_LINE + b"data: {}\n\n"),
        ("is_output_delta_event", b"event: response.output_text.delta \ndata: {}\n\n"),
        ("is_chat_content_event", b'data: {"delta":{"content":""}}\n\n'),  # empty content
        ("is_chat_content_event", b'data: {"delta":{"content":"a"}}\n'),  # not ended
        ("is_chat_content_event", b'data: {"content":"a","usage":{"completion_tokens":1}}\n\n'),
        ("is_chat_content_event", b'data: {"delta":{"tool_calls":[]}}\n\n'),
        ("is_chat_content_event", b'id: 1\ndata: {"delta":{"content":"a"}}\n\n'),  # two lines
        ("is_chat_content_event", b'data: {"delta":{"content":"'),  # cut inside
        ("is_chat_content_event", b'data: {"delta":{"content":"\n\n'),  # no byte after "
    ],
)
def test_reads_that_are_not_quite_one_content_event_are_not(name: str, read: bytes) -> None:
    checks = [getattr(scanner, f"_{name}")] + ([getattr(_delta, name)] if _delta else [])
    assert [check(read) for check in checks] == [False] * len(checks)


# The Chat Completions check's own searches at their edges: the usage key first in the
# line, last, overlapping itself or a near miss; underscores before it can fit; a key's
# occurrences overlapping (``"content"content"``), the one that qualifies first or last.
_CHAT_EDGES = [
    (b'"completion_tokens":1,"content":"a"', False),
    (b'"content":"a","completion_tokens"', False),
    (b'"content":"a","completion_tokens', True),
    (b'_"content":"a"_"completion_tokens_"', True),
    (b'"completion_"completion_tokens""content":"a"', False),
    (b'"completion-tokens":1,"content":"a"', True),
    (b"_", False),
    (b'__________"content":"a"', True),
    (b'"content":"a"', True),
    (b'"content"content":"a"', True),
    (b'"content":"a","content":""', True),
    (b'"content":"","content":"a"', True),
    (b'"content":"","content":""', False),
    (b'"content"', False),
    (b'"content"  :\t""', False),
    (b'"tool_calls":[{', True),
    (b'"tool_calls":[{"tool_calls":[]', True),
    (b'"tool_calls":[],"tool_calls":[ {', True),
    (b'"tool_calls"tool_calls":[{', True),
    (b'"tool_calls":[', False),
    (b'x"tool_call":[{', False),
]


@pytest.mark.parametrize(("line", "content"), _CHAT_EDGES)
def test_the_chat_checks_searches_at_their_edges(line: bytes, content: bool) -> None:
    read = line + EVENT_END
    checks = [scanner._is_chat_content_event] + ([_delta.is_chat_content_event] if _delta else [])
    assert [check(read) for check in checks] == [content] * len(checks)
    # The same line behind a data field, as the API sends it.
    read = b"data: {" + line + b"}" + EVENT_END
    assert [check(read) for check in checks] == [content] * len(checks)


@built
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("other", [None, 0, 10**30, "event: content_block_delta\ndata: x\n\n"])
def test_what_is_no_bytes_is_no_content_event(name: str, other: object) -> None:
    assert getattr(_delta, name)(other) is False
    assert getattr(scanner, f"_{name}")(other) is False


class _Clock:
    """A clock stand-in: 1.5 s, then a millisecond more each call."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return 1.5 + self.calls / 1000.0


def _python_check(chunk: object) -> object:
    """A check of the caller's own (any callable): truthy for bytes with an "a"."""
    return isinstance(chunk, bytes) and chunk.count(b"a")


def _stamper_of(make: str) -> _Stamper:
    """The compiled stamper (``make`` "compiled") or its Python twin."""
    return _delta.stamper if make == "compiled" else scanner._stamper  # type: ignore[no-any-return]


def _check_of(make: str, name: str) -> Callable[[object], object]:
    """The check ``name`` (one of ``NAMES``), compiled or its twin as ``make`` says; or
    for "own", a Python function of the caller's (``_python_check``)."""
    if name == "own":
        return _python_check
    return getattr(_delta, name) if make == "compiled" else getattr(scanner, f"_{name}")  # type: ignore[no-any-return]


@built
@settings(deadline=None, max_examples=1500)
@given(
    st.lists(st.tuples(reads, kinds), max_size=6),
    st.sampled_from([*NAMES, "own"]),
    st.sampled_from([0.0, 1.25, -3.0]),
)
def test_the_compiled_stamper_stamps_as_its_python_twin(
    chunks: list[tuple[bytes, Callable[[bytes], object]]], name: str, start: float
) -> None:
    """The same answers, and the same chunk times appended, from the same clock, for
    each compiled check and for any other callable (called, its answer taken as true or
    false)."""
    appended: list[list[float]] = []
    answers: list[list[bool]] = []
    for make in ("compiled", "python"):
        times: list[float] = []
        stamp = _stamper_of(make)(_check_of(make, name), _Clock(), times.append, start)
        answers.append([stamp(kind(read)) for read, kind in chunks])
        appended.append(times)
    assert answers[0] == answers[1]
    assert appended[0] == appended[1]
    assert len(appended[0]) == answers[0].count(True)


@built
@pytest.mark.parametrize("start", [0.0, 12.5])
def test_the_compiled_stamper_reads_perf_counter_itself(start: float) -> None:
    """Handed ``time.perf_counter``, the stamper reads that clock (directly, on Linux):
    each chunk time lies between two reads of ``perf_counter`` taken round the call."""
    times: list[float] = []
    stamp = _delta.stamper(_delta.is_delta_event, time.perf_counter, times.append, start)
    read = DELTA_LINE + b'data: {"delta":{}}' + EVENT_END
    for _ in range(200):
        before = time.perf_counter()
        assert stamp(read) is True
        after = time.perf_counter()
        assert (before - start) * 1000.0 <= times[-1] <= (after - start) * 1000.0
    assert stamp(b"no") is False
    assert len(times) == 200


def _perf_counter_float(ns: int) -> float:
    """What ``time.perf_counter()`` returns for a clock read of ``ns`` nanoseconds
    (CPython's ``_PyTime_AsSecondsDouble``: whole seconds by integer division, else the
    nanoseconds as a double divided by 1e9)."""
    return float(ns // 10**9) if ns % 10**9 == 0 else ns / 1e9


@built
@pytest.mark.parametrize("start", [0.0, 12.5, "now"])
def test_the_compiled_stamper_takes_the_very_float_perf_counter_would(
    start: float | str,
) -> None:
    """Bit for bit, not just in order: each chunk time is ``(t - start) * 1000.0`` for
    ``t`` exactly the float ``perf_counter()`` gives for some nanosecond between two
    reads of ``perf_counter_ns`` (the same clock) round the call. Near a stream's start,
    and at the magnitude of the machine's uptime, one ulp of ``t`` is well under a
    nanosecond, so a conversion off by one ulp (``ns * 1e-9``, say) matches no
    candidate; over 300 stamps it cannot pass by luck."""
    if start == "now":
        start = time.perf_counter()
    assert isinstance(start, float)
    times: list[float] = []
    stamp = _delta.stamper(_delta.is_delta_event, time.perf_counter, times.append, start)
    read = DELTA_LINE + b"data: {}" + EVENT_END
    checked = 0
    while checked < 300:
        before = time.perf_counter_ns()
        assert stamp(read) is True
        after = time.perf_counter_ns()
        if after - before > 100_000:  # preempted meanwhile: too many candidates, again
            continue
        assert any(
            (_perf_counter_float(ns) - start) * 1000.0 == times[-1]
            for ns in range(before, after + 1)
        ), (times[-1], before, after)
        checked += 1


class _Boom(Exception):
    pass


def _boom(*_args: object) -> float:
    raise _Boom


@built
@pytest.mark.parametrize("make", ["compiled", "python"])
@pytest.mark.parametrize(
    ("check", "clock", "append"),
    [
        (_boom, time.perf_counter, list().append),
        ("is_delta_event", _boom, list().append),
        ("is_delta_event", time.perf_counter, _boom),
    ],
    ids=["check", "clock", "append"],
)
def test_what_the_stamper_calls_may_raise_through_it(
    make: str, check: object, clock: Callable[[], float], append: Callable[[float], object]
) -> None:
    """An error of the check, the clock or the append is raised as it is (the byte
    stream's own caller sees it; none of ours raise), by both stampers."""
    if check == "is_delta_event":
        check = _check_of(make, "is_delta_event")
    stamp = _stamper_of(make)(check, clock, append, 0.0)
    with pytest.raises(_Boom):
        stamp(DELTA_LINE + b"data: {}" + EVENT_END)


@built
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((scanner.is_delta_event, time.perf_counter, list().append), "4 arguments"),
        ((scanner.is_delta_event, time.perf_counter, list().append, "0"), "must be real number"),
    ],
)
def test_the_compiled_stamper_refuses_bad_arguments(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        _delta.stamper(*args)  # type: ignore[call-arg]


@built
def test_a_clock_that_gives_no_number_is_a_type_error() -> None:
    stamp = _delta.stamper(_delta.is_delta_event, lambda: "now", list().append, 0.0)
    with pytest.raises(TypeError):
        stamp(DELTA_LINE + b"data: {}" + EVENT_END)


@built
def test_the_compiled_stamper_keeps_nothing_per_call() -> None:
    """No reference leaked per call: 100,000 stamps (each a new float handed to append,
    a clock's float taken) leave the heap as it was, and the clock's one float with the
    references it had."""
    value = 2.0 + 1e-9
    stamp = _delta.stamper(_delta.is_delta_event, lambda: value, lambda ms: None, 1.0)
    read = DELTA_LINE + b"data: {}" + EVENT_END
    stamp(read)
    references = sys.getrefcount(value)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(100_000):
            stamp(read)
            stamp(b"no")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000  # a leaked float a call would be 2.4 MB
    assert sys.getrefcount(value) == references


class _Answer:
    """A check's answer, new each call (as a Python check's may be), true or false."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes

    def __bool__(self) -> bool:
        return self.yes


def _fresh_answer(chunk: object) -> _Answer:
    return _Answer(isinstance(chunk, bytes) and b"a" in chunk)


@built
@pytest.mark.parametrize("make", ["compiled", "python"])
def test_a_python_checks_answer_and_appends_result_are_let_go(make: str) -> None:
    """What the stamper's calls hand back (a check's answer, whatever ``append``
    returns), new objects each call, is released: 50,000 stamps said yes and 50,000 no
    leave the heap as it was (a kept object a call would be megabytes)."""
    stamp = _stamper_of(make)(_fresh_answer, lambda: 2.0, lambda ms: [ms], 1.0)
    assert stamp(b"a") is True
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(50_000):
            stamp(b"a")
            stamp(b"b")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000


class _Unanswerable:
    """An answer that cannot say whether it is true."""

    def __bool__(self) -> bool:
        raise _Boom


@built
@pytest.mark.parametrize("make", ["compiled", "python"])
def test_an_answer_that_cannot_be_true_or_false_raises_and_stamps_nothing(make: str) -> None:
    times: list[float] = []
    stamp = _stamper_of(make)(lambda chunk: _Unanswerable(), lambda: 2.0, times.append, 1.0)
    with pytest.raises(_Boom):
        stamp(DELTA_LINE + b"data: {}" + EVENT_END)
    assert times == []


@built
@pytest.mark.parametrize("make", ["compiled", "python"])
@pytest.mark.parametrize("check", [*NAMES, "own"])
@pytest.mark.parametrize("clock", ["perf_counter", "stand-in"])
def test_a_stamper_let_go_lets_go_of_the_chunk_array(make: str, check: str, clock: str) -> None:
    """A stamper holds a stream's chunk array (through its ``append``) and its clock
    only as long as it lives itself: once the scanner lets it go, so do they (no
    collector needed), and making and dropping 20,000 stampers keeps no memory."""
    named = _check_of(make, check)
    stamper = _stamper_of(make)
    chunks = array("d")
    chunks_ref = weakref.ref(chunks)
    stand_in = _Clock()  # (an instance of a class: a weak reference can watch it)
    clock_ref = weakref.ref(stand_in)
    stamp = stamper(
        named, time.perf_counter if clock == "perf_counter" else stand_in, chunks.append, 1.0
    )
    for read in (DELTA_LINE + b"data: {}" + EVENT_END, b"a", b""):
        stamp(read)
    del chunks, stand_in
    assert chunks_ref() is not None  # (held by the stamper: the test can tell)
    assert (clock_ref() is None) == (clock == "perf_counter")
    del stamp
    assert chunks_ref() is None
    assert clock_ref() is None
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            stamper(named, time.perf_counter, [].append, 12.5)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000  # a kept start (a float) a stamper would be 480 kB


@pytest.mark.parametrize("value", ["1", "0", ""])
def test_the_python_twins_run_when_asked(value: str, tmp_path: Path) -> None:
    """``PYTEST_TTFB_NO_EXTENSIONS`` set to any non-empty value, "0" too (as aio-libs'
    ``*_NO_EXTENSIONS``), makes the scanner hand out the Python twins (an empty value
    does not), whether or not the compiled checks were built. (Run from an empty folder
    with ``-P``: the package this test imported, not a checkout's copy.)"""
    code = (
        "from pytest_ttfb.measure import scanner\n"
        f"names = {(*NAMES, 'stamper')!r}\n"
        "print(scanner.EXTENSION,"
        " *(getattr(scanner, n) is getattr(scanner, '_' + n) for n in names))"
    )
    env = {**os.environ, "PYTEST_TTFB_NO_EXTENSIONS": value}
    out = subprocess.run(
        [sys.executable, "-P", "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    twins = bool(value) or _delta is None
    assert out == [str(not twins)] + [str(twins)] * (len(NAMES) + 1)


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="CI builds it; a checkout may not")
def test_ci_compares_the_compiled_checks() -> None:
    """In CI the comparisons above run, never skip: the installed wheel has the module."""
    assert _delta is not None
    assert scanner.EXTENSION


_C_SOURCE = Path(scanner.__file__).with_name("_delta.c")


@pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() != "x86_64" or shutil.which("gcc") is None,
    reason="builds the module with gcc for x86-64's x87 unit",
)
def test_the_chunk_time_is_rounded_as_pythons_even_where_the_fpu_computes_wider(
    tmp_path: Path,
) -> None:
    """Where the C compiler does float arithmetic wider than a double (x87, as 32-bit
    x86 builds do), ``(now - start) * 1000.0`` kept wide between steps can differ from
    Python's, which rounds each result to a double: the module built here with
    ``-mfpmath=387`` must still stamp exactly what its twin does, for 20,000 pairs
    of clock and start times of all magnitudes (unrounded steps differ in about one in
    ten)."""
    if not _C_SOURCE.exists():
        pytest.skip("no C source next to the installed scanner")
    built = tmp_path / "_delta.abi3.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O2",
            "-mfpmath=387",
            f"-I{sysconfig.get_paths()['include']}",
            str(_C_SOURCE),
            "-o",
            str(built),
        ],
        check=True,
        capture_output=True,
    )
    spec = importlib.util.spec_from_file_location("_delta", built)
    assert spec is not None
    assert spec.loader is not None
    wide = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wide)
    values = random.Random(5)
    read = DELTA_LINE + b"data: {}" + EVENT_END
    for _ in range(20_000):
        now, start = values.uniform(0, 1e6), values.uniform(0, 1e6)
        stamped: list[float] = []
        wide.stamper(wide.is_delta_event, lambda now=now: now, stamped.append, start)(read)
        assert stamped == [(now - start) * 1000.0], (now, start)


def test_a_missing_stale_or_unwanted_build_leaves_the_python_twins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_ttfb.measure._compiled import compiled

    monkeypatch.delenv("PYTEST_TTFB_NO_EXTENSIONS", raising=False)
    assert compiled("_no_such_module", ()) is None  # installed without a compiler
    assert compiled("_delta", ("stamper", "a_function_added_since")) is None  # stale
    if _delta is not None:
        assert compiled("_delta", ("stamper",)) is _delta
    monkeypatch.setenv("PYTEST_TTFB_NO_EXTENSIONS", "0")  # any non-empty value
    assert compiled("_delta", ("stamper",)) is None
