/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The one 64-bit mixer of the daemon's hash tables (splitmix64's
 * finaliser): socket addresses and tuples differ in few bits. */
#ifndef SYNFIN_HASH_H
#define SYNFIN_HASH_H

#include <stdint.h>

static inline uint64_t sf_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

#endif /* SYNFIN_HASH_H */
