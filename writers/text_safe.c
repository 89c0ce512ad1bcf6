/* text_safe.c -- see text_safe.h. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "lib/utf8.h"
#include "writers/text_safe.h"

size_t hg_text_printable(const unsigned char *p, size_t n)
{
    size_t len = hg_utf8_len(p, n);
    if (len == 1 && (*p < 0x20 || *p == 0x7f))
        return 0;
    if (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f) /* C1: U+0080..U+009F */
        return 0;
    return len;
}

void hg_text_put(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    while (n) {
        size_t len = hg_text_printable(p, n);
        if (len)
            fwrite(p, 1, len, f);
        else
            fputc('?', f);
        len = len ? len : 1;
        p += len;
        n -= len;
    }
}

/* "512 B", "1.5 KiB", "12.3 MiB", ... (binary units, one decimal). */
const char *hg_text_human(uint64_t v, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (v < 1024) {
        snprintf(buf, len, "%" PRIu64 " B", v);
        return buf;
    }
    double d = (double)v / 1024.0;
    size_t u = 0;
    /* 1023.95 and up would print as "1024.0": use the next unit. */
    while (d >= 1023.95 && u + 1 < sizeof units / sizeof *units) {
        d /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.1f %s", d, units[u]);
    return buf;
}
