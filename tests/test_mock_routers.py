"""A user's own respx router beside ttfb_mock: the ``respx_mock`` fixture or
``with respx.mock:``. Its routes answer, and a request counts as unmatched only when
no active router answered it."""

import pytest

SUITE = """
import httpx
import httpx2
import pytest
import respx

STACKS = {"httpx": (httpx, "httpcore"), "httpx2": (httpx2, "httpcore2")}

@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_respx_mock_fixture(stack, request, ttfb_mock, ttfb):
    module, using = STACKS[stack]
    request.applymarker(pytest.mark.respx(using=using))
    respx_mock = request.getfixturevalue("respx_mock")
    route = respx_mock.get("https://user.test/items").respond(201)
    with ttfb.watch(module.Client()) as client:
        assert client.get("https://user.test/items").status_code == 201
    assert route.called
    (record,) = ttfb.requests
    assert record.status == 201

@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_with_respx_mock(stack, ttfb_mock, ttfb):
    module, using = STACKS[stack]
    with respx.mock(using=using) as user:
        user.get("https://user.test/items").respond(202)
        with ttfb.watch(module.Client()) as client:
            assert client.get("https://user.test/items").status_code == 202
            # ttfb_mock's own routes still answer beside the user's.
            ttfb_mock.get("https://ttfb.test/x").respond(203)
            assert client.get("https://ttfb.test/x").status_code == 203
    assert [r.status for r in ttfb.requests] == [202, 203]

def test_global_respx_mock_context(ttfb_mock, ttfb):
    with respx.mock:
        respx.get("https://user.test/global").respond(204)
        with ttfb.watch(httpx.Client()) as client:
            assert client.get("https://user.test/global").status_code == 204

@pytest.mark.anyio
@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
async def test_async_client(stack, ttfb_mock, ttfb):
    module, using = STACKS[stack]
    with respx.mock(using=using) as user:
        user.get("https://user.test/a").respond(205)
        async with ttfb.watch(module.AsyncClient()) as client:
            assert (await client.get("https://user.test/a")).status_code == 205

@pytest.mark.parametrize("stack", ["httpx", "httpx2"])
def test_no_router_answers(stack, ttfb_mock, ttfb):
    module, using = STACKS[stack]
    with respx.mock(using=using, assert_all_called=False) as user:
        user.get("https://user.test/items").respond(200)
        with ttfb.watch(module.Client()) as client:
            client.get("https://nobody.test/")
"""


def test_a_users_router_answers_beside_ttfb_mock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("-p", "anyio", "-k", "not no_router")
    result.assert_outcomes(passed=7)
    assert "matched no ttfb_mock route" not in result.stdout.str()


def test_unmatched_by_every_router_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest("-k", "no_router")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no ttfb_mock route matches GET https://nobody.test/*"])


UNPATCHED = """
import httpcore
import httpcore2
import pytest
import respx

# What the transports' classes hold before any router starts.
ORIGINAL = {
    (module, name, method): module_class.__dict__.get(method)
    for module in (httpcore, httpcore2)
    for name in ("ConnectionPool", "AsyncConnectionPool", "HTTPConnection")
    for module_class in [getattr(module, name)]
    for method in ("handle_request", "handle_async_request")
}

def current():
    return {
        key: getattr(key[0], key[1]).__dict__.get(key[2]) for key in ORIGINAL
    }

def test_patched_while_ttfb_mock_runs(ttfb_mock):
    changed = [key for key, value in current().items() if value is not ORIGINAL[key]]
    assert {key[0] for key in changed} == {httpcore, httpcore2}

def test_a_users_router_inside(ttfb_mock):
    with respx.mock(using="httpcore", assert_all_called=False) as user:
        user.get("https://user.test/").respond(200)
    # ttfb_mock is still running: still patched after the user's router left
    assert current() != ORIGINAL

def test_then_a_plain_test_sees_the_originals():
    assert current() == ORIGINAL

def test_then_respx_alone_patches_and_restores():
    with respx.mock(using="httpcore"):
        assert current() != ORIGINAL
    assert current() == ORIGINAL

def test_last():
    assert current() == ORIGINAL
"""


def test_the_transports_are_put_back_after_every_router(pytester: pytest.Pytester) -> None:
    # ttfb_mock sets its patched methods at each start instead of respx's mock.patch:
    # whoever stops last (ttfb_mock or a user's respx router) puts the originals back.
    pytester.makepyfile(UNPATCHED)
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=5)


def test_a_method_wrapped_by_another_library_is_respected(pytester: pytest.Pytester) -> None:
    # The patched methods are made once, but each start wraps what the class holds
    # then, and each stop puts that back: a tracing wrapper installed (or removed)
    # between two ttfb_mock tests stays installed (or removed).
    pytester.makepyfile("""
import httpcore, httpx, pytest

ORIGINAL = httpcore.ConnectionPool.handle_request
SEEN = []

def test_1_mocked(ttfb_mock):
    ttfb_mock.get("https://a.test/").respond(200)
    assert httpx.get("https://a.test/").status_code == 200

@pytest.fixture(scope="module")
def traced():
    def traced(self, request):
        SEEN.append(str(request.url))
        return ORIGINAL(self, request)
    httpcore.ConnectionPool.handle_request = traced
    yield traced
    httpcore.ConnectionPool.handle_request = ORIGINAL

def test_2_mocked_while_traced(traced, ttfb_mock):
    ttfb_mock.get("https://b.test/").respond(200)
    assert httpx.get("https://b.test/").status_code == 200

def test_3_still_traced(traced):
    assert httpcore.ConnectionPool.handle_request is traced

def test_4_mocked_again_while_traced(traced, ttfb_mock):
    ttfb_mock.get("https://c.test/").respond(200)
    assert httpx.get("https://c.test/").status_code == 200
    assert "c.test" in SEEN[-1]  # the wrapper ran, under the mock
""")
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=4)


def test_a_wrapper_removed_meanwhile_does_not_come_back(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import httpcore, httpx, pytest

ORIGINAL = httpcore.ConnectionPool.handle_request

class TestWithTracing:
    @pytest.fixture(scope="class", autouse=True)
    def tracing(self):  # installed for this class only, then removed
        def traced(self, request):
            raise RuntimeError("tracing wrapper still installed")
        httpcore.ConnectionPool.handle_request = traced
        yield
        httpcore.ConnectionPool.handle_request = ORIGINAL

    def test_mocked(self, ttfb_mock):
        pass

def test_later_mocked(ttfb_mock):
    ttfb_mock.get("https://b.test/").respond(200)
    assert httpx.get("https://b.test/").status_code == 200

def test_after_that():
    assert httpcore.ConnectionPool.handle_request is ORIGINAL
""")
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)
