/* cmd_bench.c — `fanzha bench`: throughput of the whole scan and of its
 * parts, on the same messages, in one run (the harness is engine/bench.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char k_help[] =
    "usage: fanzha bench [OPTIONS] [CORPUS.jsonl]\n\n"
    "Measure, on the same messages: the end-to-end scan stream (as `fanzha scan`),\n"
    "each stage alone, bare hs_scan with the same database, and a PCRE2-JIT loop over\n"
    "the same rules; print messages per second and the ratios. Without a corpus,\n"
    "SMS-like messages are generated.\n\n"
    "options:\n"
    "  --rules DIR        rule pack (default: $FANZHA_RULES, else the built-in pack)\n"
    "  --threads N|auto   threads for the stream and the loops (default 1)\n"
    "  --messages N       messages pushed through the stream (default 1000000)\n"
    "  --generate N       size of the generated corpus (default 20000)\n"
    "  --repeat P         fraction of generated messages that repeat an earlier text\n"
    "                     exactly, as bulk campaigns do (default 0.3)\n"
    "  --state none       stream without state (default: embedded store)\n"
    "  --redis URL        stream with state in Redis\n"
    "  --pcre-seconds S   time budget of the PCRE2 loop (default 2)\n"
    "  --json             print the figures as one JSON object\n"
    "  --write-corpus F   write the generated corpus to F (JSON Lines) and exit\n";

static int read_file(const char *path, fz_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("bench", "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (fz_buf_append(out, chunk, n)) {
            fclose(f);
            return -1;
        }
    fclose(f);
    return 0;
}

static void print_text(const fz_bench_result *r, fz_engine *e, const char *state)
{
    double per_core = r->stream_mps / r->threads;
    printf("fanzha bench: %zu distinct messages, %.0f bytes of text on average, %d thread%s\n"
           "rules %s (%zu rules, %zu run by the PCRE2 loop)\n\n",
           r->corpus_messages, r->avg_text_bytes, r->threads, r->threads > 1 ? "s" : "",
           fz_engine_rules_version(e), fz_engine_rule_count(e), r->rules_scanned_by_pcre);
    printf("  %-34s %12.0f msg/s  (%.0f msg/s per thread)\n", "end to end (scan stream)", r->stream_mps, per_core);
    if (state)
        printf("  %-34s %s, cache hit rate %.1f%%, %llu messages scored without state\n", "  state", state,
               100 * r->cache_hit_rate, (unsigned long long)r->degraded);
    printf("  %-34s %12.0f msg/s\n", "bare hs_scan, same database", r->hs_mps);
    printf("  %-34s %12.0f msg/s\n", "PCRE2 JIT loop, same rules", r->pcre_mps);
    printf("\n  ratios: end-to-end / hs_scan = %.2f, hs_scan / PCRE2 = %.1fx\n\n",
           r->hs_mps > 0 ? r->stream_mps / r->hs_mps : 0, r->pcre_mps > 0 ? r->hs_mps / r->pcre_mps : 0);
    printf("  one thread, per message:  parse %.0f ns, normalize %.0f ns, match %.0f ns,\n"
           "  normalize+match+extract+score %.0f ns, emit JSON %.0f ns\n",
           r->parse_ns, r->normalize_ns, r->match_ns, r->scan_ns, r->emit_ns);
}

static void print_json(const fz_bench_result *r, fz_engine *e)
{
    printf("{\"messages\":%zu,\"avg_text_bytes\":%.1f,\"threads\":%d,\"rules\":%zu,\"rules_version\":\"%s\","
           "\"stream_mps\":%.0f,\"hs_mps\":%.0f,\"pcre_mps\":%.0f,\"parse_ns\":%.1f,\"normalize_ns\":%.1f,"
           "\"match_ns\":%.1f,\"scan_ns\":%.1f,\"emit_ns\":%.1f,\"cache_hit_rate\":%.4f,\"degraded\":%llu}\n",
           r->corpus_messages, r->avg_text_bytes, r->threads, fz_engine_rule_count(e), fz_engine_rules_version(e),
           r->stream_mps, r->hs_mps, r->pcre_mps, r->parse_ns, r->normalize_ns, r->match_ns, r->scan_ns, r->emit_ns,
           r->cache_hit_rate, (unsigned long long)r->degraded);
}

int cmd_bench(int argc, char **argv)
{
    const char *rules = NULL, *corpus = NULL, *dump = NULL, *v;
    fz_bench_options o = {1, 1000000, 2.0, NULL};
    unsigned long n, generate = 20000;
    int json = 0, stateless = 0;
    double repeat = 0.3;
    const char *redis = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            fputs(k_help, stdout);
            return 0;
        } else if (cli_opt(argc, argv, &i, "--rules", &v)) {
            rules = v;
        } else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            if (strcmp(v, "auto") == 0)
                o.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
            else if (cli_uint("--threads", v, &n) || n == 0 || n > 64)
                return EXIT_USAGE;
            else
                o.threads = (int)n;
        } else if (cli_opt(argc, argv, &i, "--messages", &v)) {
            if (cli_uint("--messages", v, &n) || n == 0)
                return EXIT_USAGE;
            o.messages = n;
        } else if (cli_opt(argc, argv, &i, "--generate", &v)) {
            if (cli_uint("--generate", v, &generate) || generate == 0)
                return EXIT_USAGE;
        } else if (cli_opt(argc, argv, &i, "--repeat", &v)) {
            repeat = atof(v);
        } else if (cli_opt(argc, argv, &i, "--redis", &v)) {
            redis = v;
        } else if (cli_opt(argc, argv, &i, "--state", &v)) {
            stateless = strcmp(v, "none") == 0;
        } else if (cli_opt(argc, argv, &i, "--pcre-seconds", &v)) {
            o.pcre_seconds = atof(v);
        } else if (cli_opt(argc, argv, &i, "--write-corpus", &v)) {
            dump = v;
        } else if (cli_flag(argv, i, "--json")) {
            json = 1;
        } else if (argv[i][0] == '-') {
            cli_error("bench", "unknown option '%s' (see fanzha bench --help)", argv[i]);
            return EXIT_USAGE;
        } else {
            corpus = argv[i];
        }
    }
    fz_buf data = FZ_BUF_INIT;
    if (dump) {
        FILE *f = fopen(dump, "wb");
        int bad = !f || fz_bench_generate(generate, 42, repeat, &data) || fwrite(data.data, 1, data.len, f) != data.len;
        if (f && fclose(f))
            bad = 1;
        fz_buf_free(&data);
        if (bad)
            cli_error("bench", "cannot write %s", dump);
        return bad ? EXIT_RUNTIME : 0;
    }
    fz_engine *e;
    if (cli_load_engine(rules, cli_default_cache(), FZ_DIAG_ERROR, &e))
        return 1;
    int bad = corpus ? read_file(corpus, &data) : fz_bench_generate(generate, 42, repeat, &data);
    if (!bad && !stateless && cli_open_store("bench", redis, &o.store))
        bad = 1;
    fz_bench_result r;
    fz_error err;
    if (!bad && (bad = fz_bench_run(e, data.data, data.len, &o, &r, &err)) != 0)
        cli_error("bench", "%s", err.message);
    if (!bad)
        json ? print_json(&r, e) : print_text(&r, e, o.store ? fz_store_describe(o.store) : NULL);
    fz_buf_free(&data);
    fz_store_close(o.store);
    fz_engine_release(e);
    return bad ? EXIT_RUNTIME : 0;
}
