/* fuzz_message_csv.c — libFuzzer target for the CSV record parser,
 * fz_reader_parse_csv, and the header test fz_csv_is_header
 * (fanzha/message.h). One input is one record (it may span lines inside
 * quotes).
 *
 * Checks: a parsed record has a non-empty text, every view is live memory
 * (read in full), the id comes back as one valid JSON string; an error has a
 * message; a line taken for the header also reads as the record
 * id,from,to,text (the two functions agree on what the header is). The same
 * reader parses every input. */
#include <stdint.h>
#include <stdlib.h>

#include "fanzha/message.h"
#include "fuzzutil.h"

static void touch_message(const fz_message *m)
{
    fu_touch(m->id_json.ptr, m->id_json.len);
    fu_touch(m->from.ptr, m->from.len);
    fu_touch(m->to.ptr, m->to.len);
    fu_touch(m->text.ptr, m->text.len);
    fu_touch(m->ts.ptr, m->ts.len);
    fu_touch(m->extra_json.ptr, m->extra_json.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz_reader *r;
    if (!r && !(r = fz_reader_new()))
        abort();
    const char *rec = (const char *)data;
    int header = fz_csv_is_header(rec, size);
    fz_message m;
    fz_error err = {0};
    int rc = fz_reader_parse_csv(r, rec, size, &m, &err);
    if (header)
        FU_CHECK(rc == 0 && m.text.len == 4);
    if (rc == 0) {
        FU_CHECK(m.text.len > 0);
        touch_message(&m);
        if (m.id_json.len)
            FU_CHECK(fu_json_valid(m.id_json.ptr, m.id_json.len));
    } else {
        FU_CHECK(err.code != 0 && err.message[0] != '\0');
    }
    return 0;
}
