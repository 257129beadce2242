#!/usr/bin/env python3
"""Derives the nasty fixtures from a real recording: the same events
delivered out of order, duplicated, and a file cut in the middle of an
event; and the same events as BPF sends them since event version 3 (a
server child's birth folded into its next record). Header: 32 bytes;
events: fixed size given in the header."""
import struct
import sys

src = sys.argv[1]
data = open(src, "rb").read()
hdr, body = data[:32], data[32:]
size = struct.unpack_from("<I", hdr, 12)[0]
events = [body[i:i + size] for i in range(0, len(body), size)]

# swap every second pair of neighbours: transitions of one socket arrive
# out of order, as they can from different CPUs
swapped = list(events)
for i in range(0, len(swapped) - 1, 4):
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
open("reordered.rec", "wb").write(hdr + b"".join(swapped))

# every event twice
open("duplicated.rec", "wb").write(hdr + b"".join(e + e for e in events))

# cut in the middle of the 6th event
open("truncated.rec", "wb").write(hdr + b"".join(events[:5]) + events[5][: size // 2])

# event version 3: each server child's LISTEN -> SYN_RECV left out, the next
# record of that socket (sk, gen) flagged SF_F_BIRTH_FOLDED (0x10); version 1
# events had host_tgid reserved (read as 0)
F_BIRTH_FOLDED = 0x10
folded, owed = [], set()
for e in events:
    e = bytearray(e)
    if e[76] == 1:
        struct.pack_into("<I", e, 36, 0)
    e[76] = 3
    sk_gen = e[8:24]
    kind, old, new = e[77], e[79], e[80]
    if kind == 1 and old == 10 and new == 3:  # STATE, LISTEN -> SYN_RECV
        owed.add(bytes(sk_gen))
        continue
    if kind != 6 and bytes(sk_gen) in owed:
        owed.discard(bytes(sk_gen))
        struct.pack_into("<H", e, 82, struct.unpack_from("<H", e, 82)[0] | F_BIRTH_FOLDED)
    folded.append(bytes(e))
assert not owed, "a child's birth with no record after it"
h3 = bytearray(hdr)
struct.pack_into("<I", h3, 16, 3)
open("folded.rec", "wb").write(bytes(h3) + b"".join(folded))
