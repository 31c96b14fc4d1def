/* pytest_ttfb.measure._delta: is one read of a stream exactly one content event?
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
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

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

static PyObject *
is_delta_event(PyObject *module, PyObject *chunk)
{
    (void)module;
    Py_ssize_t length;
    return PyBool_FromLong(one_line(chunk, DELTA_LINE, LENGTH(DELTA_LINE), &length) != NULL);
}

static PyObject *
is_output_delta_event(PyObject *module, PyObject *chunk)
{
    (void)module;
    Py_ssize_t length;
    return PyBool_FromLong(
        one_line(chunk, OUTPUT_TEXT_LINE, LENGTH(OUTPUT_TEXT_LINE), &length) != NULL
        || one_line(chunk, ARGUMENTS_LINE, LENGTH(ARGUMENTS_LINE), &length) != NULL);
}

/* Where ``needle`` first occurs in text[from:length], or -1: memmem on glibc, macOS and
 * FreeBSD (it is not C99; musl and the other BSDs have it too, but no macro tells musl
 * apart), else memchr and memcmp. CI (glibc) tests only the memmem branch: check a change
 * to the other with the #if forced off. */
static Py_ssize_t
find(const char *text, Py_ssize_t length, Py_ssize_t from, const char *needle, Py_ssize_t size)
{
#if defined(__GLIBC__) || defined(__APPLE__) || defined(__FreeBSD__)
    /* (Python.h defines _GNU_SOURCE, which glibc asks for memmem) */
    if (from + size > length) {
        return -1;
    }
    const char *hit = memmem(text + from, (size_t)(length - from), needle, (size_t)size);
    return hit == NULL ? -1 : hit - text;
#else
    while (from + size <= length) {
        const char *hit = memchr(text + from, needle[0], (size_t)(length - size - from + 1));
        if (hit == NULL) {
            return -1;
        }
        Py_ssize_t at = hit - text;
        if (memcmp(hit, needle, (size_t)size) == 0) {
            return at;
        }
        from = at + 1;
    }
    return -1;
#endif
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

static int
has_key_then(const char *line, Py_ssize_t length, const char *key, Py_ssize_t key_length,
             char opening, char then)
{
    for (Py_ssize_t at = find(line, length, 0, key, key_length); at >= 0;
         at = find(line, length, at + 1, key, key_length)) {
        if (value_follows(line, length, at + key_length, opening, then)) {
            return 1;
        }
    }
    return 0;
}

static PyObject *
is_chat_content_event(PyObject *module, PyObject *chunk)
{
    static const char CONTENT[] = "\"content\"";
    static const char TOOL_CALLS[] = "\"tool_calls\"";
    static const char USAGE[] = "\"completion_tokens\"";
    (void)module;
    Py_ssize_t length;
    const char *line = one_line(chunk, "", 0, &length);
    if (line == NULL || find(line, length, 0, USAGE, LENGTH(USAGE)) >= 0) {
        Py_RETURN_FALSE;
    }
    return PyBool_FromLong(
        has_key_then(line, length, CONTENT, LENGTH(CONTENT), '"', 0)
        || has_key_then(line, length, TOOL_CALLS, LENGTH(TOOL_CALLS), '[', '{'));
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
    return PyModule_Create(&module);
}
