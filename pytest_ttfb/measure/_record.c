/* pytest_ttfb.measure._record: a request's in-flight object, and its record, each made
 * in one call.
 *
 * ``new_flight(request, pool, when)`` is ``InFlight(None, request, pool, when)``
 * (inflight.py, the reference): the request's method, the redacted text of its URL
 * (remembered by the URL's parsed form, as ``_url_text`` remembers it), the SDK's retry
 * count when its header is 1 to 9 digits, then the clock. Any other URL or header is
 * read by the reference's own functions, called from here.
 *
 * ``build(flight, clock_offset)`` is ``flight.timing(clock_offset)`` for the usual
 * request: done (``end`` stamped), no stream of events to copy, sent through a watched
 * connection, its method and HTTP version among the usual ones. For any other it calls
 * ``flight.timing(clock_offset)`` itself.
 *
 * ``first_chunk(flight, chunk)`` is ``flight.first_chunk(chunk)``: a body's first chunk
 * stamped, and, for the usual JSON-like body that is not content-encoded, looked at and
 * let go here; a body that may be a stream of events, or is encoded, goes on to the
 * reference's own methods once stamped. ``write_stamper`` makes a network stream's write
 * that stamps its request sent.
 *
 * Built when a C compiler is there; else ``inflight.new_flight``, ``build_record``,
 * ``first_chunk`` and ``write_stamper`` are the reference's (see the README's
 * performance section).
 *
 * Why C, and why not the limited API: in Python, making the in-flight object (25 slots
 * and two header and URL lookups) and building the record (a dataclass of 27 fields: the
 * marks read, subtracted and scaled, 27 arguments stored by its ``__init__``) are each
 * a few hundred bytecodes, together about half of what a watched warm request adds.
 * Here both objects' slots are read and written where they lie, as CPython's own member
 * descriptors do (``PyMember_GetOne``, ``PyMember_SetOne``): ``bind`` takes the offsets
 * from the classes' member descriptors once, after checking each is a plain object slot
 * of that class, and that InFlight and RequestTiming hold those slots and nothing else,
 * so that every slot of an object made here is written. Member descriptors' offsets are
 * not in the limited API, so this module is built for each CPython version (``_delta``
 * is not).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#if defined(PYPY_VERSION)
#error "pytest_ttfb.measure._record is built for CPython only"
#endif
#if defined(Py_GIL_DISABLED)
/* Its slot reads and writes rely on the GIL, as the Python they stand for does; on a
 * free-threaded CPython the build goes on without it (it is optional) and the Python
 * runs, as for ``_delta``. */
#error "pytest_ttfb.measure._record needs the GIL"
#endif

#if PY_VERSION_HEX < 0x030D0000
#define PyObject_GetOptionalAttr _PyObject_LookupAttr
#endif
#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif
#ifndef Py_READONLY
#define Py_READONLY READONLY
#endif

/* The in-flight object's slots: all of them (inflight.InFlight.__slots__). */
enum {
    F_ATTEMPT, F_BUFFERED, F_CONNECT_END, F_CONNECT_START, F_CONNECTION, F_DNS_END, F_END,
    F_ERROR, F_EXTENSIONS, F_FIRST_BODY, F_FIRST_TOKEN, F_HEADERS_AT, F_METHOD, F_POOL,
    F_RECORD, F_RESPONSE_HEADERS, F_SCANNER, F_SENT, F_START, F_STATUS, F_TLS_END, F_UNREAD,
    F_URL, F_VERSION, F_WHEN, FLIGHT_SLOTS
};
static const char *const FLIGHT_NAMES[FLIGHT_SLOTS] = {
    "attempt", "buffered", "connect_end", "connect_start", "connection", "dns_end", "end",
    "error", "extensions", "first_body", "first_token", "headers_at", "method", "pool",
    "record", "response_headers", "scanner", "sent", "start", "status", "tls_end", "unread",
    "url", "version", "when",
};

/* inflight.Connection's. */
enum { C_ID, C_OPENED_BY, CONNECTION_SLOTS };
static const char *const CONNECTION_NAMES[CONNECTION_SLOTS] = {"id", "opened_by"};

/* record.RequestTiming's fields, in order: all of its slots. */
enum {
    R_METHOD, R_URL, R_STATUS, R_HTTP_VERSION, R_REUSED, R_CONNECTION_ID, R_POOL_WAIT_MS,
    R_DNS_MS, R_CONNECT_MS, R_TLS_MS, R_TTFB_MS, R_FIRST_TOKEN_MS, R_TOTAL_MS, R_ERROR,
    R_FIRST_BODY_BYTE_MS, R_ATTEMPT, R_SENT_MS, R_STARTED_AT, R_WHEN, R_POOL,
    R_STARTED_UNIX, R_LATE, R_STREAM, R_CHUNK_MS, R_OUTPUT_TOKENS, R_FIRST_TOKEN_BY_RULE,
    R_BUFFERED, RECORD_SLOTS
};
static const char *const RECORD_NAMES[RECORD_SLOTS] = {
    "method", "url", "status", "http_version", "reused", "connection_id", "pool_wait_ms",
    "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "first_token_ms", "total_ms", "error",
    "first_body_byte_ms", "attempt", "sent_ms", "started_at", "when", "pool",
    "started_unix", "late", "stream", "chunk_ms", "output_tokens", "first_token_by_rule",
    "buffered",
};

/* What ``bind`` found; NULL types until it is called. Kept for good (the classes live
 * as long as the interpreter does). */
static PyTypeObject *flight_type, *connection_type, *record_type;
static Py_ssize_t flight_at[FLIGHT_SLOTS], connection_at[CONNECTION_SLOTS],
    record_at[RECORD_SLOTS];
static PyObject *methods_known, *versions_known;  /* dicts: the one string each */
/* inflight._url_texts (the redacted text of each URL seen, by its parsed form), and the
 * Python functions for anything else: _url_text, _attempt, and the clock. */
static PyObject *url_texts, *url_text, *attempt, *clock_now;
static PyObject *timing_name, *method_name, *url_name, *headers_name, *uri_reference_name,
    *list_name, *first_chunk_name, *refresh_name, *events_name, *decoding_name;

#define SLOT(object, offset) (*(PyObject **)((char *)(object) + (offset)))

/* The offsets of ``count`` slots of ``type`` named ``names``: each must be a writable
 * object slot (``__slots__``) of ``type`` itself. */
static int
offsets_of(PyTypeObject *type, const char *const *names, int count, Py_ssize_t *at)
{
    for (int i = 0; i < count; i++) {
        PyObject *descr = PyObject_GetAttrString((PyObject *)type, names[i]);
        if (descr == NULL) {
            return -1;
        }
        int plain = Py_IS_TYPE(descr, &PyMemberDescr_Type)
                    && ((PyMemberDescrObject *)descr)->d_common.d_type == type
                    && ((PyMemberDescrObject *)descr)->d_member->type == Py_T_OBJECT_EX
                    && !(((PyMemberDescrObject *)descr)->d_member->flags & Py_READONLY);
        if (plain) {
            at[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        }
        Py_DECREF(descr);
        if (!plain) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a plain slot", type->tp_name,
                         names[i]);
            return -1;
        }
    }
    return 0;
}

/* Whether ``type`` holds ``count`` object slots and nothing else (no __dict__, no
 * __weakref__, a plain object below them): every slot of one it makes is written here. */
static int
slots_only(PyTypeObject *type, int count)
{
    if (type->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + count * sizeof(PyObject *))
        || type->tp_dictoffset != 0 || type->tp_weaklistoffset != 0
        || type->tp_base != &PyBaseObject_Type || type->tp_itemsize != 0) {
        PyErr_Format(PyExc_TypeError, "%s is not a class of %d slots", type->tp_name, count);
        return 0;
    }
    return 1;
}

static PyObject *
bind(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9 || !PyType_Check(args[0]) || !PyType_Check(args[1])
        || !PyType_Check(args[2]) || !PyDict_CheckExact(args[3])
        || !PyDict_CheckExact(args[4]) || !PyDict_CheckExact(args[5])
        || !PyCallable_Check(args[6]) || !PyCallable_Check(args[7])
        || !PyCallable_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError,
                        "bind(InFlight, Connection, RequestTiming, methods, versions, "
                        "url_texts, url_text, attempt, clock)");
        return NULL;
    }
    PyTypeObject *flight = (PyTypeObject *)args[0], *connection = (PyTypeObject *)args[1],
                 *record = (PyTypeObject *)args[2];
    if (!slots_only(record, RECORD_SLOTS) || !slots_only(flight, FLIGHT_SLOTS)) {
        return NULL;
    }
    Py_ssize_t at_flight[FLIGHT_SLOTS], at_connection[CONNECTION_SLOTS], at_record[RECORD_SLOTS];
    if (offsets_of(flight, FLIGHT_NAMES, FLIGHT_SLOTS, at_flight) < 0
        || offsets_of(connection, CONNECTION_NAMES, CONNECTION_SLOTS, at_connection) < 0
        || offsets_of(record, RECORD_NAMES, RECORD_SLOTS, at_record) < 0) {
        return NULL;
    }
    memcpy(flight_at, at_flight, sizeof flight_at);
    memcpy(connection_at, at_connection, sizeof connection_at);
    memcpy(record_at, at_record, sizeof record_at);
    Py_XSETREF(flight_type, (PyTypeObject *)Py_NewRef(flight));
    Py_XSETREF(connection_type, (PyTypeObject *)Py_NewRef(connection));
    Py_XSETREF(record_type, (PyTypeObject *)Py_NewRef(record));
    Py_XSETREF(methods_known, Py_NewRef(args[3]));
    Py_XSETREF(versions_known, Py_NewRef(args[4]));
    Py_XSETREF(url_texts, Py_NewRef(args[5]));
    Py_XSETREF(url_text, Py_NewRef(args[6]));
    Py_XSETREF(attempt, Py_NewRef(args[7]));
    Py_XSETREF(clock_now, Py_NewRef(args[8]));
    Py_RETURN_NONE;
}

/* ``inflight._url_text(url)``: the text remembered for the URL's parsed form, else
 * what ``_url_text`` makes of it (and remembers). */
static PyObject *
url_text_of(PyObject *url)
{
    PyObject *key = PyObject_GetAttr(url, uri_reference_name);
    if (key != NULL) {
        PyObject *text = PyDict_GetItemWithError(url_texts, key);
        Py_XINCREF(text);
        Py_DECREF(key);
        if (text != NULL) {
            return text;
        }
    }
    PyErr_Clear();  /* (``_url_text`` asks again, and raises what it should) */
    return PyObject_CallOneArg(url_text, url);
}

/* How many of the (raw name, lower-case name, value) triples of httpx's and httpx2's
 * ``Headers`` (its ``_list``) are named ``name`` (lower-case, ``length`` bytes), the value
 * of the last in ``*value`` (borrowed: the list holds it); -1 (and no exception) when
 * ``triples`` is not a list of such tuples with bytes for their lower-case names. */
static Py_ssize_t
named_in(PyObject *triples, const char *name, Py_ssize_t length, PyObject **value)
{
    if (!PyList_CheckExact(triples)) {
        return -1;
    }
    Py_ssize_t found = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(triples); i++) {
        PyObject *triple = PyList_GET_ITEM(triples, i);
        if (!PyTuple_CheckExact(triple) || PyTuple_GET_SIZE(triple) != 3
            || !PyBytes_CheckExact(PyTuple_GET_ITEM(triple, 1))) {
            return -1;
        }
        PyObject *key = PyTuple_GET_ITEM(triple, 1);
        if (PyBytes_GET_SIZE(key) == length
            && memcmp(PyBytes_AS_STRING(key), name, (size_t)length) == 0) {
            found++;
            *value = PyTuple_GET_ITEM(triple, 2);
        }
    }
    return found;
}

/* ``inflight._attempt(headers)`` for httpx's and httpx2's ``Headers``: its triples read
 * here (``named_in``), and an SDK's retry count when it is one header of 1 to 9 ASCII
 * digits; any other headers, or value (a repeated header is joined by ``_attempt``),
 * are ``_attempt``'s. */
static PyObject *
attempt_of(PyObject *headers)
{
    static const char RETRY_COUNT[] = "x-stainless-retry-count";
    PyObject *triples = PyObject_GetAttr(headers, list_name);
    if (triples == NULL) {
        PyErr_Clear();
        return PyObject_CallOneArg(attempt, headers);
    }
    PyObject *value = NULL;
    Py_ssize_t found =
        named_in(triples, RETRY_COUNT, (Py_ssize_t)(sizeof(RETRY_COUNT) - 1), &value);
    int usual = found == 0 || found == 1;
    long count = 0;
    if (usual && value != NULL) {
        Py_ssize_t size = PyBytes_CheckExact(value) ? PyBytes_GET_SIZE(value) : 0;
        usual = size >= 1 && size <= 9;
        for (Py_ssize_t i = 0; usual && i < size; i++) {
            char digit = PyBytes_AS_STRING(value)[i];
            usual = digit >= '0' && digit <= '9';
            count = count * 10 + (digit - '0');
        }
    }
    Py_DECREF(triples);
    if (!usual) {
        return PyObject_CallOneArg(attempt, headers);
    }
    if (value == NULL) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(count + 1);
}

/* ``InFlight(None, request, pool, when)``, made here: its slots written where they lie. */
static PyObject *
new_flight(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "new_flight(request, pool, when)");
        return NULL;
    }
    if (flight_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "new_flight before bind");
        return NULL;
    }
    PyObject *request = args[0];
    PyObject *in[FLIGHT_SLOTS] = {NULL};
    PyObject *request_url = NULL, *headers = NULL;
    /* In InFlight.__init__'s order: the clock is read last (reading a URL not seen
     * before takes some microseconds, which are not the request's). */
    in[F_METHOD] = PyObject_GetAttr(request, method_name);
    if (in[F_METHOD] == NULL || (request_url = PyObject_GetAttr(request, url_name)) == NULL
        || (in[F_URL] = url_text_of(request_url)) == NULL
        || (headers = PyObject_GetAttr(request, headers_name)) == NULL
        || (in[F_ATTEMPT] = attempt_of(headers)) == NULL
        || (in[F_START] = PyObject_CallNoArgs(clock_now)) == NULL) {
        goto failed;
    }
    Py_CLEAR(request_url);
    Py_CLEAR(headers);
    PyObject *flight = flight_type->tp_alloc(flight_type, 0);
    if (flight == NULL) {
        goto failed;
    }
    in[F_POOL] = Py_NewRef(args[1]);
    in[F_WHEN] = Py_NewRef(args[2]);
    in[F_BUFFERED] = Py_NewRef(Py_False);
    in[F_UNREAD] = Py_NewRef(Py_False);
    for (int i = 0; i < FLIGHT_SLOTS; i++) {
        SLOT(flight, flight_at[i]) = in[i] != NULL ? in[i] : Py_NewRef(Py_None);
    }
    return flight;

failed:
    Py_XDECREF(request_url);
    Py_XDECREF(headers);
    for (int i = 0; i < FLIGHT_SLOTS; i++) {
        Py_XDECREF(in[i]);
    }
    return NULL;
}

/* (mark - start) * 1000.0 as Python computes it, each step rounded to a double (where
 * the FPU computes wider, as x87 does); None for no mark; NULL with an exception. */
static PyObject *
ms_since(double start, PyObject *mark)
{
    if (mark == Py_None) {
        return Py_NewRef(Py_None);
    }
    volatile double since = PyFloat_AS_DOUBLE(mark) - start;
    volatile double ms = since * 1000.0;
    return PyFloat_FromDouble(ms);
}

static int
is_mark(PyObject *value)
{
    return value == Py_None || PyFloat_CheckExact(value);
}

/* The record of a usual request, or NULL with no exception for any other. */
static PyObject *
build_usual(PyObject *flight, PyObject *clock_offset)
{
    PyObject *in[FLIGHT_SLOTS];
    for (int i = 0; i < FLIGHT_SLOTS; i++) {
        in[i] = SLOT(flight, flight_at[i]);
        if (in[i] == NULL) {  /* a slot never set: the reference raises its error */
            return NULL;
        }
    }
    PyObject *connection = in[F_CONNECTION];
    if (in[F_RECORD] != Py_None || in[F_SCANNER] != Py_None || in[F_END] == Py_None
        || !Py_IS_TYPE(connection, connection_type) || !PyFloat_CheckExact(in[F_START])
        || !PyFloat_CheckExact(in[F_END]) || !is_mark(in[F_SENT])
        || !is_mark(in[F_CONNECT_START]) || !is_mark(in[F_DNS_END])
        || !is_mark(in[F_CONNECT_END]) || !is_mark(in[F_TLS_END])
        || !is_mark(in[F_HEADERS_AT]) || !is_mark(in[F_FIRST_BODY])
        || !is_mark(in[F_FIRST_TOKEN]) || !PyUnicode_CheckExact(in[F_METHOD])) {
        return NULL;
    }
    PyObject *id = SLOT(connection, connection_at[C_ID]);
    PyObject *opened_by = SLOT(connection, connection_at[C_OPENED_BY]);
    if (id == NULL || opened_by == NULL) {
        return NULL;
    }
    /* One string per method name and version (the reference interns other methods). */
    PyObject *method = PyDict_GetItemWithError(methods_known, in[F_METHOD]);
    if (method == NULL) {
        return NULL;  /* (str keys: no error can be raised) */
    }
    PyObject *version = in[F_VERSION];
    if (PyBytes_CheckExact(version)) {
        version = PyDict_GetItemWithError(versions_known, version);
        if (version == NULL) {
            return NULL;
        }
    }
    else if (version != Py_None && !PyUnicode_CheckExact(version)) {
        return NULL;
    }

    double start = PyFloat_AS_DOUBLE(in[F_START]);
    int reused = opened_by != flight;
    PyObject *sent = in[F_SENT];
    /* ``sent if reused else self.connect_start or sent`` (a float is false when 0.0). */
    PyObject *waited = sent;
    if (!reused && in[F_CONNECT_START] != Py_None
        && PyFloat_AS_DOUBLE(in[F_CONNECT_START]) != 0.0) {
        waited = in[F_CONNECT_START];
    }
    PyObject *out[RECORD_SLOTS] = {NULL};
    out[R_METHOD] = Py_NewRef(method);
    out[R_URL] = Py_NewRef(in[F_URL]);
    out[R_STATUS] = Py_NewRef(in[F_STATUS]);
    out[R_HTTP_VERSION] = Py_NewRef(version);
    out[R_REUSED] = Py_NewRef(reused ? Py_True : Py_False);
    out[R_CONNECTION_ID] = Py_NewRef(id);
    out[R_POOL_WAIT_MS] = ms_since(start, waited);
    out[R_DNS_MS] = reused ? Py_NewRef(Py_None) : ms_since(start, in[F_DNS_END]);
    out[R_CONNECT_MS] = reused ? Py_NewRef(Py_None) : ms_since(start, in[F_CONNECT_END]);
    out[R_TLS_MS] = reused ? Py_NewRef(Py_None) : ms_since(start, in[F_TLS_END]);
    out[R_TTFB_MS] = ms_since(start, in[F_HEADERS_AT]);
    out[R_FIRST_TOKEN_MS] = ms_since(start, in[F_FIRST_TOKEN]);
    out[R_TOTAL_MS] = ms_since(start, in[F_END]);
    out[R_ERROR] = Py_NewRef(in[F_ERROR]);
    out[R_FIRST_BODY_BYTE_MS] = ms_since(start, in[F_FIRST_BODY]);
    out[R_ATTEMPT] = Py_NewRef(in[F_ATTEMPT]);
    out[R_SENT_MS] = ms_since(start, sent);
    out[R_STARTED_AT] = Py_NewRef(in[F_START]);
    out[R_WHEN] = Py_NewRef(in[F_WHEN]);
    out[R_POOL] = Py_NewRef(in[F_POOL]);
    volatile double unix_start = PyFloat_AS_DOUBLE(clock_offset) + start;
    out[R_STARTED_UNIX] = PyFloat_FromDouble(unix_start);
    out[R_LATE] = Py_NewRef(Py_False);
    out[R_STREAM] = Py_NewRef(Py_None);
    out[R_CHUNK_MS] = Py_NewRef(Py_None);
    out[R_OUTPUT_TOKENS] = Py_NewRef(Py_None);
    out[R_FIRST_TOKEN_BY_RULE] = Py_NewRef(Py_None);
    out[R_BUFFERED] = Py_NewRef(in[F_BUFFERED]);

    PyObject *record = NULL;
    int complete = 1;
    for (int i = 0; i < RECORD_SLOTS; i++) {
        complete &= out[i] != NULL;
    }
    if (complete) {
        record = record_type->tp_alloc(record_type, 0);
    }
    if (record == NULL) {  /* out of memory: the error stands */
        for (int i = 0; i < RECORD_SLOTS; i++) {
            Py_XDECREF(out[i]);
        }
        return NULL;
    }
    for (int i = 0; i < RECORD_SLOTS; i++) {
        SLOT(record, record_at[i]) = out[i];  /* (NULL before: tp_alloc zeroes) */
    }
    /* ``self.record = record``; ``self.extensions = None``. The old values read again
     * here (``tp_alloc`` may have run a garbage collection, and so any code), and let go
     * last, so that their release (which may run any code too) finds the flight
     * complete. */
    PyObject *old_record = SLOT(flight, flight_at[F_RECORD]);
    PyObject *old_extensions = SLOT(flight, flight_at[F_EXTENSIONS]);
    SLOT(flight, flight_at[F_RECORD]) = Py_NewRef(record);
    SLOT(flight, flight_at[F_EXTENSIONS]) = Py_NewRef(Py_None);
    Py_XDECREF(old_record);
    Py_XDECREF(old_extensions);
    return record;
}

/* A network stream's write, stamped: ``state`` is (current, write, connection). As
 * ``_async.AsyncTimingNetworkStream.write`` (the reference): the request in flight (the
 * context variable ``current``) is stamped sent, and its connection named if it has
 * none, at its first write; then the stream's own write is called with the same
 * arguments, and what it returns (in async code, its awaitable) is returned. */
static PyObject *
stamped_write(PyObject *state, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *write = PyTuple_GET_ITEM(state, 1), *connection = PyTuple_GET_ITEM(state, 2);
    PyObject *request;
    if (PyContextVar_Get(PyTuple_GET_ITEM(state, 0), Py_None, &request) < 0) {
        return NULL;
    }
    int failed = 0;
    if (request != Py_None && Py_IS_TYPE(request, flight_type)
        && SLOT(request, flight_at[F_SENT]) != NULL
        && SLOT(request, flight_at[F_CONNECTION]) != NULL) {
        if (SLOT(request, flight_at[F_SENT]) == Py_None) {
            PyObject *now = PyObject_CallNoArgs(clock_now);
            failed = now == NULL;
            if (!failed) {  /* (read again: the clock may have run any code) */
                PyObject *sent = SLOT(request, flight_at[F_SENT]);
                SLOT(request, flight_at[F_SENT]) = now;
                Py_XDECREF(sent);
                PyObject *had = SLOT(request, flight_at[F_CONNECTION]);
                if (had == Py_None || had == NULL) {
                    SLOT(request, flight_at[F_CONNECTION]) = Py_NewRef(connection);
                    Py_XDECREF(had);
                }
            }
        }
    }
    else if (request != Py_None) {  /* any other object: as the reference asks it */
        PyObject *sent = PyObject_GetAttrString(request, "sent");
        failed = sent == NULL;
        if (sent == Py_None) {
            PyObject *now = PyObject_CallNoArgs(clock_now);
            failed = now == NULL || PyObject_SetAttrString(request, "sent", now) < 0;
            Py_XDECREF(now);
            PyObject *had = failed ? NULL : PyObject_GetAttrString(request, "connection");
            failed |= !failed && had == NULL;
            if (had == Py_None) {
                failed = PyObject_SetAttrString(request, "connection", connection) < 0;
            }
            Py_XDECREF(had);
        }
        Py_XDECREF(sent);
    }
    Py_DECREF(request);
    if (failed) {
        return NULL;
    }
    return PyObject_Vectorcall(write, args, (size_t)nargs, kwnames);
}

static PyMethodDef stamped_write_def = {
    "write", (PyCFunction)(void (*)(void))stamped_write, METH_FASTCALL | METH_KEYWORDS,
    "The stream's write, its request stamped sent at its first write."};

static PyObject *
write_stamper(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyContextVar_CheckExact(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "write_stamper(current, write, connection)");
        return NULL;
    }
    if (flight_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "write_stamper before bind");
        return NULL;
    }
    PyObject *state = PyTuple_Pack(3, args[0], args[1], args[2]);
    if (state == NULL) {
        return NULL;
    }
    PyObject *stamped = PyCFunction_New(&stamped_write_def, state);
    Py_DECREF(state);
    return stamped;
}

/* Whether httpx's or httpx2's ``Headers`` ``headers`` has no header ``content-encoding``:
 * 1 when its triples (``named_in``) have none of that name; 0 when they have one, or
 * are of any other shape (``_decoding`` then reads them); -1 with an exception. */
static int
not_encoded(PyObject *headers)
{
    static const char CONTENT_ENCODING[] = "content-encoding";
    PyObject *triples, *value = NULL;
    if (PyObject_GetOptionalAttr(headers, list_name, &triples) < 0) {
        return -1;
    }
    int none = triples != NULL
               && named_in(triples, CONTENT_ENCODING,
                           (Py_ssize_t)(sizeof(CONTENT_ENCODING) - 1), &value) == 0;
    Py_XDECREF(triples);
    return none;
}

/* ``flight.first_chunk(chunk)`` (inflight.py, the reference): the first body byte
 * stamped, the record refreshed if there is one, and for a body whose first bytes (past
 * a byte-order mark and line ends) are no event field's, and whose headers say it is
 * not content-encoded, the usual JSON-like body, the headers let go and None. A body
 * that may be a stream of events goes to ``flight._events(chunk)``, an encoded one (or
 * headers of another shape) to ``flight._decoding(chunk)``, once stamped; anything but
 * an InFlight and bytes to ``flight.first_chunk(chunk)`` itself. */
static PyObject *
first_chunk(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "first_chunk(flight, chunk)");
        return NULL;
    }
    PyObject *flight = args[0], *chunk = args[1];
    if (flight_type == NULL || !Py_IS_TYPE(flight, flight_type) || !PyBytes_CheckExact(chunk)
        || SLOT(flight, flight_at[F_RECORD]) == NULL) {
        return PyObject_CallMethodOneArg(flight, first_chunk_name, chunk);
    }
    PyObject *now = PyObject_CallNoArgs(clock_now);
    if (now == NULL) {
        return NULL;
    }
    Py_XSETREF(SLOT(flight, flight_at[F_FIRST_BODY]), now);
    PyObject *record = SLOT(flight, flight_at[F_RECORD]);
    if (record == NULL) {  /* (deleted by what the clock ran) */
        PyErr_SetString(PyExc_AttributeError, "record");
        return NULL;
    }
    if (record != Py_None) {
        PyObject *refreshed = PyObject_CallMethodNoArgs(flight, refresh_name);
        if (refreshed == NULL) {
            return NULL;
        }
        Py_DECREF(refreshed);
    }
    const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(chunk);
    Py_ssize_t size = PyBytes_GET_SIZE(chunk), at = 0;
    while (at < size && (bytes[at] == 0xEF || bytes[at] == 0xBB || bytes[at] == 0xBF
                         || bytes[at] == '\r' || bytes[at] == '\n')) {
        at++;
    }
    /* scanner.FIELD_INITIALS: what an event field may start with */
    if (at == size || memchr("edir:", bytes[at], 5) != NULL) {
        return PyObject_CallMethodOneArg(flight, events_name, chunk);
    }
    /* As ``_decoding``: the headers let go first, then read (and so let go even if
     * reading them raises); put back for ``_decoding`` if they are not the usual
     * unencoded ones (a foreign ``_list`` is then read twice). */
    PyObject *headers = SLOT(flight, flight_at[F_RESPONSE_HEADERS]);
    if (headers == NULL) {  /* deleted: ``_decoding`` raises as it should */
        return PyObject_CallMethodOneArg(flight, decoding_name, chunk);
    }
    SLOT(flight, flight_at[F_RESPONSE_HEADERS]) = Py_NewRef(Py_None);
    int plain = headers == Py_None ? 1 : not_encoded(headers);
    if (plain == 0) {
        Py_XSETREF(SLOT(flight, flight_at[F_RESPONSE_HEADERS]), headers);
        return PyObject_CallMethodOneArg(flight, decoding_name, chunk);
    }
    Py_DECREF(headers);
    if (plain < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
build(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "build(flight, clock_offset)");
        return NULL;
    }
    PyObject *flight = args[0], *clock_offset = args[1];
    if (flight_type != NULL && Py_IS_TYPE(flight, flight_type)
        && PyFloat_CheckExact(clock_offset)) {
        PyObject *record = build_usual(flight, clock_offset);
        if (record != NULL || PyErr_Occurred()) {
            return record;
        }
    }
    return PyObject_CallMethodOneArg(flight, timing_name, clock_offset);
}

static PyMethodDef methods[] = {
    {"bind", (PyCFunction)(void (*)(void))bind, METH_FASTCALL,
     "bind(InFlight, Connection, RequestTiming, methods, versions): the classes whose "
     "slots new_flight and build write and read, the one string of each usual method "
     "and version, inflight's remembered URL texts, and what to call for anything else."},
    {"new_flight", (PyCFunction)(void (*)(void))new_flight, METH_FASTCALL,
     "new_flight(request, pool, when): InFlight(None, request, pool, when), made here."},
    {"write_stamper", (PyCFunction)(void (*)(void))write_stamper, METH_FASTCALL,
     "write_stamper(current, write, connection): a network stream's write that stamps "
     "the request in flight sent (and its connection) at its first write."},
    {"first_chunk", (PyCFunction)(void (*)(void))first_chunk, METH_FASTCALL,
     "first_chunk(flight, chunk): flight.first_chunk(chunk), the usual JSON-like body's "
     "first chunk stamped and looked at here."},
    {"build", (PyCFunction)(void (*)(void))build, METH_FASTCALL,
     "build(flight, clock_offset): flight.timing(clock_offset), the usual request's "
     "record built here."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_record", "A finished request's record, built in one call.",
    0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__record(void)
{
    /* kept for good */
    timing_name = PyUnicode_InternFromString("timing");
    method_name = PyUnicode_InternFromString("method");
    url_name = PyUnicode_InternFromString("url");
    headers_name = PyUnicode_InternFromString("headers");
    uri_reference_name = PyUnicode_InternFromString("_uri_reference");
    list_name = PyUnicode_InternFromString("_list");
    first_chunk_name = PyUnicode_InternFromString("first_chunk");
    refresh_name = PyUnicode_InternFromString("refresh");
    events_name = PyUnicode_InternFromString("_events");
    decoding_name = PyUnicode_InternFromString("_decoding");
    if (timing_name == NULL || method_name == NULL || url_name == NULL
        || headers_name == NULL || uri_reference_name == NULL || list_name == NULL
        || first_chunk_name == NULL || refresh_name == NULL || events_name == NULL
        || decoding_name == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
