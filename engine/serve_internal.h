/* serve_internal.h — what the HTTP server's files share: the server, a
 * request in progress, a reply, token digests (serve.c, serve_api.c,
 * serve_auth.c). */
#ifndef FZ_SERVE_INTERNAL_H
#define FZ_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fanzha/serve.h"
#include "metrics.h"
#include "scorer.h"

#define FZ_TOKEN_DIGEST 32

typedef enum fz_role { FZ_ROLE_NONE = 0, FZ_ROLE_CLIENT = 1, FZ_ROLE_ADMIN = 2 } fz_role;

typedef struct fz_auth {
    unsigned char key[32];
    unsigned char (*digests)[FZ_TOKEN_DIGEST];
    unsigned char *admin;       /* 1 when digests[i] is an admin token */
    size_t n;
} fz_auth;

int fz_auth_init(fz_auth *a, const char *const *tokens, size_t n, const char *const *admin, size_t n_admin);
void fz_auth_free(fz_auth *a);
/* The role of an Authorization header's bearer token (FZ_ROLE_NONE if none). */
fz_role fz_auth_check(const fz_auth *a, const char *header);

struct MHD_Daemon;

struct fz_server {
    fz_serve_options o;         /* settings with defaults filled in */
    char *rules_dir, *cache_dir;
    struct MHD_Daemon *daemon;
    int listen_fd;              /* after quiesce: ours to close */
    int port;
    fz_auth auth;
    fz_metrics metrics;
    pthread_key_t scorer_key;   /* each MHD thread's scorer */
    atomic_int draining;
    pthread_mutex_t reload_mu;
    atomic_int reload_running;  /* a reload requested over HTTP is being built */
    pthread_t deliverer;
    int have_deliverer;
    pthread_t watcher;          /* logs the state store going away and coming back */
    int have_watcher;
    atomic_int stop_delivery;  /* stops the deliverer and the watcher */
};

typedef enum fz_method { FZ_GET, FZ_PUT, FZ_POST, FZ_DELETE, FZ_OTHER_METHOD } fz_method;

/* A request being received. */
typedef struct fz_request {
    fz_endpoint ep;
    fz_method method;
    char number[64];            /* residents: the {number} of the path */
    unsigned limit_arg;         /* ?limit=N (campaigns), 0 if absent */
    fz_buf body;
    size_t limit;               /* the body's limit */
    size_t discarded;           /* bytes past the limit (a chunked upload) */
    uint64_t t0_ns;
    int answered;               /* a reply was queued */
    struct fz_reload_job *job;  /* reload: the engine being built off the request threads */
    fz_scan_stats st;           /* what scoring counted */
} fz_request;

/* A reply to send: status, JSON body (or other content type), headers. */
typedef struct fz_reply {
    unsigned code;
    fz_buf body;
    const char *content_type;   /* NULL: application/json */
    int retry_after;            /* > 0: a Retry-After header */
    const char *allow;          /* 405: the Allow header */
    struct fz_batch_stream *stream; /* /v1/check/batch: the body is produced as it is sent */
} fz_reply;

uint64_t fz_now_ns(void);

/* Fill r with {"error":msg} and code. */
void fz_reply_error(fz_reply *r, unsigned code, const char *msg);

/* The thread's scorer (created on first use, freed when the thread ends). */
fz_scorer *fz_server_scorer(fz_server *s);

/* serve_api.c: the endpoints. Each fills the reply. */
void fz_api_check(fz_server *s, fz_request *q, fz_reply *r);
void fz_api_batch(fz_server *s, fz_request *q, fz_reply *r);
void fz_api_reports(fz_server *s, fz_request *q, fz_reply *r);
void fz_api_residents(fz_server *s, fz_request *q, fz_reply *r);
void fz_api_campaigns(fz_server *s, fz_request *q, fz_reply *r);
/* The reply to a reload that ended with rc (err saying why it failed). */
void fz_api_reload_reply(fz_server *s, int rc, const fz_error *err, fz_reply *r);
void fz_api_health(fz_server *s, fz_request *q, fz_reply *r);
void fz_api_metrics(fz_server *s, fz_request *q, fz_reply *r);

/* The streamed body of a batch reply (serve_api.c): MHD pulls it. */
long fz_batch_stream_read(struct fz_batch_stream *b, char *buf, size_t max);
void fz_batch_stream_free(struct fz_batch_stream *b);

void fz_server_log(fz_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
