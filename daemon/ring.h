/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The consumer side of the per-CPU BPF ring buffers.
 *
 * Each CPU's programs write to their own ring (no lock shared between
 * CPUs on the hot path); this reads them all and hands the records over
 * merged by their timestamp (the first 8 bytes of every record), so the
 * flow table sees one stream in time order. Each ring's data area is
 * mapped once (libbpf maps it twice so that a record can always be read
 * in place; here the rare record that wraps is copied instead), so its
 * memory counts once in RSS.
 */
#ifndef SYNFIN_RING_H
#define SYNFIN_RING_H

#include <stddef.h>
#include <stdint.h>

typedef void (*ring_record_fn)(void *ctx, const void *data, size_t size);

#define RINGS_MAX 16

/* How many rings ncpus CPUs write to: one each, as a power of two, up to
 * RINGS_MAX (past that, CPU id & (count - 1) share one). */
int rings__count(int ncpus);

struct rings;

/* Make n ring buffer maps of size bytes (a power of two), put them at
 * 0..n-1 of the array of maps outer_fd (the BPF programs reserve in
 * theirs from it) and open them for reading; they are closed with the
 * rings. 0 or -errno. */
int rings__create(struct rings **r, int outer_fd, int n, size_t size);
/* Wait up to timeout_ms for a wake-up (0: do not wait), then hand over up
 * to budget records in time order. The number handed over (== budget:
 * more may be waiting), or -errno (-EINTR: a signal). */
int rings__poll(struct rings *r, int timeout_ms, int budget, ring_record_fn fn, void *ctx);
/* An fd that polls readable when a ring woke its consumer (an epoll fd
 * over the rings), for the caller's own event loop; -1 for rings in
 * memory. */
int rings__fd(const struct rings *r);
/* The same over rings in plain memory (the unit tests): ring i's consumer
 * and producer positions and its data area of size bytes, laid out as
 * the kernel lays it out. rings__poll does not wait on these. */
int rings__open_memory(struct rings **r, int n, size_t size, uint64_t *const *cons,
		       const uint64_t *const *prod, const uint8_t *const *data);
void rings__close(struct rings *r);

#endif /* SYNFIN_RING_H */
