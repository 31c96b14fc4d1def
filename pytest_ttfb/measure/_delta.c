/* pytest_ttfb.measure._delta: is one read of a stream exactly one Anthropic delta event?
 *
 * The compiled twin of ``scanner._is_delta_event`` (which CI checks it against, byte for
 * byte, on generated reads). It runs once a chunk of a long stream, where CPython's own
 * bytes methods cost more than the check: ``startswith`` and ``find`` parse a tuple of
 * arguments per call, and ``removeprefix``/``removesuffix`` copy. Built when a C
 * compiler is there; else the Python twin runs (see the README's performance section).
 *
 * The read must be: exact ``bytes``; ``DELTA_LINE``; one non-empty line holding no CR or
 * LF; ``EVENT_END``. Reads only within the object's bytes; keeps no reference.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* scanner.DELTA_LINE and scanner.EVENT_END */
static const char DELTA_LINE[] = "event: content_block_delta\n";
#define DELTA_LINE_LENGTH ((Py_ssize_t)(sizeof(DELTA_LINE) - 1))
#define EVENT_END_LENGTH 2

static PyObject *
is_delta_event(PyObject *module, PyObject *chunk)
{
    char *data;
    Py_ssize_t size;

    if (!PyBytes_CheckExact(chunk)) {
        Py_RETURN_FALSE;
    }
    if (PyBytes_AsStringAndSize(chunk, &data, &size) < 0) {
        return NULL;
    }
    /* the event line, at least one byte of the data line, the blank line */
    if (size < DELTA_LINE_LENGTH + 1 + EVENT_END_LENGTH
        || memcmp(data, DELTA_LINE, (size_t)DELTA_LINE_LENGTH) != 0
        || data[size - 1] != '\n' || data[size - 2] != '\n') {
        Py_RETURN_FALSE;
    }
    const char *line = data + DELTA_LINE_LENGTH;
    size_t length = (size_t)(size - DELTA_LINE_LENGTH - EVENT_END_LENGTH);
    if (memchr(line, '\n', length) != NULL || memchr(line, '\r', length) != NULL) {
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"is_delta_event", is_delta_event, METH_O,
     "Whether a read is exactly one whole content_block_delta event."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_delta",
    "The per-chunk check of a steady Anthropic stream, compiled.",
    0,
    methods,
};

PyMODINIT_FUNC
PyInit__delta(void)
{
    return PyModule_Create(&module);
}
