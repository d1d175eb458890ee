/* test_reload.c — hot reload: engines swapped again and again while a
 * stream is being scored; every record gets exactly one verdict, none is
 * lost or scored twice, and the old engines are freed (ASan watches). Also
 * the compiled-database cache: a cached load gives the same engine, and a
 * cache file that is truncated, corrupted or from elsewhere is rebuilt. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define LINES 20000

typedef struct {
    fz_engine_slot *slot;
    volatile int stop;
    volatile int swaps;
    char cache[64];
} reloader_arg;

typedef struct {
    int fd;
    reloader_arg *reloader;
} writer_arg;

/* Writes the stream in chunks of 500 lines, and before each chunk waits for
 * one more engine swap: reloads and records interleave whatever the speed. */
static void *writer_main(void *p)
{
    writer_arg *a = p;
    char line[128];
    for (int i = 1; i <= LINES; i++) {
        if (i % 500 == 1) {
            int seen = a->reloader->swaps;
            while (a->reloader->swaps == seen && !a->reloader->stop)
                usleep(500);
        }
        int n = snprintf(line, sizeof line, "{\"id\":%d,\"text\":\"公安局通知：您涉嫌洗钱\"}\n", i);
        if (write(a->fd, line, (size_t)n) != n)
            break;
    }
    close(a->fd);
    return NULL;
}

static void *reloader_main(void *p)
{
    reloader_arg *a = p;
    const char *packs[2] = {"tests/data/rules-unit2", "tests/data/rules-unit"};
    while (!a->stop) {
        fz_engine_config cfg = {tu_path(packs[a->swaps % 2]), a->cache, NULL, NULL};
        fz_engine *e = NULL;
        if (fz_engine_new(&cfg, &e, NULL))
            break;
        fz_engine_slot_swap(a->slot, e);
        a->swaps++;
        usleep(200);
    }
    return NULL;
}

static void reload_many_times_during_a_scan(void **state)
{
    (void)state;
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    char outfile[] = "/tmp/fanzha-reload-XXXXXX";
    int ofd = mkstemp(outfile);
    assert_true(ofd >= 0);
    (void)out;
    fz_engine_slot *slot = fz_engine_slot_new(tu_engine("tests/data/rules-unit"));
    reloader_arg ra = {slot, 0, 0, "/tmp/fanzha-reload-cache-XXXXXX"};
    assert_non_null(mkdtemp(ra.cache));
    writer_arg wa = {in[1], &ra};
    pthread_t wt, rt;
    assert_int_equal(pthread_create(&wt, NULL, writer_main, &wa), 0);
    assert_int_equal(pthread_create(&rt, NULL, reloader_main, &ra), 0);
    fz_scan_options o = {FZ_FORMAT_JSONL, 2, 0, in[0], ofd, ofd, NULL, NULL, NULL, NULL};
    fz_scan_stats st;
    fz_error err;
    assert_int_equal(fz_scan_stream(slot, &o, &st, &err), 0);
    ra.stop = 1;
    pthread_join(wt, NULL);
    pthread_join(rt, NULL);
    close(in[0]);
    assert_int_equal(st.read, LINES);
    assert_int_equal(st.verdicts, LINES);
    assert_int_equal(st.errors, 0);
    assert_true(ra.swaps >= LINES / 500);
    assert_true(st.reloads > 0);

    /* Every id exactly once, in order, and scored by one of the two packs. */
    FILE *f = fopen(outfile, "r");
    assert_non_null(f);
    char line[4096];
    int expect = 1, v1 = 0, v2 = 0;
    while (fgets(line, sizeof line, f)) {
        int id;
        assert_int_equal(sscanf(line, "{\"id\":%d,", &id), 1);
        assert_int_equal(id, expect);
        expect++;
        v1 += strstr(line, "\"rules_version\":\"unit-1+") != NULL;
        v2 += strstr(line, "\"rules_version\":\"unit-2+") != NULL;
    }
    fclose(f);
    unlink(outfile);
    assert_int_equal(expect - 1, LINES);
    assert_int_equal(v1 + v2, LINES);
    fprintf(stderr, "  %d swaps, %llu seen by the scan; %d verdicts from unit-1, %d from unit-2\n", ra.swaps,
            (unsigned long long)st.reloads, v1, v2);
    fz_engine_slot_free(slot);
    assert_int_equal(tu_rmtree(ra.cache), 0);
}

/* --- the compiled-database cache ------------------------------------------------ */

static fz_engine *cached_engine(const char *cache)
{
    fz_engine_config cfg = {tu_path("tests/data/rules-unit"), cache, NULL, NULL};
    fz_engine *e = NULL;
    fz_error err;
    assert_int_equal(fz_engine_new(&cfg, &e, &err), 0);
    return e;
}

static void cache_file(const char *dir, char *path, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *ent;
    path[0] = '\0';
    while ((ent = readdir(d)))
        if (strstr(ent->d_name, ".hsdb"))
            snprintf(path, cap, "%s/%s", dir, ent->d_name);
    closedir(d);
    assert_true(path[0] != '\0');
}

static void same_verdict(fz_engine *a, fz_engine *b)
{
    const char *text = "【公安局】您涉嫌洗钱，请转入安全账户，核查核查";
    char ja[4096];
    snprintf(ja, sizeof ja, "%s", tu_json(tu_scan(a, text, NULL), text, NULL));
    assert_string_equal(ja, tu_json(tu_scan(b, text, NULL), text, NULL));
}

static void rewrite(const char *path, long offset, const char *bytes, size_t n, int truncate_to)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    if (bytes) {
        fseek(f, offset, SEEK_SET);
        fwrite(bytes, 1, n, f);
    }
    fclose(f);
    if (truncate_to >= 0)
        assert_int_equal(truncate(path, truncate_to), 0);
}

static void cache_is_used_and_bad_files_are_rebuilt(void **state)
{
    (void)state;
    char dir[] = "/tmp/fanzha-cache-XXXXXX", path[1200];
    assert_non_null(mkdtemp(dir));
    char cache[600];
    snprintf(cache, sizeof cache, "%s/sub/dir", dir);   /* created as needed */

    fz_engine *cold = cached_engine(cache);
    assert_false(fz_engine_from_cache(cold));
    fz_engine *warm = cached_engine(cache);
    assert_true(fz_engine_from_cache(warm));
    same_verdict(cold, warm);
    fz_engine_release(warm);
    cache_file(cache, path, sizeof path);

    /* Corrupted (the checksum fails), truncated, or written for another key
     * (as a cache copied from another machine): each is rebuilt, never used. */
    rewrite(path, 200, "\xff\xff\xff\xff", 4, -1);
    fz_engine *e = cached_engine(cache);
    assert_false(fz_engine_from_cache(e));
    same_verdict(cold, e);
    fz_engine_release(e);

    rewrite(path, 0, NULL, 0, 100);
    e = cached_engine(cache);
    assert_false(fz_engine_from_cache(e));
    fz_engine_release(e);

    rewrite(path, 16, "cpu=ffff", 8, -1);      /* inside the key: another CPU */
    e = cached_engine(cache);
    assert_false(fz_engine_from_cache(e));
    same_verdict(cold, e);
    fz_engine_release(e);

    e = cached_engine(cache);                   /* and the rebuilt one is used again */
    assert_true(fz_engine_from_cache(e));
    fz_engine_release(e);
    fz_engine_release(cold);
    assert_int_equal(tu_rmtree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reload_many_times_during_a_scan),
        cmocka_unit_test(cache_is_used_and_bad_files_are_rebuilt),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_cleanup();
    return rc;
}
