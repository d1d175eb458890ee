/* dbcache.c — caching compiled Hyperscan databases on disk.
 *
 * Compiling a full rule pack takes a good fraction of a second; loading a
 * serialized database takes milliseconds. The cache key covers the rules
 * (content hash of every file), the Hyperscan version, the CPU features and
 * tuning Hyperscan compiled for, the compiler's signature (the trigger
 * expressions built into this binary and a revision of the compile
 * strategy) and the file format. A file whose key differs, whose checksum fails
 * or that Hyperscan refuses to deserialize is ignored and rebuilt: a cache
 * copied from another machine can cost time, never a crash.
 *
 * Beside the database, the file keeps what the compile decided and what is
 * slow to work out again (Hyperscan's expression analysis took most of a
 * load before it was cached): each rule's path and longest match, the
 * gapped branches and their pieces, the word-boundary literal groups.
 *
 * File: "FZDB", format version, key length + key; rule count, then per rule
 * a path byte (path | planned << 4) and its max width; piece count; gapped
 * branch count, then per branch rule, first piece, piece count, max width,
 * source start, source length; bounded group count, then per group target,
 * length, bounds; database length + bytes; XXH64 of everything before it.
 * All integers little-endian 32-bit except the database length (64).
 * Written to a temporary file and renamed, so a reader never sees half a
 * file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "dbcache.h"

#define CACHE_FORMAT 4u
#define MAX_CACHE_FILE (512u << 20)

static void cache_key(const fz_engine *e, char *key, size_t cap)
{
    hs_platform_info_t plat;
    memset(&plat, 0, sizeof plat);
    hs_populate_platform(&plat);
    snprintf(key, cap, "rules=%s;hs=%s;cpu=%llx;tune=%u;fmt=%u;compiler=%s", e->rs->hash, hs_version(),
             (unsigned long long)plat.cpu_features, plat.tune, CACHE_FORMAT, fz_compile_signature());
}

static void cache_path(const fz_engine *e, const char *key, char *path, size_t cap)
{
    unsigned long long h = (unsigned long long)XXH3_64bits(key, strlen(key));
    snprintf(path, cap, "%s/fanzha-%016llx.hsdb", e->cache_dir, h);
}

static int read_all(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || (size_t)st.st_size > MAX_CACHE_FILE) {
        fclose(f);
        return -1;
    }
    unsigned char *buf = malloc((size_t)st.st_size);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf || n != (size_t)st.st_size) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* A bounds-checked reader over the file's bytes. */
typedef struct { const unsigned char *p; size_t left; } cursor;

static int take(cursor *c, void *out, size_t n)
{
    if (c->left < n)
        return -1;
    memcpy(out, c->p, n);
    c->p += n;
    c->left -= n;
    return 0;
}

static int take_u32(cursor *c, uint32_t *v)
{
    return take(c, v, 4);
}

/* Everything after the key; 0 when it is consistent with this pack. */
static int read_plan(fz_engine *e, cursor *c)
{
    uint32_t nrules, v, path, width;
    if (take_u32(c, &nrules) || nrules != e->rs->n_rules)
        return -1;
    for (uint32_t r = 0; r < nrules; r++) {
        if (take_u32(c, &path) || take_u32(c, &width))
            return -1;
        fz_crule *cr = &e->crules[r];
        cr->max_width = width;
        if (cr->path == FZ_PATH_NONE)
            continue;
        cr->path = (fz_rule_path)((path & 15) <= FZ_PATH_PCRE2 ? (path & 15) : FZ_PATH_PCRE2);
        cr->planned = (path >> 4) & 1;
    }
    if (take_u32(c, &v))
        return -1;
    e->n_pieces = v;
    uint32_t ng, nb;
    if (take_u32(c, &ng))
        return -1;
    for (uint32_t i = 0; i < ng; i++) {
        fz_gapped g;
        memset(&g, 0, sizeof g);
        if (take_u32(c, &g.rule) || take_u32(c, &g.first_piece) || take_u32(c, &g.n_pieces) ||
            take_u32(c, &g.max_width) || take_u32(c, &g.src_start) || take_u32(c, &g.src_len) ||
            g.rule >= nrules || e->rs->rules[g.rule].kind != FZ_RK_PATTERN || fz_gapped_add(e, &g))
            return -1;
    }
    if (take_u32(c, &nb))
        return -1;
    for (uint32_t i = 0; i < nb; i++) {
        fz_bounded b;
        if (take_u32(c, &b.target) || take_u32(c, &b.len) || take_u32(c, &b.bounds))
            return -1;
        if (e->n_bounded == e->cap_bounded) {
            size_t cap = e->cap_bounded ? e->cap_bounded * 2 : 64;
            fz_bounded *nbd = realloc(e->bounded, cap * sizeof *nbd);
            if (!nbd)
                return -1;
            e->bounded = nbd;
            e->cap_bounded = cap;
        }
        e->bounded[e->n_bounded++] = b;
    }
    return 0;
}

int fz_dbcache_load(fz_engine *e, fz_diags *diags)
{
    if (!e->cache_dir)
        return 1;
    char key[512], path[4096];
    cache_key(e, key, sizeof key);
    cache_path(e, key, path, sizeof path);
    unsigned char *buf;
    size_t len;
    if (read_all(path, &buf, &len))
        return 1;
    int ok = 0;
    cursor c = {buf, len};
    char magic[4];
    uint32_t fmt, klen;
    uint64_t dblen, sum;
    if (len > 8) {
        memcpy(&sum, buf + len - 8, 8);
        c.left -= 8;
        ok = XXH64(buf, len - 8, 0) == sum;
    }
    ok = ok && take(&c, magic, 4) == 0 && memcmp(magic, "FZDB", 4) == 0;
    ok = ok && take(&c, &fmt, 4) == 0 && fmt == CACHE_FORMAT;
    ok = ok && take(&c, &klen, 4) == 0 && klen == strlen(key) && c.left >= klen && memcmp(c.p, key, klen) == 0;
    if (ok) {
        c.p += klen;
        c.left -= klen;
    }
    ok = ok && read_plan(e, &c) == 0;
    ok = ok && take(&c, &dblen, 8) == 0 && dblen == c.left;
    if (ok && hs_deserialize_database((const char *)c.p, (size_t)dblen, &e->db) != HS_SUCCESS) {
        fz_diag_emit(diags, FZ_DIAG_NOTE, path, 0, 0, NULL, "cached database refused by Hyperscan; rebuilding");
        e->db = NULL;
        ok = 0;
    }
    if (ok) {
        e->from_cache = 1;
    } else {
        /* Undo whatever was read: the compile starts from scratch. */
        e->n_gapped = 0;
        e->n_pieces = 0;
        e->n_bounded = 0;
        for (size_t r = 0; r < e->rs->n_rules; r++)
            if (e->crules[r].path != FZ_PATH_NONE) {
                e->crules[r].path = FZ_PATH_HYPERSCAN;
                e->crules[r].planned = e->rs->rules[r].kind == FZ_RK_PATTERN;
            }
    }
    free(buf);
    return ok ? 0 : 1;
}

/* mkdir -p: the default cache (~/.cache/fanzha) may have no parent yet. */
static void make_dirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static int put(fz_buf *b, const void *p, size_t n)
{
    return fz_buf_append(b, p, n);
}

void fz_dbcache_store(fz_engine *e, fz_diags *diags)
{
    if (!e->cache_dir || !e->db)
        return;
    char key[512], path[4096], tmp[4200];
    cache_key(e, key, sizeof key);
    cache_path(e, key, path, sizeof path);
    char *bytes = NULL;
    size_t nbytes = 0;
    if (hs_serialize_database(e->db, &bytes, &nbytes) != HS_SUCCESS)
        return;
    fz_buf b = FZ_BUF_INIT;
    uint32_t fmt = CACHE_FORMAT, klen = (uint32_t)strlen(key), nrules = (uint32_t)e->rs->n_rules;
    uint64_t dblen = nbytes;
    int bad = put(&b, "FZDB", 4) || put(&b, &fmt, 4) || put(&b, &klen, 4) || put(&b, key, klen) ||
              put(&b, &nrules, 4);
    for (uint32_t r = 0; !bad && r < nrules; r++) {
        uint32_t how = (uint32_t)e->crules[r].path | (e->crules[r].planned ? 16u : 0u);
        bad = put(&b, &how, 4) || put(&b, &e->crules[r].max_width, 4);
    }
    uint32_t np = (uint32_t)e->n_pieces, ng = (uint32_t)e->n_gapped, nb = (uint32_t)e->n_bounded;
    bad = bad || put(&b, &np, 4) || put(&b, &ng, 4);
    for (size_t i = 0; !bad && i < e->n_gapped; i++) {
        const fz_gapped *g = &e->gapped[i];
        bad = put(&b, &g->rule, 4) || put(&b, &g->first_piece, 4) || put(&b, &g->n_pieces, 4) ||
              put(&b, &g->max_width, 4) || put(&b, &g->src_start, 4) || put(&b, &g->src_len, 4);
    }
    bad = bad || put(&b, &nb, 4);
    for (size_t i = 0; !bad && i < e->n_bounded; i++)
        bad = put(&b, &e->bounded[i].target, 4) || put(&b, &e->bounded[i].len, 4) || put(&b, &e->bounded[i].bounds, 4);
    bad = bad || put(&b, &dblen, 8) || put(&b, bytes, nbytes);
    free(bytes);
    uint64_t sum = bad ? 0 : XXH64(b.data, b.len, 0);
    bad = bad || put(&b, &sum, 8);
    make_dirs(e->cache_dir);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = bad ? NULL : fopen(tmp, "wb");
    int ok = f && fwrite(b.data, 1, b.len, f) == b.len;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        fz_diag_emit(diags, FZ_DIAG_WARNING, path, 0, 0, NULL, "cannot write the database cache: %s",
                     errno ? strerror(errno) : "out of memory");
        unlink(tmp);
    }
    fz_buf_free(&b);
}
