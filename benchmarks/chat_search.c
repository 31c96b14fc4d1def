/* The Chat Completions check's two searches, timed alone: glibc's memmem against the
 * ones in pytest_ttfb/measure/_delta.c (has_usage_key, a memchr walk over underscores
 * for the usage key; rfind_key, a backwards Horspool search for "content"), on the line
 * benchmarks/_servers.py sends (CHAT_DELTA without its blank line). It includes the
 * module's own source, so the functions timed are the ones that run:
 *
 *     gcc -O2 $(python3-config --includes) benchmarks/chat_search.c \
 *         $(python3-config --embed --ldflags) -o /tmp/chat_search && /tmp/chat_search
 *
 * Figures in benchmarks/PROFILE.md (eighth pass). */
#define _GNU_SOURCE
#include "../pytest_ttfb/measure/_delta.c"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char LINE[] =
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},"
    "\"finish_reason\":null}]}";
static const char USAGE[] = "\"completion_tokens\"";

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
    const search_key *content = &CONTENT_KEY;
    make_shifts(&CONTENT_KEY);
    const char *found = memmem(text, (size_t)length, content->text, (size_t)content->size);
    printf("line of %ld bytes; \"content\" at %ld (memmem), %ld (backwards); usage key %s, %s\n",
           length, found == NULL ? -1L : (long)(found - text),
           (long)rfind_key(text, length, content),
           memmem(text, (size_t)length, USAGE, sizeof(USAGE) - 1) ? "found" : "absent",
           has_usage_key(text, length) ? "found" : "absent");
    TIME("usage key, memmem", memmem(line, (size_t)length, USAGE, sizeof(USAGE) - 1) != NULL);
    TIME("usage key, underscore walk", has_usage_key(line, length));
    TIME("\"content\", memmem",
         memmem(line, (size_t)length, content->text, (size_t)content->size) != NULL);
    TIME("\"content\", backwards Horspool", rfind_key(line, length, content));
    return 0;
}
