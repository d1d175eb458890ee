/* fuzzutil.c — scratch files, checks and oracles for the fuzz targets (see
 * fuzzutil.h). The scratch directory lives under $TMPDIR (or /tmp) and is
 * removed by an atexit handler; a crash leaves it behind, which is harmless
 * and shows what the crashing input wrote. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzzutil.h"

static char g_dir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

void fu_clear(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_tempdir(void)
{
    if (g_dir[0]) {
        fu_clear(g_dir);
        rmdir(g_dir);
    }
}

const char *fu_tempdir(void)
{
    if (g_dir[0])
        return g_dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/fanzha-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "fuzz: cannot create a scratch directory %s: %s\n", g_dir, strerror(errno));
        abort();
    }
    atexit(remove_tempdir);
    return g_dir;
}

/* mkdir -p for every directory in path before its last '/'. */
static int make_parents(char *path)
{
    for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc && errno != EEXIST)
            return -1;
    }
    return 0;
}

int fu_write(const char *dir, const char *rel, const void *data, size_t len)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) >= sizeof path || make_parents(path))
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    return fclose(f) == 0 && put == len ? 0 : -1;
}

void fu_touch(const void *p, size_t n)
{
    const volatile unsigned char *b = p;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += b[i];
    volatile unsigned sink = sum;
    (void)sink;
}

void fu_check(int cond, const char *what, const char *file, int line)
{
    if (cond)
        return;
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

/* Length of the well-formed UTF-8 sequence at s, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    /* Second-byte limits rule out overlongs, surrogates and > U+10FFFF. */
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

int fu_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(p + i, n - i);
        if (!len)
            return 0;
        i += len;
    }
    return 1;
}

/* --- a strict JSON checker (RFC 8259), independent of cJSON ----------------------------
 *
 * cJSON, which the engine parses with, is lenient (any byte up to 0x20 is
 * whitespace, raw control characters pass inside strings, 01 and 1. are
 * numbers), so it cannot judge whether fanzha's output is JSON that every
 * consumer accepts. This recursive-descent checker can. */

typedef struct { const unsigned char *p, *end; int depth; } jcur;

static int j_value(jcur *c);

static void j_ws(jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int j_lit(jcur *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int j_digits(jcur *c)
{
    const unsigned char *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > s;
}

static int j_number(jcur *c)
{
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!(c->p < c->end && *c->p >= '1' && *c->p <= '9' && j_digits(c)))
        return 0;
    if (c->p < c->end && *c->p == '.' && (c->p++, !j_digits(c)))
        return 0;
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!j_digits(c))
            return 0;
    }
    return 1;
}

static int j_string(jcur *c)
{
    if (c->p >= c->end || *c->p != '"')
        return 0;
    for (c->p++; c->p < c->end; c->p++) {
        unsigned char ch = *c->p;
        if (ch == '"') {
            c->p++;
            return 1;
        }
        if (ch < 0x20)
            return 0;
        if (ch == '\\') {
            if (++c->p >= c->end)
                return 0;
            if (*c->p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++c->p >= c->end || !strchr("0123456789abcdefABCDEF", *c->p) || !*c->p)
                        return 0;
            } else if (!strchr("\"\\/bfnrt", *c->p) || !*c->p) {
                return 0;
            }
        }
    }
    return 0;
}

/* Members or elements up to the closing bracket; the opening one is read. */
static int j_list(jcur *c, int object)
{
    unsigned char close = object ? '}' : ']';
    j_ws(c);
    if (c->p < c->end && *c->p == close)
        return c->p++, 1;
    for (;;) {
        j_ws(c);
        if (object) {
            if (!j_string(c))
                return 0;
            j_ws(c);
            if (c->p >= c->end || *c->p++ != ':')
                return 0;
        }
        if (!j_value(c))
            return 0;
        j_ws(c);
        if (c->p >= c->end)
            return 0;
        if (*c->p == close)
            return c->p++, 1;
        if (*c->p++ != ',')
            return 0;
    }
}

static int j_value(jcur *c)
{
    j_ws(c);
    if (c->p >= c->end || ++c->depth > 4096)
        return 0;
    int ok;
    switch (*c->p) {
    case '{': c->p++; ok = j_list(c, 1); break;
    case '[': c->p++; ok = j_list(c, 0); break;
    case '"': ok = j_string(c); break;
    case 't': ok = j_lit(c, "true"); break;
    case 'f': ok = j_lit(c, "false"); break;
    case 'n': ok = j_lit(c, "null"); break;
    default: ok = j_number(c); break;
    }
    c->depth--;
    return ok;
}

int fu_json_valid(const char *s, size_t n)
{
    jcur c = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    if (!j_value(&c))
        return 0;
    j_ws(&c);
    return c.p == c.end;
}
