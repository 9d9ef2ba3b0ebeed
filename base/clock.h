/* clock.h - the two clocks the daemon uses: wall time for promises that
 * leave the process, monotonic time for deadlines and latencies. */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

uint64_t clock_wall_ms(void);   /* unix epoch, milliseconds */
uint64_t clock_mono_us(void);   /* CLOCK_MONOTONIC, microseconds */
uint64_t clock_mono_ms(void);

#endif
