/* signals.c — names and numbers of rules and signals (see signals.h). */
#include <stdio.h>
#include <string.h>

#include "signals.h"

const char *const fz_entity_signal_names[FZ_ENT_COUNT] = {
    "entity.url", "entity.lookalike_domain", "entity.phone",
    "entity.card", "entity.handle", "entity.amount",
};

long fz_signal_lookup(const fz_ruleset *rs, const char *name)
{
    if (strncmp(name, "entity.", 7) == 0) {
        for (int k = 0; k < FZ_ENT_COUNT; k++)
            if (strcmp(name, fz_entity_signal_names[k]) == 0)
                return fz_signal_entity(rs, k);
        return -1;
    }
    if (strncmp(name, "sender.", 7) == 0) {
        if (strcmp(name + 7, "allowlisted") == 0)
            return fz_signal_allowlisted(rs);
        for (size_t c = 0; c < rs->n_classes; c++)
            if (strcmp(name + 7, rs->classes[c].name) == 0)
                return fz_signal_sender(rs, c);
        return -1;
    }
    for (size_t i = 0; i < rs->n_rules; i++)
        if (strcmp(rs->rules[i].id, name) == 0)
            return (long)i;
    return -1;
}

const char *fz_signal_name(const fz_ruleset *rs, uint32_t s, char *buf, size_t cap)
{
    if (s < rs->n_rules)
        return rs->rules[s].id;
    s -= (uint32_t)rs->n_rules;
    if (s < FZ_ENT_COUNT)
        return fz_entity_signal_names[s];
    s -= FZ_ENT_COUNT;
    snprintf(buf, cap, "sender.%s", s < rs->n_classes ? rs->classes[s].name : "allowlisted");
    return buf;
}
