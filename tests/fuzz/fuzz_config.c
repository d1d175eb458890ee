/* fuzz_config.c — libFuzzer target for the operator's configuration file,
 * fz_config_load (fanzha/config.h). The loader reads a path, so each input
 * is written to a scratch file first.
 *
 * Checks: a loaded configuration's strings and gateway options are live
 * memory (read in full); a rejected one has an error message. A gateway
 * section that fz_gateway_open accepts (it renders its body template once
 * with a made-up warning and insists on JSON unless a Content-Type header
 * says otherwise) must give strict JSON for another warning too, one with
 * quotes, control characters and Chinese text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fanzha/config.h"
#include "fanzha/gateway.h"
#include "fuzzutil.h"

static void touch_str(const char *s)
{
    if (s)
        fu_touch(s, strlen(s) + 1);
}

static void touch_config(const fz_config *c)
{
    touch_str(fz_config_redis(c));
    touch_str(fz_config_state_dir(c));
    const fz_gateway_options *g = fz_config_gateway(c);
    if (!g)
        return;
    touch_str(g->url);
    touch_str(g->method);
    touch_str(g->body);
    touch_str(g->ca_file);
    for (size_t i = 0; i < g->n_headers; i++)
        touch_str(g->headers[i]);
}

/* A Content-Type header that does not say JSON (the last one counts) turns
 * the gateway's check off: the body is then the operator's business. */
static int body_is_json(const fz_gateway_options *o)
{
    int json = 1;
    for (size_t i = 0; i < o->n_headers; i++)
        if (strncasecmp(o->headers[i], "Content-Type:", 13) == 0)
            json = strcasestr(o->headers[i], "json") != NULL;
    return json;
}

static void check_gateway(const fz_gateway_options *o)
{
    fz_gateway *g = NULL;
    fz_error err = {0};
    if (fz_gateway_open(o, &g, &err)) {
        FU_CHECK(err.message[0] != '\0');
        return;
    }
    fz_warning w = {.created = 4102444800, .due = 0, .attempts = 41};
    strcpy(w.id, "ffffffffffffffffffffffffffffffff");
    strcpy(w.to, "+8613812345678");
    strcpy(w.role, "guardian");
    strcpy(w.language, "zh");
    strcpy(w.channel, "voice");
    strcpy(w.category, "impersonate_authority");
    strcpy(w.text, "【反诈提醒】\"公安\"不会要求转账\\\t\x01\x7f");
    static char body[65536];
    if (fz_gateway_render_body(g, &w, body, sizeof body) == 0 && body_is_json(o)) {
        FU_CHECK(fu_utf8_valid(body, strlen(body)));
        FU_CHECK(fu_json_valid(body, strlen(body)));
    }
    fz_gateway_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[4096];
    if (!path[0])
        snprintf(path, sizeof path, "%s/fanzha.yaml", fu_tempdir());
    if (fu_write(fu_tempdir(), "fanzha.yaml", data, size))
        abort();
    fz_config *c = NULL;
    fz_error err = {0};
    if (fz_config_load(path, &c, &err) == 0) {
        FU_CHECK(c != NULL);
        touch_config(c);
        if (fz_config_gateway(c))
            check_gateway(fz_config_gateway(c));
        fz_config_free(c);
    } else {
        FU_CHECK(c == NULL && err.message[0] != '\0');
    }
    return 0;
}
