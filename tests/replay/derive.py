#!/usr/bin/env python3
"""Derives the nasty fixtures from a real recording: the same events
delivered out of order, duplicated, and a file cut in the middle of an
event. Header: 32 bytes; events: fixed size given in the header."""
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
