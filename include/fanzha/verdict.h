/* fanzha/verdict.h — what the engine concluded about one message.
 *
 * A verdict is reused from message to message (fz_engine_scan overwrites it),
 * so a thread allocates one and keeps it. Rule ids and category names point
 * into the engine that produced the verdict and stay valid while that engine
 * does. Offsets are byte offsets into the ORIGINAL text of the message. */
#ifndef FANZHA_VERDICT_H
#define FANZHA_VERDICT_H

#include <stddef.h>
#include "buf.h"
#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fz_action {
    FZ_ALLOW = 0,
    FZ_SUSPECT = 1,
    FZ_BLOCK = 2
} fz_action;

typedef struct fz_verdict fz_verdict;

typedef struct fz_hit {
    const char *rule;       /* rule id */
    const char *category;   /* category of the rule */
    double score;
    int has_span;           /* 0 for combinations: they point at the rules they combine */
    size_t start, end;      /* evidence span in the original text */
} fz_hit;

fz_verdict *fz_verdict_new(void);
void fz_verdict_free(fz_verdict *v);

const char *fz_action_name(fz_action a);
fz_action fz_verdict_action(const fz_verdict *v);
double fz_verdict_score(const fz_verdict *v);
/* The category with the largest share of the score, or NULL when no rule with
 * a positive score fired. */
const char *fz_verdict_category(const fz_verdict *v);
size_t fz_verdict_hit_count(const fz_verdict *v);
/* 0, or FZ_EINVAL when i is out of range. */
int fz_verdict_hit(const fz_verdict *v, size_t i, fz_hit *out);
/* 1 when the rule fired (combinations included). */
int fz_verdict_fired(const fz_verdict *v, const char *rule_id);
/* The sender's number class ("virtual_operator") or NULL. */
const char *fz_verdict_sender_class(const fz_verdict *v);

/* Append the verdict as one JSON line (with '\n') to out. m is the message
 * the verdict is about: its id and unknown fields are copied, and evidence
 * strings are cut from its text. 0 or FZ_ENOMEM. */
int fz_verdict_write_json(const fz_verdict *v, const fz_message *m, fz_buf *out);

#ifdef __cplusplus
}
#endif
#endif
