/* fanzha/config.h — the operator's configuration file (YAML).
 *
 * One file says where state lives and where warnings go; every setting can
 * also be given on the command line, which wins. Secrets are never written
 * in it: header values name environment variables (${GATEWAY_TOKEN}).
 *
 *   redis: redis://127.0.0.1:6379/0      # shared state (else embedded)
 *   state_dir: /var/lib/fanzha           # embedded store, spool
 *   gateway:
 *     url: https://gateway.example.cn/v1/warnings
 *     method: POST
 *     headers: ["Authorization: Bearer ${GATEWAY_TOKEN}"]
 *     body: '{"to":"{{to}}","text":"{{text}}","ref":"{{id}}"}'
 *     ca_file: /etc/fanzha/gateway-ca.pem
 *     timeout_ms: 10000
 *     connect_timeout_ms: 3000
 *     concurrency: 16
 *     max_attempts: 12
 *     backoff_base_ms: 2000
 *     backoff_max_ms: 300000
 *     retry_after_max_s: 3600
 *   serve:                               # fanzha serve (see serve.h)
 *     listen: 127.0.0.1:8080
 *     tokens_file: /etc/fanzha/tokens
 *     threads: 0                         # 0: one per core
 *     max_connections: 1024
 *     connection_timeout_s: 30
 *     max_body: 65536
 *     max_batch_body: 33554432
 *     max_record: 1048576
 *     drain_timeout_s: 30
 *     metrics_public: false
 *     warn: true                         # queue warnings for residents
 *     deliver: true                      # and deliver them from this process
 *
 * Mistakes (unknown keys, wrong types) are errors naming file:line:col. */
#ifndef FANZHA_CONFIG_H
#define FANZHA_CONFIG_H

#include "error.h"
#include "gateway.h"
#include "serve.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fz_config fz_config;

/* Read path. 0, or a code with err naming file:line:col. */
int fz_config_load(const char *path, fz_config **out, fz_error *err);
void fz_config_free(fz_config *c);

/* Each NULL when the file does not set it. Strings live as long as c. */
const char *fz_config_redis(const fz_config *c);
const char *fz_config_state_dir(const fz_config *c);
const fz_gateway_options *fz_config_gateway(const fz_config *c);
/* The serve section (zeros where unset: the server's defaults apply). */
const fz_serve_settings *fz_config_serve(const fz_config *c);
/* serve.warn or serve.deliver: 1, 0, or -1 when the file does not say. */
int fz_config_serve_switch(const fz_config *c, const char *name);

#ifdef __cplusplus
}
#endif
#endif
