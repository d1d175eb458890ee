/* serve_auth.c — API tokens: reading them, and checking a request's bearer
 * token in constant time.
 *
 * How it works. Tokens are never kept or compared as text: each is reduced
 * to a 32-byte BLAKE2b digest under a per-process random key when the
 * server starts, and a presented token is digested the same way and
 * compared with every known digest by sodium_memcmp, without stopping at
 * the first match. The time taken therefore depends neither on how much of
 * a token is right nor on its length, nor on which token matched. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "serve_internal.h"

#define MIN_TOKEN 16
#define MAX_TOKEN 512

static int push(char ***out, size_t *n, const char *s, size_t len)
{
    char **p = realloc(*out, (*n + 1) * sizeof *p);
    if (!p)
        return FZ_ENOMEM;
    *out = p;
    if (!(p[*n] = strndup(s, len)))
        return FZ_ENOMEM;
    (*n)++;
    return 0;
}

static int check_token(const char *s, size_t len, const char *where, fz_error *err)
{
    if (len < MIN_TOKEN)
        return fz_error_set(err, FZ_EINVAL, "%s: a token must have at least %d characters", where, MIN_TOKEN);
    if (len > MAX_TOKEN)
        return fz_error_set(err, FZ_EINVAL, "%s: a token has at most %d characters", where, MAX_TOKEN);
    for (size_t i = 0; i < len; i++)
        if (!isgraph((unsigned char)s[i]))
            return fz_error_set(err, FZ_EINVAL, "%s: a token is printable ASCII without spaces", where);
    return 0;
}

int fz_tokens_split(const char *list, char ***out, size_t *n, fz_error *err)
{
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        size_t len = 0;
        while (p[len] && p[len] != ',' && !isspace((unsigned char)p[len]))
            len++;
        if (!len)
            break;
        int rc = check_token(p, len, "token list", err);
        if (!rc && push(out, n, p, len))
            rc = fz_error_set(err, FZ_ENOMEM, "out of memory");
        if (rc)
            return rc;
        p += len;
    }
    return 0;
}

/* One line of a tokens file: "TOKEN" or "admin TOKEN" (or "client TOKEN"). */
static int token_line(char *line, const char *where, char ***tokens, size_t *n_tokens, char ***admin,
                      size_t *n_admin, fz_error *err)
{
    char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    size_t len = strcspn(p, "\r\n");
    while (len && isspace((unsigned char)p[len - 1]))
        len--;
    p[len] = '\0';
    if (!len || *p == '#')
        return 0;
    char ***to = tokens;
    size_t *n = n_tokens;
    char *sp = strpbrk(p, " \t");
    if (sp) {
        *sp = '\0';
        if (strcmp(p, "admin") == 0) {
            to = admin;
            n = n_admin;
        } else if (strcmp(p, "client") != 0) {
            return fz_error_set(err, FZ_EINVAL, "%s: a line is TOKEN, 'client TOKEN' or 'admin TOKEN'", where);
        }
        for (p = sp + 1; isspace((unsigned char)*p); p++)
            ;
    }
    int rc = check_token(p, strlen(p), where, err);
    if (!rc && push(to, n, p, strlen(p)))
        rc = fz_error_set(err, FZ_ENOMEM, "out of memory");
    return rc;
}

int fz_tokens_load(const char *path, char ***tokens, size_t *n_tokens, char ***admin, size_t *n_admin, fz_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fz_error_set(err, FZ_EIO, "cannot read the tokens file %s", path);
    char line[MAX_TOKEN + 64], where[600];
    int rc = 0;
    for (unsigned lineno = 1; !rc && fgets(line, sizeof line, f); lineno++) {
        snprintf(where, sizeof where, "%s:%u", path, lineno);
        if (!strchr(line, '\n') && !feof(f))
            rc = fz_error_set(err, FZ_ETOOBIG, "%s: line too long", where);
        else
            rc = token_line(line, where, tokens, n_tokens, admin, n_admin, err);
    }
    fclose(f);
    return rc;
}

void fz_tokens_free(char **tokens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tokens[i])
            sodium_memzero(tokens[i], strlen(tokens[i]));
        free(tokens[i]);
    }
    free(tokens);
}

/* --- the server's digests ---------------------------------------------------------------- */

static void digest(const fz_auth *a, const char *token, size_t len, unsigned char out[FZ_TOKEN_DIGEST])
{
    crypto_generichash(out, FZ_TOKEN_DIGEST, (const unsigned char *)token, len, a->key, sizeof a->key);
}

int fz_auth_init(fz_auth *a, const char *const *tokens, size_t n, const char *const *admin, size_t n_admin)
{
    memset(a, 0, sizeof *a);
    if (sodium_init() < 0)
        return FZ_EPLATFORM;
    randombytes_buf(a->key, sizeof a->key);
    a->n = n + n_admin;
    a->digests = calloc(a->n ? a->n : 1, sizeof *a->digests);
    a->admin = calloc(a->n ? a->n : 1, sizeof *a->admin);
    if (!a->digests || !a->admin)
        return FZ_ENOMEM;
    for (size_t i = 0; i < a->n; i++) {
        const char *t = i < n ? tokens[i] : admin[i - n];
        digest(a, t, strlen(t), a->digests[i]);
        a->admin[i] = i >= n;
    }
    return 0;
}

void fz_auth_free(fz_auth *a)
{
    free(a->digests);
    free(a->admin);
    sodium_memzero(a->key, sizeof a->key);
}

fz_role fz_auth_check(const fz_auth *a, const char *header)
{
    static const char prefix[] = "Bearer ";
    if (!header || strncasecmp(header, prefix, sizeof prefix - 1) != 0)
        return FZ_ROLE_NONE;
    const char *token = header + sizeof prefix - 1;
    while (*token == ' ')
        token++;
    size_t len = strnlen(token, MAX_TOKEN + 1);
    unsigned char d[FZ_TOKEN_DIGEST];
    digest(a, token, len, d);
    int role = FZ_ROLE_NONE;
    for (size_t i = 0; i < a->n; i++) {
        /* No early exit: every digest is compared whatever matched. */
        int match = sodium_memcmp(d, a->digests[i], FZ_TOKEN_DIGEST) == 0;
        int r = a->admin[i] ? FZ_ROLE_ADMIN : FZ_ROLE_CLIENT;
        role = match && r > role ? r : role;
    }
    return (fz_role)role;
}
