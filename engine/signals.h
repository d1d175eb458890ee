/* signals.h — numbering of everything a combination can refer to.
 *
 * One bit set per message holds all of them: rule r is signal r; then the
 * entity signals (entity.url ...); then one signal per sender number class
 * (sender.<class>), and last sender.allowlisted. */
#ifndef FZ_SIGNALS_H
#define FZ_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

#include "ruleset.h"

enum fz_entity_kind {
    FZ_ENT_URL = 0,
    FZ_ENT_LOOKALIKE,
    FZ_ENT_PHONE,
    FZ_ENT_CARD,
    FZ_ENT_HANDLE,
    FZ_ENT_AMOUNT,
    FZ_ENT_COUNT
};

extern const char *const fz_entity_signal_names[FZ_ENT_COUNT];

static inline uint32_t fz_signal_entity(const fz_ruleset *rs, int kind)
{
    return (uint32_t)rs->n_rules + (uint32_t)kind;
}

static inline uint32_t fz_signal_sender(const fz_ruleset *rs, size_t cls)
{
    return (uint32_t)(rs->n_rules + FZ_ENT_COUNT + cls);
}

static inline uint32_t fz_signal_allowlisted(const fz_ruleset *rs)
{
    return fz_signal_sender(rs, rs->n_classes);
}

static inline size_t fz_signal_count(const fz_ruleset *rs)
{
    return rs->n_rules + FZ_ENT_COUNT + rs->n_classes + 1;
}

/* The signal number of a rule id or signal name, or -1. */
long fz_signal_lookup(const fz_ruleset *rs, const char *name);
/* The name of signal s ("zh.x.y", "entity.url", "sender.virtual_operator"). */
const char *fz_signal_name(const fz_ruleset *rs, uint32_t s, char *buf, size_t cap);

#endif
