/* Time source. Only node/ and cli/ read the real clock; pure modules get
 * times passed in. */
#ifndef TALLY_UTIL_CLOCK_H
#define TALLY_UTIL_CLOCK_H
#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock). */
uint64_t clock_wall_ms(void);
/* Monotonic nanoseconds (for measuring durations). */
uint64_t clock_mono_ns(void);

#endif
