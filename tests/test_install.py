"""The plugin as pip installs it: entry point, options, markers, opting out."""

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from pytest_ttfb.settings import OPTIONS


def test_help_lists_every_option_in_the_ttfb_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    group = text[text.index("pytest-ttfb: HTTP latency budgets:") :]
    design = {
        "--ttfb-mode",
        "--ttfb-live",
        "--ttfb-rtt",
        "--ttfb-base-url",
        "--ttfb-json",
        "--ttfb-budget-scale",
        "--ttfb-no-budgets",
    }
    assert design <= {option.flag for option in OPTIONS}
    for option in OPTIONS:
        assert option.flag in group, option.flag
    for ini in (
        "ttfb_mode",
        "ttfb_max_connections",
        "ttfb_keepalive_expiry",
        "ttfb_http2",
        "ttfb_regions",
    ):
        assert f"{ini} (" in text, ini


def test_markers_lists_the_five_budgets(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    for name in ("max_ttfb", "max_first_token", "max_connect", "max_total", "max_new_connections"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}: {name}(*): *"])


def test_entry_point_named_ttfb_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_uses_plugin(ttfb):
            assert ttfb.requests == []
    """)
    assert pytester.runpytest().ret == 0
    result = pytester.runpytest("-p", "no:ttfb")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ttfb' not found*"])


def test_loading_the_plugin_imports_only_its_own_modules_and_the_stdlib(
    pytester: pytest.Pytester,
) -> None:
    """With the plugin loaded, the modules imported beyond a ``-p no:ttfb`` run are
    pytest_ttfb's own and the standard library's: httpx, respx, the SDKs, hypercorn
    and trustme wait until a test needs them. (A subprocess: this repository's
    conftest pre-imports those libraries into this process.)"""
    pytester.makepyfile(
        test_dump="""
        import json, os, sys

        def test_dump():
            with open(os.environ["TTFB_MODULES_OUT"], "w") as out:
                json.dump(sorted(sys.modules), out)
        """
    )
    loaded = {}
    for name, args in (("with", ()), ("without", ("-p", "no:ttfb"))):
        out = pytester.path / f"{name}.json"
        pytester._monkeypatch.setenv("TTFB_MODULES_OUT", str(out))
        pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
        loaded[name] = set(json.loads(out.read_text()))
    extra = loaded["with"] - loaded["without"]
    assert "pytest_ttfb._wire" in extra  # the comparison itself can tell
    foreign = sorted(
        name
        for name in extra
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "pytest_ttfb"
    )
    assert foreign == []
    # Nor does a suite that never uses the plugin load what only its users need: the
    # budget parser (no budget marker here) and the per-test results.
    assert {"pytest_ttfb.budgets.parse", "pytest_ttfb.results"}.isdisjoint(extra)
    assert "pytest_ttfb.session" in extra


def test_the_wheel_holds_every_module_and_the_type_marker(tmp_path: Path) -> None:
    """What users install is the wheel: every module of the source tree is in it (a
    subpackage left out of pyproject's package list would be missing), and py.typed."""
    source = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path)]
    built = subprocess.run([*command, str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("pytest_ttfb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = source / "pytest_ttfb"
    expected = {
        path.relative_to(source).as_posix()
        for path in package.rglob("*")
        if path.is_file()
        and path.suffix in {".py", ".typed", ".json"}
        and "__pycache__" not in path.parts
    }
    assert "pytest_ttfb/py.typed" in expected
    assert "pytest_ttfb/measure/_sync.py" in expected
    assert sorted(expected - names) == []
    # The compiled per-chunk check: its stub for type checkers, not its source; the
    # module itself (on the limited API) where a compiler is.
    assert "pytest_ttfb/measure/_delta.pyi" in names
    assert not [name for name in names if name.endswith(".c")]
    headers = Path(sysconfig.get_paths()["include"], "Python.h").exists()
    if headers and (shutil.which("cc") or shutil.which("gcc")):
        assert "pytest_ttfb/measure/_delta.abi3.so" in names


def test_a_free_threaded_cpython_builds_the_wheel_without_the_compiled_check(
    tmp_path: Path,
) -> None:
    """A free-threaded CPython (before 3.15) cannot build on the limited API, and
    setuptools refuses an abi3 wheel tag there: the build must still succeed (the
    module is optional), under that interpreter's own tag. Run by the build backend
    with ``sysconfig`` saying the interpreter is free-threaded (the very switch
    setuptools reads), in a copy of the source (a build writes beside it)."""
    pytest.importorskip("setuptools", minversion="74.1")
    source = Path(__file__).resolve().parent.parent
    tree = tmp_path / "source"
    shutil.copytree(
        source / "pytest_ttfb",
        tree / "pytest_ttfb",
        ignore=shutil.ignore_patterns("__pycache__", "*.so"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(source / name, tree / name)
    code = (
        "import sys, sysconfig\n"
        "real = sysconfig.get_config_var\n"
        "sysconfig.get_config_var = lambda name: 1 if name == 'Py_GIL_DISABLED' else real(name)\n"
        "from setuptools import build_meta\n"
        "print(build_meta.build_wheel(sys.argv[1]))\n"
    )
    out = tmp_path / "wheel"
    built = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=tree, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = out.glob("pytest_ttfb-*.whl")
    assert "abi3" not in wheel.name


@pytest.mark.parametrize(
    ("fixture", "package", "install"),
    [
        ("anthropic_client", "anthropic", "pip install 'pytest-ttfb[anthropic]'"),
        ("ttfb_client", "httpx2", "pip install httpx2"),
    ],
)
def test_a_fixture_whose_package_is_missing_names_the_install_line(
    pytester: pytest.Pytester, fixture: str, package: str, install: str
) -> None:
    pytester.makeconftest(f"""
        import sys
        import pytest

        @pytest.fixture(autouse=True, scope="session")
        def _without_the_package():
            # As if it were not installed: importing it raises ImportError.
            saved = {{name: module for name, module in sys.modules.items()
                      if name == "{package}" or name.startswith("{package}.")}}
            for name in saved:
                del sys.modules[name]
            sys.modules["{package}"] = None
            yield
            del sys.modules["{package}"]
            sys.modules.update(saved)
    """)
    pytester.makepyfile(f"""
        def test_uses_it({fixture}):
            pass
    """)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    message = f"pytest-ttfb: {fixture} needs {package}, which is not installed: {install}"
    assert message in result.stdout.lines
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
