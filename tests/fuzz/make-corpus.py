#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

replay: the recorded fixtures (tests/replay/*.rec) cut into one file per
        connection (its listener with it), each with the recording's header.
flow:   programs in fuzz_flow.c's input format, one per way a connection
        ends and per table mechanism (hand-over, rounds, half-open,
        pile-ups, stuck, eviction, time-wait sockets, segments).
ring:   rings with records that wrap, busy and discarded ones, budgets.
show:   the flow records of tests/show/*.jsonl (synfin show's golden inputs),
        after a style byte (ASCII, colours).
top:    what a live socket carries: the replay fixtures' expected output
        (flows, listens, stats) and every record type the docs show, after
        a byte choosing the width and the filter.

Regression inputs (crashes found and fixed) live next to the seeds, named
regress-*; this script leaves them alone. Run it again after changing an
input format, and commit what changes.
"""
import glob
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
EV_SIZE = 120

# ---- replay ---------------------------------------------------------------


def replay_pieces():
    out = {}
    for path in sorted(glob.glob(os.path.join(TOP, "tests/replay/*.rec"))):
        name = os.path.basename(path)[:-4]
        data = open(path, "rb").read()
        head, body = data[:32], data[32:]
        groups = {}
        for off in range(0, len(body) - len(body) % EV_SIZE, EV_SIZE):
            ev = body[off:off + EV_SIZE]
            sport, dport = struct.unpack_from("<HH", ev, 72)
            # the server's port names the connection (ephemeral ports are
            # higher); a listener has no peer port
            key = min(p for p in (sport, dport) if p) if (sport or dport) else 0
            groups.setdefault(key, []).append(ev)
        for key, evs in groups.items():
            out[f"{name}-{key}"] = head + b"".join(evs)
        if len(body) % EV_SIZE:  # a cut-short last event, as truncated.rec
            out[f"{name}-tail"] = head + body[-(len(body) % EV_SIZE) - EV_SIZE:]
    out["header-only"] = data[:32]
    return out


# ---- flow: fuzz_flow.c's format ---------------------------------------------

OP_EVENT, OP_RAW, OP_ADVANCE, OP_ROUND, OP_FLUSH = 0, 3, 4, 5, 6
EST, SYN_SENT, SYN_RECV, FW1, FW2, TW, CLOSE, CW, LAST_ACK, LISTEN, CLOSING = range(1, 12)
STATE, RETRANS, SYNACK_RETRANS, RST_RECV, RST_SENT, SEGMENT = range(1, 7)
NEW_GEN, NO_ENTRY, CLOSE_INFO, PEER_FIN = 1, 2, 4, 8
ERRNO = {"ECONNREFUSED": 1, "ETIMEDOUT": 2, "ECONNRESET": 3, "EHOSTUNREACH": 4}
US, MS, S, BACK = 0, 1, 2, 3
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10

# endpoints: (address index, port index); see addrs[] and ports[] there
CLIENT = (0, 2)  # 10.0.0.1:40000
SERVER = (1, 1)  # 10.0.0.2:80
ANY = (5, 0)     # a listener's peer


def settings(max_flows=62, grace_100us=10, tw_rounds=False, lo_mirror=False, stuck_rate=0,
             stuck=(), stuck_ms=0, half_open=0, seg_hold_ms=0, tw_hold_ms=0, max_tw=0,
             pile_tw=0, pile_cw=0, clock_ms=1000):
    mask = 0
    for s in stuck:
        mask |= 1 << s
    b = bytearray(16)
    b[0] = (max_flows - 2) & 63
    b[1] = grace_100us
    b[2] = (tw_rounds and 1) | (lo_mirror and 2) | (stuck_rate << 4)
    b[3], b[4] = mask & 0xFF, mask >> 8
    b[5] = max(stuck_ms - 1, 0)
    b[6] = half_open
    b[7] = seg_hold_ms
    b[8] = tw_hold_ms
    b[9] = max_tw
    b[10] = pile_tw
    b[11] = pile_cw
    b[12] = 0  # wall clock: late 2025
    b[13], b[14], b[15] = (clock_ms >> 16) & 0xFF, (clock_ms >> 8) & 0xFF, clock_ms & 0xFF
    return bytes(b)


def t16(mode, n):
    return struct.pack("<H", (mode << 14) | n)


def ev(sk, old, new, kind=STATE, flags=0, owner=1, err=None, local=CLIENT, peer=SERVER, v6=False,
       comm=0, gen=0, dt=(US, 100), seg=None, ns=0):
    a = sk | gen << 3 | kind << 5
    b = old | new << 4
    c = flags | owner << 4 | (0x80 if err else 0)
    d = local[0] | peer[0] << 3 | (1 if v6 else 0) << 6
    e = local[1] | peer[1] << 2 | ns << 4 | comm << 5
    out = bytes([OP_EVENT, a, b, c, d, e]) + t16(*dt)
    if err:
        out += bytes([ERRNO[err]])
    if seg:
        fl, out_dir, seq, ack, ln = seg
        out += bytes([fl, out_dir | 2]) + struct.pack("<HHB", seq, ack, ln)
    elif comm == 7:
        out += b"\xffcomm\x00with\nNUL"[:16].ljust(16, b"\x00")
    return out


def segment(fl, out_dir, seq, ack, ln=0, local=CLIENT, peer=SERVER, dt=(US, 50)):
    """a captured segment; out_dir 1: sent by local"""
    src, dst = (local, peer) if out_dir else (peer, local)
    return ev(0, 0, 0, kind=SEGMENT, local=src, peer=dst, dt=dt, seg=(fl, out_dir, seq, ack, ln), owner=0)


def advance(mode, n):
    return bytes([OP_ADVANCE]) + t16(mode, n)


def sock(cookie, state, local=CLIENT, peer=SERVER, inode=True, tgid=1):
    return bytes([cookie | state << 3 | (0x80 if inode else 0), local[0] | peer[0] << 3,
                  local[1] | peer[1] << 2 | tgid << 5])


def round_(*socks, complete=True):
    return bytes([OP_ROUND, len(socks) | (0x80 if complete else 0)]) + b"".join(socks)


FLUSH = bytes([OP_FLUSH])


def client_open(sk=0, gen=0, **kw):
    return (ev(sk, CLOSE, SYN_SENT, flags=NEW_GEN, gen=gen, **kw) +
            ev(sk, SYN_SENT, EST, owner=0, gen=gen, **kw))


def listener(sk=2, port=SERVER, **kw):
    return ev(sk, CLOSE, LISTEN, flags=NEW_GEN, owner=2, local=port, peer=ANY, **kw)


def child(sk=1, **kw):
    return (ev(sk, LISTEN, SYN_RECV, flags=NEW_GEN, owner=3, local=SERVER, peer=CLIENT, **kw) +
            ev(sk, SYN_RECV, EST, owner=0, local=SERVER, peer=CLIENT, **kw))


def active_close(sk=0, peer_fin=True, **kw):
    return (ev(sk, EST, FW1, owner=5, **kw) + ev(sk, FW1, FW2, owner=0, **kw) +
            ev(sk, FW2, CLOSE, flags=CLOSE_INFO | (PEER_FIN if peer_fin else 0), owner=0, **kw))


def passive_close(sk=1, **kw):
    side = dict(local=SERVER, peer=CLIENT)
    side.update(kw)
    return (ev(sk, EST, CW, owner=0, **side) + ev(sk, CW, LAST_ACK, owner=5, **side) +
            ev(sk, LAST_ACK, CLOSE, flags=CLOSE_INFO, owner=0, **side))


def handshake_segments(lo=True):
    return (segment(SYN, 1, 1000, 0) + segment(SYN | ACK, 0, 5000, 1001) + segment(ACK, 1, 1001, 5001))


def teardown_segments():
    return (segment(FIN | ACK, 1, 1001, 5001) + segment(ACK, 0, 5001, 1002) +
            segment(FIN | ACK, 0, 5001, 1002) + segment(ACK, 1, 1002, 5002))


def flow_programs():
    p = {}
    s0 = settings()
    p["client-normal-close"] = s0 + client_open() + active_close() + advance(S, 1)
    p["client-passive-close"] = s0 + client_open() + passive_close(sk=0, local=CLIENT, peer=SERVER) + advance(S, 1)
    p["server-passive-close"] = s0 + listener() + child() + passive_close() + \
        ev(2, LISTEN, CLOSE, flags=CLOSE_INFO, local=SERVER, peer=ANY, owner=5) + advance(S, 1)
    p["simultaneous-close"] = s0 + client_open() + ev(0, EST, FW1, owner=5) + ev(0, FW1, CLOSING, owner=0) + \
        ev(0, CLOSING, CLOSE, flags=CLOSE_INFO | PEER_FIN, owner=0) + advance(S, 1)
    p["reset-received"] = s0 + client_open() + ev(0, EST, EST, kind=RST_RECV, owner=0) + \
        ev(0, EST, CLOSE, flags=CLOSE_INFO, err="ECONNRESET", owner=0) + advance(S, 1)
    p["reset-sent"] = s0 + client_open() + ev(0, EST, CLOSE, flags=CLOSE_INFO, owner=5) + \
        ev(0, CLOSE, CLOSE, kind=RST_SENT, owner=0) + advance(S, 1)
    p["refused"] = s0 + ev(0, CLOSE, SYN_SENT, flags=NEW_GEN) + ev(0, SYN_SENT, SYN_SENT, kind=RST_RECV, owner=0) + \
        ev(0, SYN_SENT, CLOSE, flags=CLOSE_INFO, err="ECONNREFUSED", owner=0) + advance(S, 1)
    p["syn-timeout"] = s0 + ev(0, CLOSE, SYN_SENT, flags=NEW_GEN) + \
        ev(0, SYN_SENT, SYN_SENT, kind=RETRANS, owner=0, dt=(S, 1)) + \
        ev(0, SYN_SENT, SYN_SENT, kind=RETRANS, owner=0, dt=(S, 2)) + \
        ev(0, SYN_SENT, CLOSE, flags=CLOSE_INFO, err="ETIMEDOUT", owner=0, dt=(S, 4)) + advance(S, 1)
    p["unreachable"] = s0 + ev(0, CLOSE, SYN_SENT, flags=NEW_GEN) + \
        ev(0, SYN_SENT, CLOSE, flags=CLOSE_INFO, err="EHOSTUNREACH", owner=0, dt=(S, 3)) + advance(S, 1)
    p["aborted"] = s0 + ev(0, CLOSE, SYN_SENT, flags=NEW_GEN) + ev(0, SYN_SENT, CLOSE, flags=CLOSE_INFO, owner=5) + \
        advance(S, 1)
    p["never-established"] = s0 + listener() + \
        ev(1, LISTEN, SYN_RECV, flags=NEW_GEN, owner=3, local=SERVER, peer=CLIENT) + \
        ev(1, SYN_RECV, SYN_RECV, kind=SYNACK_RETRANS, owner=0, local=SERVER, peer=CLIENT) + \
        ev(1, SYN_RECV, CLOSE, flags=CLOSE_INFO, owner=0, local=SERVER, peer=CLIENT, err="ETIMEDOUT") + advance(S, 1)
    p["reordered-duplicated"] = s0 + ev(0, SYN_SENT, EST, owner=0, dt=(US, 200)) + \
        ev(0, CLOSE, SYN_SENT, flags=NEW_GEN, dt=(BACK, 100)) + ev(0, SYN_SENT, EST, owner=0) + \
        active_close() + ev(0, FW1, FW2, owner=0) + advance(S, 1)
    p["mid-flow"] = s0 + ev(3, EST, FW1, flags=NO_ENTRY, owner=5) + ev(3, FW1, FW2, owner=0) + \
        ev(3, FW2, CLOSE, flags=CLOSE_INFO | PEER_FIN, owner=0) + advance(S, 1)
    p["hostile-comm-v6"] = s0 + client_open(v6=True, comm=7) + active_close(v6=True, comm=3) + \
        client_open(sk=4, local=(2, 2), peer=(3, 1), comm=4) + FLUSH
    # the active closer's socket handed to a time-wait socket in FIN_WAIT_2
    p["handover-round-time-wait"] = settings(tw_rounds=True, max_tw=8) + client_open() + \
        active_close(peer_fin=False) + advance(S, 1) + \
        round_(sock(0, FW2, inode=False)) + advance(S, 2) + round_(sock(0, TW, inode=False)) + advance(S, 2) + \
        round_() + advance(S, 70)
    p["handover-round-gone"] = settings(tw_rounds=True, stuck=(FW2,), stuck_ms=200) + client_open() + \
        active_close(peer_fin=False) + advance(S, 1) + round_(sock(0, FW2, inode=False)) + \
        advance(S, 5) + round_() + advance(S, 1)
    p["handover-no-rounds"] = settings(lo_mirror=True, max_tw=8) + client_open() + active_close(peer_fin=False) + \
        advance(S, 70) + FLUSH
    p["handover-segments"] = settings(lo_mirror=True, max_tw=8, tw_hold_ms=20) + \
        handshake_segments() + client_open() + segment(FIN | ACK, 1, 1001, 5001) + \
        ev(0, EST, FW1, owner=5) + segment(ACK, 0, 5001, 1002) + ev(0, FW1, FW2, owner=0) + \
        ev(0, FW2, CLOSE, flags=CLOSE_INFO, owner=0) + advance(MS, 5) + segment(FIN | ACK, 0, 5001, 1002) + \
        segment(ACK, 1, 1002, 5002) + advance(MS, 50) + segment(RST, 0, 5002, 0) + \
        client_open(gen=1) + advance(S, 70)
    # a round decided while the segment that says it exactly waited in the
    # backlog: the segment's earlier time wins
    to_handover = handshake_segments() + client_open() + segment(FIN | ACK, 1, 1001, 5001) + \
        ev(0, EST, FW1, owner=5) + segment(ACK, 0, 5001, 1002) + ev(0, FW1, FW2, owner=0) + \
        ev(0, FW2, CLOSE, flags=CLOSE_INFO, owner=0)
    p["handover-round-then-backlog"] = settings(tw_rounds=True, lo_mirror=True) + to_handover + \
        advance(MS, 2) + round_(sock(0, TW, inode=False)) + segment(FIN | ACK, 0, 5001, 1002, dt=(BACK, 900)) + \
        advance(S, 2)
    p["handover-gone-then-backlog-rst"] = settings(tw_rounds=True, lo_mirror=True) + to_handover + \
        advance(MS, 2) + round_(sock(0, FW2, inode=False)) + advance(MS, 2) + round_() + \
        segment(RST, 0, 5001, 0, dt=(BACK, 900)) + advance(S, 2)
    p["segments-full"] = settings(lo_mirror=True) + listener() + handshake_segments() + client_open() + \
        child() + teardown_segments() + active_close() + passive_close() + advance(S, 4)
    p["segments-placeholder"] = settings(seg_hold_ms=5) + segment(SYN, 1, 7, 0, local=(6, 3), peer=(6, 1)) + \
        segment(RST | ACK, 0, 0, 8, local=(6, 3), peer=(6, 1)) + advance(S, 1)
    # half-open requests: SYNs at a listener, counted and capped
    p["half-open"] = settings(tw_rounds=True, half_open=2) + listener() + \
        segment(SYN, 0, 300, 0, local=SERVER, peer=CLIENT) + \
        segment(SYN, 0, 300, 0, local=SERVER, peer=(0, 3)) + \
        segment(SYN, 0, 300, 0, local=SERVER, peer=(4, 3)) + \
        ev(0, SYN_RECV, SYN_RECV, kind=SYNACK_RETRANS, owner=0, local=SERVER, peer=CLIENT) + \
        round_(sock(0, SYN_RECV, local=SERVER, peer=CLIENT, inode=False)) + advance(S, 1) + \
        child() + round_() + advance(S, 1)
    p["snapshot-join-vanish"] = settings(tw_rounds=True) + \
        round_(sock(3, EST), sock(4, LISTEN, local=SERVER, peer=ANY), sock(5, CW, local=(0, 3), peer=SERVER),
               sock(6, SYN_RECV, local=SERVER, peer=(4, 2), inode=False)) + \
        ev(3, EST, FW1, flags=NO_ENTRY, owner=5) + ev(3, FW1, FW2, owner=0) + \
        ev(3, FW2, CLOSE, flags=CLOSE_INFO | PEER_FIN, owner=0) + advance(S, 2) + \
        round_(sock(4, LISTEN, local=SERVER, peer=ANY)) + advance(S, 1) + round_(complete=False) + FLUSH
    p["snapshot-no-rounds"] = settings() + round_(sock(1, EST), sock(2, LISTEN, local=SERVER, peer=ANY)) + \
        ev(1, EST, CW, flags=NO_ENTRY, owner=0) + advance(S, 1) + FLUSH
    # stuck and resolved, CLOSE_WAIT pile-up of one process
    cw = b"".join(child(sk=k, comm=2) + ev(k, EST, CW, owner=0, local=SERVER, peer=CLIENT) for k in (1, 3, 4))
    p["stuck-close-wait-pileup"] = settings(stuck=(CW, LAST_ACK), stuck_ms=50, stuck_rate=2, pile_cw=2) + \
        listener() + cw + advance(MS, 60) + advance(MS, 600) + passive_close(sk=1) + passive_close(sk=3) + \
        advance(S, 1) + FLUSH
    p["time-wait-pileup"] = settings(tw_rounds=True, pile_tw=2, max_tw=4) + \
        round_(*(sock(0, TW, local=(0, k), peer=SERVER, inode=False) for k in (0, 2, 3))) + advance(S, 1) + \
        round_(sock(0, TW, local=(0, 2), peer=SERVER, inode=False)) + advance(S, 1) + round_()
    p["eviction"] = settings(max_flows=3) + listener() + client_open(sk=0) + client_open(sk=3, local=(0, 3)) + \
        client_open(sk=4, local=(2, 3)) + child(sk=5) + active_close(sk=3, local=(0, 3)) + advance(S, 1)
    p["generations"] = s0 + client_open(gen=0) + active_close(gen=0) + client_open(gen=1) + \
        ev(0, EST, CLOSE, flags=CLOSE_INFO, gen=1, err="ECONNRESET", owner=0) + advance(MS, 1) + \
        ev(0, SYN_SENT, EST, gen=0, owner=0) + advance(S, 1)
    raw = bytearray(EV_SIZE)
    struct.pack_into("<QQQ", raw, 0, 5_000_000, 0xFFFF888000001000, 1)
    raw[40:44], raw[56:60] = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    struct.pack_into("<HH", raw, 72, 40000, 80)
    raw[76:84] = bytes([1, STATE, 2, CLOSE, SYN_SENT, 1, NEW_GEN, 0])
    p["raw-event"] = s0 + bytes([OP_RAW]) + bytes(raw) + ev(0, SYN_SENT, CLOSE, flags=CLOSE_INFO, dt=(S, 1)) + \
        advance(S, 1)
    return p


# ---- ring: fuzz_ring.c's format ---------------------------------------------

def ring_programs():
    def produce(r, length, ts=4, how=0):
        n = length - 1
        return bytes([0, r, n & 0xFF, n >> 8, ts, how])

    def commit(r, k, discard=False):
        return bytes([1, r, k, 1 if discard else 0])

    def poll(budget):
        return bytes([2, budget - 1])

    p = {}
    # 2 rings of 256 bytes; ring 0 starts 16 bytes before the end: its
    # first record wraps
    start = struct.pack("<I", (256 - 16) // 8) + struct.pack("<I", 0)
    p["wrap-merge"] = bytes([1 | 2 << 2]) + start + produce(0, 120) + produce(1, 120, ts=8) + \
        produce(0, 16, how=3) + produce(0, 40) + poll(64) + produce(1, 120) + poll(1) + poll(64)
    p["busy-commit"] = bytes([0 | 3 << 2]) + struct.pack("<I", 1 << 20) + produce(0, 120, how=2) + \
        produce(0, 120) + poll(8) + commit(0, 0) + poll(8) + produce(0, 8, how=2) + commit(0, 0, True) + poll(8)
    p["four-rings-full"] = bytes([3]) + b"\0" * 16 + b"".join(produce(i % 4, 24 + i, ts=i) for i in range(12)) + \
        poll(3) + poll(64)
    return p


# ---- show: fuzz_show.c's format ---------------------------------------------

def show_inputs():
    out = {}
    for i, path in enumerate(sorted(glob.glob(os.path.join(TOP, "tests/show/*.jsonl")))):
        style = i % 4  # bit 0 ASCII, bit 1 colours
        out[os.path.basename(path)[:-6]] = bytes([style]) + open(path, "rb").read()
    return out


# ---- top: fuzz_top.c's format -----------------------------------------------

def top_inputs():
    out = {}
    for i, path in enumerate(sorted(glob.glob(os.path.join(TOP, "tests/replay/*.expected.jsonl")))):
        name = os.path.basename(path)[:-len(".expected.jsonl")]
        out[name] = bytes([(20 + 16 * i) & 63 | (i % 4) << 6]) + open(path, "rb").read()
    # one line of every record type the docs show (hello, stuck, resolved,
    # pile-ups, time_wait, summary, stats...)
    lines = []
    for path in sorted(glob.glob(os.path.join(TOP, "docs/*.md"))) + [os.path.join(TOP, "README.md")]:
        for line in open(path, encoding="utf-8"):
            if line.startswith('{"type":'):
                lines.append(line)
    out["docs-records"] = bytes([60]) + "".join(lines).encode()
    return out


def write(target, progs):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith("regress-"):
            os.unlink(os.path.join(d, f))
    for name, data in progs.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    return len(progs), sum(len(v) for v in progs.values())


if __name__ == "__main__":
    for target, progs in (("replay", replay_pieces()), ("flow", flow_programs()), ("ring", ring_programs()),
                          ("show", show_inputs()), ("top", top_inputs())):
        n, size = write(target, progs)
        print(f"{target}: {n} inputs, {size} bytes")
