#include "util/err.h"

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
