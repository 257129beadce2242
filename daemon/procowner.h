/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Socket inode -> owning process, through /proc/PID/fd: for sockets that
 * existed before synfin started, whose connect/accept it never saw.
 */
#ifndef SYNFIN_PROCOWNER_H
#define SYNFIN_PROCOWNER_H

#include "flow.h"

/* Fill .tgid/.comm of every socket whose inode some process holds open
 * (the first such process wins). Sockets are sorted by inode in place.
 * Returns how many were resolved. */
int procowner__resolve(struct sf_snapshot_sock *socks, int n);

#endif /* SYNFIN_PROCOWNER_H */
