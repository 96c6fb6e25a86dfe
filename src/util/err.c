#include "util/err.h"
#include <stdarg.h>
#include <stdio.h>

const char *tally_strerror(int err)
{
    switch (err) {
    case TALLY_OK: return "success";
#define TALLY__ERR_STR(name, num, msg) \
    case TALLY_E##name: return msg;
        TALLY_ERRNO_MAP(TALLY__ERR_STR)
#undef TALLY__ERR_STR
    }
    return "unknown error";
}

const char *tally_errname(int err)
{
    switch (err) {
    case TALLY_OK: return "TALLY_OK";
#define TALLY__ERR_NAME(name, num, msg) \
    case TALLY_E##name: return "TALLY_E" #name;
        TALLY_ERRNO_MAP(TALLY__ERR_NAME)
#undef TALLY__ERR_NAME
    }
    return "TALLY_EUNKNOWN";
}

void tally_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int tally_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}
