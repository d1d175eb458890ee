/* fuzzutil.h — helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * Each target is one fuzz_<name>.c defining LLVMFuzzerTestOneInput; these
 * helpers give them scratch files (for the parsers that read from disk),
 * checks that turn a broken promise into a crash libFuzzer records, and
 * independent oracles (strict UTF-8, well-formed JSON) to judge output by. */
#ifndef FZ_FUZZUTIL_H
#define FZ_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A private scratch directory for this process, created on first use and
 * removed at exit. */
const char *fu_tempdir(void);

/* Write data to dir/rel, creating the directories rel names. 0 or -1. */
int fu_write(const char *dir, const char *rel, const void *data, size_t len);

/* Remove everything inside dir (dir itself stays). */
void fu_clear(const char *dir);

/* Read every byte of [p, p + n), so that ASan checks the whole view. */
void fu_touch(const void *p, size_t n);

/* Abort (a crash to libFuzzer) with a message when cond is false. */
#define FU_CHECK(cond) fu_check((cond), #cond, __FILE__, __LINE__)
void fu_check(int cond, const char *what, const char *file, int line);

/* 1 when s[0..n) is strict UTF-8 (no overlongs, surrogates or values above
 * U+10FFFF). Written independently of the engine's decoder on purpose. */
int fu_utf8_valid(const char *s, size_t n);

/* 1 when s[0..n) is exactly one JSON value by the letter of RFC 8259 (not
 * cJSON's lenient reading), with only JSON whitespace around it. */
int fu_json_valid(const char *s, size_t n);

#endif
