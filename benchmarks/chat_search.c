/* The Chat Completions check's two searches, timed alone: glibc's memmem against the
 * ones in pytest_ttfb/measure/_delta.c (a memchr walk over underscores for the usage
 * key; a backwards Horspool search for "content"), on the line benchmarks/_servers.py
 * sends (CHAT_DELTA without its blank line).
 *
 *     gcc -O2 benchmarks/chat_search.c -o /tmp/chat_search && /tmp/chat_search
 *
 * Copies of _delta.c's functions, kept short; tests/test_delta_checks.py tests the
 * real ones. Figures in benchmarks/PROFILE.md (eighth pass). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char LINE[] =
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},"
    "\"finish_reason\":null}]}";
static const char USAGE[] = "\"completion_tokens\"";
static const char CONTENT[] = "\"content\"";
static unsigned char shift[256];

static long
walk_usage(const char *line, long length)
{
    const long before = 11, after = (long)sizeof(USAGE) - 1 - before;
    long from = before;
    while (from + after <= length) {
        const char *hit = memchr(line + from, '_', (size_t)(length - after + 1 - from));
        if (hit == NULL) {
            return -1;
        }
        if (memcmp(hit - before, USAGE, sizeof(USAGE) - 1) == 0) {
            return hit - before - line;
        }
        from = hit - line + 1;
    }
    return -1;
}

static long
rfind_content(const char *text, long end)
{
    const long size = (long)sizeof(CONTENT) - 1;
    for (long at = end - size; at >= 0; at -= shift[(unsigned char)text[at]]) {
        if (text[at] == CONTENT[0] && memcmp(text + at + 1, CONTENT + 1, (size_t)size - 1) == 0) {
            return at;
        }
    }
    return -1;
}

static double
seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

volatile long sink;

#define ROUNDS 10000000L
#define TIME(name, expression)                                                          \
    do {                                                                                \
        double best = 1e9;                                                              \
        for (int repeat = 0; repeat < 5; repeat++) {                                    \
            long total = 0;                                                             \
            double started = seconds();                                                 \
            for (long i = 0; i < ROUNDS; i++) {                                         \
                const char *line = text;                                                \
                total += (long)(expression);                                            \
            }                                                                           \
            sink = total;                                                               \
            double each = (seconds() - started) / ROUNDS * 1e9;                         \
            best = each < best ? each : best;                                           \
        }                                                                               \
        printf("%-40s %5.1f ns\n", name, best);                                         \
    } while (0)

int
main(void)
{
    const char *volatile text = LINE;
    const long length = (long)sizeof(LINE) - 1;
    const long size = (long)sizeof(CONTENT) - 1;
    memset(shift, (int)size, sizeof(shift));
    for (long at = size - 1; at >= 1; at--) {
        shift[(unsigned char)CONTENT[at]] = (unsigned char)at;
    }
    const char *found = memmem(text, (size_t)length, CONTENT, (size_t)size);
    printf("line of %ld bytes; \"content\" at %ld (memmem), %ld (backwards); usage key %s, %s\n",
           length, found == NULL ? -1L : (long)(found - text), rfind_content(text, length),
           memmem(text, (size_t)length, USAGE, sizeof(USAGE) - 1) ? "found" : "absent",
           walk_usage(text, length) >= 0 ? "found" : "absent");
    TIME("usage key, memmem", memmem(line, (size_t)length, USAGE, sizeof(USAGE) - 1) != NULL);
    TIME("usage key, underscore walk", walk_usage(line, length));
    TIME("\"content\", memmem", memmem(line, (size_t)length, CONTENT, (size_t)size) != NULL);
    TIME("\"content\", backwards Horspool", rfind_content(line, length));
    return 0;
}
