/* fuzz_rules.c — libFuzzer target for the rule-pack loader: YAML parsing
 * (ydoc.c), category files, numbers.yaml, policy.yaml, domains.yaml and
 * warnings.yaml with all their validation (ruleset.c and the stage parsers),
 * then what compiling a loaded pack does before Hyperscan: the pattern
 * planner (hsplan.c) and the entity extractors (extract.c).
 *
 * Input format: one pack as several files in one input. A line
 * "#@ PATH" (a YAML comment, so seeds stay readable) starts file PATH;
 * text before the first such line, if any, goes to zh/fuzz.yaml (at most
 * 12 files in all). PATH is cleaned
 * to a relative name ending in .yaml. A pack without policy.yaml gets a
 * minimal one, so that category files are checked all the way. The files
 * are written into a scratch directory and read with fz_ruleset_load, the
 * loader `fanzha rules check` runs; the Hyperscan compile that would follow
 * is left out (tens of milliseconds even for a tiny pack).
 *
 * Checks: every diagnostic formats to a NUL-terminated line, and a pack
 * that loads reports no errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "hsplan.h"
#include "ruleset.h"
#include "fuzzutil.h"

#define MAX_FILES 12
#define MARK "#@ "

static const char k_policy[] = "version: \"fuzz-1\"\nactions:\n  suspect: 4\n  block: 8\n";

static void on_diag(void *ud, const fz_diag *d)
{
    (void)ud;
    char line[1024];
    fz_diag_format(d, line, sizeof line);
    FU_CHECK(memchr(line, '\0', sizeof line) != NULL);
}

/* A safe relative file name from the marker's text: [A-Za-z0-9_./-],
 * no "..", no leading '/', ending in .yaml. "" when nothing is left. */
static void clean_name(const char *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 6 < cap; i++) {
        char c = p[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '-' || (c == '.' && k && out[k - 1] != '.' && out[k - 1] != '/') ||
                 (c == '/' && k && out[k - 1] != '/' && out[k - 1] != '.');
        if (ok)
            out[k++] = c;
    }
    out[k] = '\0';
    if (k && (k < 5 || strcmp(out + k - 5, ".yaml") != 0))
        strcpy(out + k, ".yaml");
}

/* Write the input's files into dir; returns 1 when it has a policy.yaml. */
static int write_pack(const char *dir, const char *data, size_t size)
{
    const char *end = data + size, *p = data, *body = data;
    char name[64] = "zh/fuzz.yaml";
    int files = 0, policy = 0;
    for (;;) {
        const char *mark = p;
        while (mark < end && !(end - mark >= 3 && memcmp(mark, MARK, 3) == 0)) {   /* line by line */
            const char *nl = memchr(mark, '\n', (size_t)(end - mark));
            mark = nl ? nl + 1 : end;
        }
        /* Text before the first marker makes a file only when there is some:
         * an empty zh/fuzz.yaml would fail every pack that starts with one. */
        if (mark > body || body != data) {
            if (name[0] && files < MAX_FILES && fu_write(dir, name, body, (size_t)(mark - body)) == 0) {
                files++;
                policy |= strcmp(name, "policy.yaml") == 0;
            }
        }
        if (mark >= end)
            break;
        const char *nl = memchr(mark, '\n', (size_t)(end - mark));
        const char *stop = nl ? nl : end;
        clean_name(mark + 3, (size_t)(stop - mark - 3), name, sizeof name);
        body = p = nl ? nl + 1 : end;
    }
    return policy;
}

/* What compiling does with a loaded pack before Hyperscan sees it. */
static void plan_patterns(const fz_ruleset *rs)
{
    for (size_t r = 0; r < rs->n_rules; r++) {
        if (!rs->rules[r].pattern)
            continue;
        fz_hs_plan plan;
        if (fz_hs_plan_pattern(rs->rules[r].pattern, &plan))
            continue;
        for (size_t b = 0; b < plan.n; b++)
            for (size_t k = 0; k < plan.branches[b].n_pieces; k++) {
                char **strs;
                size_t *lens, n;
                int bounds;
                if (fz_hs_expand(plan.branches[b].pieces[k], 256, &strs, &lens, &n, &bounds))
                    continue;
                for (size_t i = 0; i < n; i++)
                    free(strs[i]);
                free(strs);
                free(lens);
            }
        fz_hs_plan_free(&plan);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fu_tempdir();
    fu_clear(dir);
    if (!write_pack(dir, (const char *)data, size))
        fu_write(dir, "policy.yaml", k_policy, sizeof k_policy - 1);
    fz_diags diags;
    fz_diags_init(&diags, on_diag, NULL);
    fz_ruleset *rs = fz_ruleset_load(dir, &diags);
    if (!rs) {
        FU_CHECK(diags.errors > 0 || diags.first.message[0] == '\0');
        return 0;
    }
    FU_CHECK(diags.errors == 0);
    plan_patterns(rs);
    fz_extractor x;
    memset(&x, 0, sizeof x);
    (void)fz_extractor_build(&x, rs, &diags);
    fz_extractor_free(&x);     /* what it built, even when it failed part-way */
    fz_ruleset_free(rs);
    return 0;
}
