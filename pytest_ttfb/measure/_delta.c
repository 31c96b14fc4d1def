/* pytest_ttfb.measure._delta: is one read of a stream exactly one content event? If so,
 * stamp it.
 *
 * The compiled twins of ``scanner._is_delta_event``, ``_is_output_delta_event`` and
 * ``_is_chat_content_event`` (which CI checks them against on generated reads). They run
 * once a chunk of a long stream, where CPython's own bytes methods cost more than the
 * check: ``startswith`` and ``find`` parse a tuple of arguments per call,
 * ``removeprefix``/``removesuffix`` copy, and a regular expression search sets up a
 * matcher. Built when a C compiler is there; else the Python twins run (see the
 * README's performance section).
 *
 * Each says yes only to exact ``bytes`` holding one whole event of one line: a
 * prefix (the event line, or nothing), a non-empty line holding no CR or LF, then
 * "\n\n". Reads only within the object's bytes; keeps no reference; never raises.
 *
 * ``stamper`` binds one of them to a stream's chunk times: the byte stream calls what it
 * returns once a read, and the check, the clock read and the append all happen here, in
 * one call from Python (``scanner._stamper`` is its twin).
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#if defined(__linux__)
#include <time.h>
#endif

#if defined(PYPY_VERSION)
/* PyPy runs extension modules through its emulation of CPython's API (cpyext), whose
 * calls are dear, and its JIT runs the Python twins; aio-libs skip their extensions
 * there too (not measured here). The build goes on without this module (it is
 * optional) and the twins run. */
#error "pytest_ttfb.measure._delta is built for CPython only"
#endif

/* scanner.DELTA_LINE, scanner.OUTPUT_DELTA_LINES and scanner.EVENT_END */
static const char DELTA_LINE[] = "event: content_block_delta\n";
static const char OUTPUT_TEXT_LINE[] = "event: response.output_text.delta\n";
static const char ARGUMENTS_LINE[] = "event: response.function_call_arguments.delta\n";
#define LENGTH(literal) ((Py_ssize_t)(sizeof(literal) - 1))
#define EVENT_END_LENGTH 2

/* The line after ``prefix`` in ``chunk``, when ``chunk`` is exactly ``prefix``, a
 * non-empty line with no CR or LF, and "\n\n"; else NULL. */
static const char *
one_line(PyObject *chunk, const char *prefix, Py_ssize_t prefix_length, Py_ssize_t *length)
{
    char *data;
    Py_ssize_t size;

    if (!PyBytes_CheckExact(chunk) || PyBytes_AsStringAndSize(chunk, &data, &size) < 0) {
        return NULL;  /* (cannot fail for exact bytes) */
    }
    if (size < prefix_length + 1 + EVENT_END_LENGTH
        || memcmp(data, prefix, (size_t)prefix_length) != 0
        || data[size - 1] != '\n' || data[size - 2] != '\n') {
        return NULL;
    }
    const char *line = data + prefix_length;
    *length = size - prefix_length - EVENT_END_LENGTH;
    if (memchr(line, '\n', (size_t)*length) != NULL
        || memchr(line, '\r', (size_t)*length) != NULL) {
        return NULL;
    }
    return line;
}

static int
delta_event(PyObject *chunk)
{
    Py_ssize_t length;
    return one_line(chunk, DELTA_LINE, LENGTH(DELTA_LINE), &length) != NULL;
}

static int
output_delta_event(PyObject *chunk)
{
    Py_ssize_t length;
    return one_line(chunk, OUTPUT_TEXT_LINE, LENGTH(OUTPUT_TEXT_LINE), &length) != NULL
           || one_line(chunk, ARGUMENTS_LINE, LENGTH(ARGUMENTS_LINE), &length) != NULL;
}

/* The Chat Completions check's searches, in a line of about 150-250 bytes whose keys sit
 * in its second half. glibc's memmem took 26-30 ns a search on the benchmark's chunk,
 * these take a fraction of that (benchmarks/chat_search.c), and they need no memmem. */

/* Whether the line holds "completion_tokens" (quoted): a memchr walk over its
 * underscores, which a JSON line has few of, comparing the key round each. */
static int
has_usage_key(const char *line, Py_ssize_t length)
{
    static const char USAGE[] = "\"completion_tokens\"";
    const Py_ssize_t before = 11;                       /* USAGE's bytes before its '_' */
    const Py_ssize_t after = LENGTH(USAGE) - before;    /* the '_' and the 7 after it */
    Py_ssize_t from = before;
    while (from + after <= length) {
        const char *hit = memchr(line + from, '_', (size_t)(length - after + 1 - from));
        if (hit == NULL) {
            return 0;
        }
        if (memcmp(hit - before, USAGE, (size_t)LENGTH(USAGE)) == 0) {
            return 1;
        }
        from = hit - line + 1;
    }
    return 0;
}

/* A key to find backwards (Horspool's search, mirrored): for each byte, how far to move
 * the key left when the byte under its first one is that byte (where the byte first
 * occurs in the key after its first one, else the key's length). Made at import. */
typedef struct {
    const char *text;
    Py_ssize_t size;
    unsigned char shift[256];
} search_key;

static search_key CONTENT_KEY = {"\"content\"", LENGTH("\"content\""), {0}};
static search_key TOOL_CALLS_KEY = {"\"tool_calls\"", LENGTH("\"tool_calls\""), {0}};

static void
make_shifts(search_key *key)
{
    memset(key->shift, (int)key->size, sizeof(key->shift));
    for (Py_ssize_t at = key->size - 1; at >= 1; at--) {
        key->shift[(unsigned char)key->text[at]] = (unsigned char)at;
    }
}

/* Where ``key`` last starts in text[0:end] (so that it ends by ``end``), or -1. */
static Py_ssize_t
rfind_key(const char *text, Py_ssize_t end, const search_key *key)
{
    Py_ssize_t at = end - key->size;
    while (at >= 0) {
        if (text[at] == key->text[0]
            && memcmp(text + at + 1, key->text + 1, (size_t)(key->size - 1)) == 0) {
            return at;
        }
        at -= key->shift[(unsigned char)text[at]];
    }
    return -1;
}

/* Past the whitespace a bytes pattern's ``\s`` matches (ASCII: space, \t\n\v\f\r). */
static Py_ssize_t
skip_space(const char *text, Py_ssize_t length, Py_ssize_t at)
{
    while (at < length && (text[at] == ' ' || (text[at] >= '\t' && text[at] <= '\r'))) {
        at++;
    }
    return at;
}

/* Whether text[at:] starts with ``\s*:\s*`` then ``opening``, then (when ``then`` is
 * not 0) ``\s*`` and ``then``; or (``then`` 0) one more byte that is not a quote.
 * scanner._CHAT_CONTENT's two alternatives, after their key. */
static int
value_follows(const char *text, Py_ssize_t length, Py_ssize_t at, char opening, char then)
{
    at = skip_space(text, length, at);
    if (at >= length || text[at] != ':') {
        return 0;
    }
    at = skip_space(text, length, at + 1);
    if (at >= length || text[at] != opening) {
        return 0;
    }
    if (then == 0) {
        return at + 1 < length && text[at + 1] != '"';
    }
    at = skip_space(text, length, at + 1);
    return at < length && text[at] == then;
}

/* Whether some occurrence of ``key`` in the line is followed as ``value_follows`` says
 * (every occurrence is tried, last first: the order cannot change the answer). */
static int
has_key_then(const char *line, Py_ssize_t length, const search_key *key, char opening, char then)
{
    for (Py_ssize_t at = rfind_key(line, length, key); at >= 0;
         at = rfind_key(line, at + key->size - 1, key)) {
        if (value_follows(line, length, at + key->size, opening, then)) {
            return 1;
        }
    }
    return 0;
}

static int
chat_content_event(PyObject *chunk)
{
    Py_ssize_t length;
    const char *line = one_line(chunk, "", 0, &length);
    if (line == NULL || has_usage_key(line, length)) {
        return 0;
    }
    return has_key_then(line, length, &CONTENT_KEY, '"', 0)
           || has_key_then(line, length, &TOOL_CALLS_KEY, '[', '{');
}

/* The checks, as the module's functions. */

static PyObject *
is_delta_event(PyObject *module, PyObject *chunk)
{
    (void)module;
    return PyBool_FromLong(delta_event(chunk));
}

static PyObject *
is_output_delta_event(PyObject *module, PyObject *chunk)
{
    (void)module;
    return PyBool_FromLong(output_delta_event(chunk));
}

static PyObject *
is_chat_content_event(PyObject *module, PyObject *chunk)
{
    (void)module;
    return PyBool_FromLong(chat_content_event(chunk));
}

/* time.perf_counter, which a stamper on Linux reads as CPython does (CLOCK_MONOTONIC,
 * nanoseconds made seconds as _PyTime_AsSecondsDouble makes them: the very same
 * float) rather than through a call. Any other clock (a test's stand-in) is called. */
static PyObject *perf_counter;

/* A stamper's state, the ``self`` of the function ``stamper`` returns:
 * (clock, or None for perf_counter read directly; append; start; check). */
enum { CLOCK, APPEND, START, CHECK };

/* Append (clock() - start) * 1000.0 through ``append``: 0, or -1 with an error set. */
static int
stamp(PyObject *state)
{
    PyObject *clock = PyTuple_GetItem(state, CLOCK);
    /* volatile, as in CPython's _PyTime_AsSecondsDouble and as Python's own float
     * arithmetic stores each result: every step rounded to a double even where the FPU
     * computes wider (x87, on 32-bit x86), so the chunk time is the very float that
     * (perf_counter() - start) * 1000.0 would be. */
    volatile double now;
#if defined(__linux__)
    struct timespec spec;
    if (clock == Py_None && clock_gettime(CLOCK_MONOTONIC, &spec) == 0) {
        long long ns = (long long)spec.tv_sec * 1000000000LL + spec.tv_nsec;
        if (ns % 1000000000LL == 0) {
            now = (double)(ns / 1000000000LL);
        }
        else {
            now = (double)ns;
            now /= 1e9;
        }
    }
    else
#endif
    {
        if (clock == Py_None) {  /* clock_gettime failed: perf_counter raises as CPython does */
            clock = perf_counter;
        }
        PyObject *value = PyObject_CallNoArgs(clock);
        if (value == NULL) {
            return -1;
        }
        now = PyFloat_AsDouble(value);
        Py_DECREF(value);
        if (now == -1.0 && PyErr_Occurred()) {
            return -1;
        }
    }
    volatile double elapsed = now - PyFloat_AsDouble(PyTuple_GetItem(state, START));
    volatile double elapsed_ms = elapsed * 1000.0;
    PyObject *ms = PyFloat_FromDouble(elapsed_ms);
    if (ms == NULL) {
        return -1;
    }
    PyObject *done = PyObject_CallFunctionObjArgs(PyTuple_GetItem(state, APPEND), ms, NULL);
    Py_DECREF(ms);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    return 0;
}

/* A stamper's answer for a read its check said ``yes`` (1) or no (0) to, stamping it
 * when yes. */
static PyObject *
stamp_if(PyObject *state, int yes)
{
    if (!yes) {
        Py_RETURN_FALSE;
    }
    if (stamp(state) < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

static PyObject *
stamp_delta_event(PyObject *state, PyObject *chunk)
{
    return stamp_if(state, delta_event(chunk));
}

static PyObject *
stamp_output_delta_event(PyObject *state, PyObject *chunk)
{
    return stamp_if(state, output_delta_event(chunk));
}

static PyObject *
stamp_chat_content_event(PyObject *state, PyObject *chunk)
{
    return stamp_if(state, chat_content_event(chunk));
}

/* Any other check (a Python function): called, its answer taken as true or false. */
static PyObject *
stamp_checked(PyObject *state, PyObject *chunk)
{
    PyObject *answer = PyObject_CallFunctionObjArgs(PyTuple_GetItem(state, CHECK), chunk, NULL);
    if (answer == NULL) {
        return NULL;
    }
    int yes = PyObject_IsTrue(answer);
    Py_DECREF(answer);
    if (yes < 0) {
        return NULL;
    }
    return stamp_if(state, yes);
}

#define STAMP_DOC "Whether a read is one whole content event; if so, its chunk time is appended."
static PyMethodDef stamp_delta_def = {"stamp", stamp_delta_event, METH_O, STAMP_DOC};
static PyMethodDef stamp_output_delta_def = {"stamp", stamp_output_delta_event, METH_O, STAMP_DOC};
static PyMethodDef stamp_chat_def = {"stamp", stamp_chat_content_event, METH_O, STAMP_DOC};
static PyMethodDef stamp_checked_def = {"stamp", stamp_checked, METH_O, STAMP_DOC};

static PyObject *
stamper(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "stamper(check, clock, append, start) takes 4 arguments");
        return NULL;
    }
    PyObject *check = args[0], *clock = args[1], *append = args[2];
    double start = PyFloat_AsDouble(args[3]);
    if (start == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    PyMethodDef *def = &stamp_checked_def;
    if (PyCFunction_Check(check)) {
        PyCFunction function = PyCFunction_GetFunction(check);
        if (function == is_delta_event) {
            def = &stamp_delta_def;
        }
        else if (function == is_output_delta_event) {
            def = &stamp_output_delta_def;
        }
        else if (function == is_chat_content_event) {
            def = &stamp_chat_def;
        }
    }
#if defined(__linux__)
    if (clock == perf_counter) {
        clock = Py_None;
    }
#endif
    PyObject *start_value = PyFloat_FromDouble(start);
    if (start_value == NULL) {
        return NULL;
    }
    PyObject *state = PyTuple_Pack(4, clock, append, start_value, check);
    Py_DECREF(start_value);
    if (state == NULL) {
        return NULL;
    }
    PyObject *bound = PyCFunction_NewEx(def, state, NULL);
    Py_DECREF(state);
    return bound;
}

static PyMethodDef methods[] = {
    {"is_delta_event", is_delta_event, METH_O,
     "Whether a read is exactly one whole content_block_delta event (Anthropic)."},
    {"is_output_delta_event", is_output_delta_event, METH_O,
     "Whether a read is exactly one whole output text or tool-call arguments delta event "
     "(OpenAI Responses)."},
    {"is_chat_content_event", is_chat_content_event, METH_O,
     "Whether a read is exactly one whole one-line event with content or tool calls and "
     "no usage report (OpenAI Chat Completions)."},
    {"stamper", (PyCFunction)(void (*)(void))stamper, METH_FASTCALL,
     "stamper(check, clock, append, start): a function of one read that says whether "
     "check(read) holds and, when it does, calls append((clock() - start) * 1000.0)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_delta",
    "The per-chunk checks of a steady stream, compiled.",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__delta(void)
{
    make_shifts(&CONTENT_KEY);
    make_shifts(&TOOL_CALLS_KEY);
    PyObject *time = PyImport_ImportModule("time");
    if (time == NULL) {
        return NULL;
    }
    perf_counter = PyObject_GetAttrString(time, "perf_counter");  /* kept for good */
    Py_DECREF(time);
    if (perf_counter == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
