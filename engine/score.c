/* score.c — the policy (rules/policy.yaml) and scoring: from the fired
 * rules and the number signals to a score, a category and an action.
 *
 * The score is the sum of the scores of the rules that fired (negative ones
 * included: they recognise genuine notices), plus the sender's class score
 * and the largest class score among callback numbers in the text. The
 * category is the one holding the largest share of the positive rule score;
 * number signals have no category of their own. The action follows the
 * thresholds of the policy. */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"
#include "ydoc.h"

/* An optional section of numbers: each key present must be a number >= 0. */
static int parse_numbers(fz_ydoc *d, yaml_node_t *root, const char *section, const char *const *keys, double **dst)
{
    yaml_node_t *sec = fz_ydoc_get(d, root, section);
    if (!sec)
        return 0;
    int bad = fz_ydoc_check_keys(d, sec, keys, NULL, section);
    for (int i = 0; keys[i]; i++) {
        yaml_node_t *v = fz_ydoc_get(d, sec, keys[i]);
        if (!v)
            continue;
        char what[96];
        snprintf(what, sizeof what, "%s.%s", section, keys[i]);
        if (fz_ydoc_number(d, v, NULL, what, dst[i]))
            bad++;
        else if (*dst[i] < 0) {
            fz_ydoc_error(d, v, NULL, "%s must not be negative", what);
            bad++;
        }
    }
    return bad;
}

int fz_policy_parse(fz_ruleset *rs, fz_ydoc *d)
{
    static const char *const top[] = {"version", "actions", "reputation", "campaign", "cache", "warnings", NULL};
    static const char *const actions[] = {"suspect", "block", NULL};
    static const char *const reputation[] = {"half_life_days", "score_per_reporter", "max_score", NULL};
    static const char *const campaign[] = {"recipients_per_hour", "score", NULL};
    static const char *const cache[] = {"ttl_seconds", NULL};
    fz_policy *p = &rs->policy;
    yaml_node_t *root = fz_ydoc_root(d);
    int bad = fz_ydoc_check_keys(d, root, top, NULL, "policy.yaml");
    yaml_node_t *v = fz_ydoc_get(d, root, "version"), *a = fz_ydoc_get(d, root, "actions");
    char *version = NULL;
    if (!v) {
        fz_ydoc_error(d, root, NULL, "policy.yaml needs a 'version'");
        bad++;
    } else if (fz_ydoc_string(d, v, NULL, "version", &version)) {
        bad++;
    }
    *p = (fz_policy){version ? version : "unversioned", 4, 8, 30, 2, 8, 50, 3, 3600};
    double *rep[] = {&p->half_life_days, &p->per_reporter, &p->reputation_max};
    double *camp[] = {&p->campaign_recipients, &p->campaign_score};
    double *cach[] = {&p->cache_ttl};
    bad += parse_numbers(d, root, "reputation", reputation, rep);
    bad += parse_numbers(d, root, "campaign", campaign, camp);
    bad += parse_numbers(d, root, "cache", cache, cach);
    if (!a) {
        fz_ydoc_error(d, root, NULL, "policy.yaml needs 'actions' with suspect and block thresholds");
        return bad + 1;
    }
    bad += fz_ydoc_check_keys(d, a, actions, NULL, "actions");
    yaml_node_t *s = fz_ydoc_get(d, a, "suspect"), *b = fz_ydoc_get(d, a, "block");
    if (!s || !b) {
        fz_ydoc_error(d, a, NULL, "actions needs both 'suspect' and 'block'");
        return bad + 1;
    }
    bad += fz_ydoc_number(d, s, NULL, "actions.suspect", &p->suspect) != 0;
    bad += fz_ydoc_number(d, b, NULL, "actions.block", &p->block) != 0;
    if (!bad && !(p->suspect > 0 && p->block > p->suspect)) {
        fz_ydoc_error(d, a, NULL, "thresholds must satisfy 0 < suspect < block");
        bad++;
    }
    if (!bad && p->half_life_days <= 0) {
        fz_ydoc_error(d, fz_ydoc_get(d, root, "reputation"), NULL, "reputation.half_life_days must be positive");
        bad++;
    }
    /* after the actions: the warn threshold defaults to the block one */
    bad += fz_warn_policy_parse(rs, d, fz_ydoc_get(d, root, "warnings"));
    return bad;
}

void fz_score(const fz_engine *e, fz_worker *w, fz_verdict *v)
{
    const fz_ruleset *rs = e->rs;
    double total = v->sender_score + v->callback_score + v->state_score;
    double best = 0;
    long best_cat = -1;
    /* Most messages fire a handful of rules: accumulate per category by
     * scanning the hits, which is cheaper than an array per category. */
    for (size_t i = 0; i < v->n_hits; i++) {
        const fz_rule *r = &rs->rules[v->hits[i].rule];
        total += r->score;
        if (r->score <= 0)
            continue;
        double share = 0;
        int seen = 0;
        for (size_t j = 0; j < v->n_hits; j++) {
            const fz_rule *o = &rs->rules[v->hits[j].rule];
            if (o->category != r->category || o->score <= 0)
                continue;
            if (j < i) { seen = 1; break; }
            share += o->score;
        }
        if (!seen && share > best) {
            best = share;
            best_cat = (long)r->category;
        }
    }
    (void)w;
    v->score = total;
    v->category = best_cat;
    v->action = total >= rs->policy.block ? FZ_BLOCK : total >= rs->policy.suspect ? FZ_SUSPECT : FZ_ALLOW;
}
