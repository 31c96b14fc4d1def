"""What a watched client adds, in CPU instructions (valgrind), per request and per chunk.

    python benchmarks/instructions.py [--requests 200] [--streams 4] [--only warm,stream]

Wall-time ratios on a shared 2-core machine move by more than the overhead they
measure (rows 5 and 6 of ``run.py``). Instructions retired do not: valgrind's
``cachegrind`` counts them exactly, so a change to the hot path can be judged in one
run, whatever else the machine is doing (repeat runs of one build agree within about
1 %; HTTP/2 over TLS within about 5 %). Across rebuilds, checkouts and sittings the
same code's added count has moved by a few thousand instructions (httpx2 HTTP/1.1 sync:
+22.9k and +26.9k for one commit; see ``PROFILE.md``, "tenth pass"), so compare two
versions measured in one sitting, not against a figure written down earlier.

For each variant one interpreter makes K requests (or K 1,000-delta streams) through a
bare client, and another through the same client watched by an active recorder (records
built every 20 requests, as a test reading ``ttfb.requests`` would); each is run with
K and with 0, so start-up cancels out. Added per request = (watched(K) - watched(0) -
bare(K) + bare(0)) / K. Against the loopback servers of ``_servers.py`` (HTTP/1.1 and
HTTP/2 over TLS), httpx2 and httpx, sync and async.

Needs valgrind (``apt-get install -y valgrind``). Instructions are not time: a search
run by ``memchr`` retires many instructions quickly, so this measures how much work the
plugin does, and ``run.py`` what it costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import _start_server  # the same loopback servers as rows 5 and 6

CLIENT = """
import asyncio, os, ssl, sys
import httpx, httpx2
from pytest_ttfb.measure.active import set_active_sink
from pytest_ttfb.measure.recorder import Recorder

import pytest_ttfb

variant, count, stack, proto, mode, what, base, ca, origin = sys.argv[1:10]
assert os.path.dirname(pytest_ttfb.__file__) == origin, (pytest_ttfb.__file__, origin)
count = int(count)
mod = httpx2 if stack == "httpx2" else httpx
options = {"limits": mod.Limits(keepalive_expiry=3600)}
if proto == "h2":
    options.update(http2=True, verify=ssl.create_default_context(cafile=ca))
url = base + ("stream/1000" if what == "stream" else "")
recorder = Recorder("bench")
set_active_sink(recorder)
client = (mod.Client if mode == "sync" else mod.AsyncClient)(**options)
if variant == "watched":
    recorder.watch(client)


async def one():
    if what == "stream":
        if mode == "sync":
            with client.stream("GET", url) as response:
                for _ in response.iter_raw():
                    pass
        else:
            async with client.stream("GET", url) as response:
                async for _ in response.aiter_raw():
                    pass
    elif mode == "sync":
        client.get(url)
    else:
        await client.get(url)


async def main():
    for _ in range(3):  # open the connection, warm every path
        await one()
    len(recorder.requests)
    recorder.requests.clear()
    for _ in range(count):
        await one()
        if len(recorder.pending) >= 20:
            len(recorder.requests)  # the records, built
            recorder.requests.clear()
    if variant == "watched":
        records = recorder.requests
        assert all(r.status == 200 for r in records)
        if what == "stream":
            assert all(len(r.chunk_ms) == 1000 for r in records)


asyncio.run(main())
"""


def _instructions(args: list[str]) -> int:
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-c",
        CLIENT,
        *args,
    ]
    # A fixed hash seed: start-up then retires the same instructions in each run, so
    # that the difference of two runs is the requests' own. Run from a folder of its
    # own: ``-c`` puts the working directory first on sys.path.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=1800, env=env, cwd=cwd
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    for line in proc.stderr.splitlines():
        if "I   refs:" in line or "I refs:" in line:
            return int(line.split(":")[1].replace(",", "").split()[0])
    raise RuntimeError(f"no instruction count in valgrind's output:\n{proc.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="warm requests a run")
    parser.add_argument("--streams", type=int, default=4, help="1,000-delta streams a run")
    parser.add_argument("--only", default="warm,stream", help="warm, stream or both")
    parser.add_argument("--stacks", default="httpx2,httpx")
    parser.add_argument("--protos", default="h1,h2")
    parser.add_argument("--modes", default="sync,async")
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install -y valgrind", file=sys.stderr)
        return 2
    folder = tempfile.mkdtemp(prefix="ttfb-bench-instr-")
    h1, (h1_port,) = _start_server("h1", folder)
    h2, (h2_port, ca) = _start_server("h2", folder)
    bases = {"h1": f"http://127.0.0.1:{h1_port}/", "h2": f"https://127.0.0.1:{h2_port}/"}
    print(f"python {sys.version.split()[0]}, pytest_ttfb from {_origin()}")
    print(
        f"{'what':<7} {'stack':<7} {'proto':<5} {'mode':<6} {'bare':>10} {'added':>8} {'ratio':>7}"
    )
    try:
        for what in options.only.split(","):
            count = options.requests if what == "warm" else options.streams
            unit = 1 if what == "warm" else 1000  # per request; per chunk of a stream
            for stack in options.stacks.split(","):
                for proto in options.protos.split(","):
                    for mode in options.modes.split(","):
                        runs = {}
                        for variant in ("bare", "watched"):
                            for n in (0, count):
                                args = [variant, str(n), stack, proto, mode, what]
                                runs[variant, n] = _instructions(
                                    [*args, bases[proto], ca, _origin()]
                                )
                        bare = (runs["bare", count] - runs["bare", 0]) / count / unit
                        watched = (runs["watched", count] - runs["watched", 0]) / count / unit
                        per = "request" if what == "warm" else "chunk"
                        print(
                            f"{what:<7} {stack:<7} {proto:<7} {mode:<7} {bare:>10.0f}"
                            f" {watched - bare:>+8.0f} {watched / bare:>7.3f}"
                            f"   instructions a {per}",
                            flush=True,
                        )
    finally:
        h1.kill()
        h2.kill()
    return 0


def _origin() -> str:
    import pytest_ttfb

    return os.path.dirname(pytest_ttfb.__file__)


if __name__ == "__main__":
    raise SystemExit(main())
