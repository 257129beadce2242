/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The one 64-bit mixer of the daemon's hash tables (splitmix64's
 * finaliser): socket addresses and tuples differ in few bits. */
#ifndef SYNFIN_HASH_H
#define SYNFIN_HASH_H

#include <stdint.h>
#include <string.h>
#include "../include/sf_net.h"

static inline uint64_t sf_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* Fold a pair of addresses into h. IPv4 uses the first 4
 * bytes of each: callers keep the rest zero (v4-mapped addresses are
 * normalised to IPv4 before hashing). */
static inline uint64_t sf_mix_addrs(uint64_t h, uint8_t family, const uint8_t *a, const uint8_t *b)
{
	if (family == SF_AF_INET) {
		uint32_t x, y;

		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		return sf_mix64(h ^ ((uint64_t)x << 32 | y));
	}
	for (int i = 0; i < 16; i += 8) {
		uint64_t x, y;

		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		h = sf_mix64(h ^ x);
		h = sf_mix64(h ^ y);
	}
	return h;
}

#endif /* SYNFIN_HASH_H */
