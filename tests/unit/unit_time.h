/* unit_time.h - what several unit tests need to build wall-clock instants and
 * repeatable random numbers without asking the machine. Header-only: each
 * test is one translation unit. */
#ifndef SLUICE_UNIT_TIME_H
#define SLUICE_UNIT_TIME_H

#include <stdint.h>

/* unit_days_from_civil: days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
static inline int64_t unit_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* unit_splitmix64: the next number of the sequence kept in *STATE; a fixed
 * seed gives the same sequence on every platform. */
static inline uint64_t unit_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

#endif
