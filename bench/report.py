#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Summarise bench/run.sh's runs: medians, ratios to baseline, targets.

usage: report.py META_JSON RUNS_JSONL HOLD_JSON OUT_DIR [PACKET_JSON]
Writes OUT_DIR/results.json and OUT_DIR/results.md and prints the markdown.
Exit status 1 if synfin lost events, produced no flow records or a synfin or
baseline run failed; never because of speed.
"""
import json
import os
import statistics
import sys

import report_netns  # the many-namespaces section (bench/netns.sh)

AIM_RATIO = 0.90
TARGET_ADDED = 0.10
TARGET_STATE_NS = 150
TARGET_PACKET_NS = 50
TARGET_RSS_MIB = 64
TARGET_HOLD_FLOWS = 100000
STATE_PROG = "sf_set_state"
PACKET_NA = "n/a (no packet hook ran)"


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0, unit=""):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:,.{nd}f}{unit}"


def load(meta_p, runs_p, hold_p):
    with open(meta_p) as f:
        meta = json.load(f)
    runs = []
    with open(runs_p) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    hold = None
    if os.path.exists(hold_p):
        with open(hold_p) as f:
            hold = json.load(f)
    return meta, runs, hold


def bpf_summary(runs):
    """per program: median ns/run over runs, median runs per connection"""
    progs = {}
    for r in runs:
        for b in r.get("bpf") or []:
            p = progs.setdefault(b["name"], {"ns": [], "per_conn": [], "runs": 0})
            p["runs"] += b["run_cnt"]
            if b["run_cnt"] > 0:
                p["ns"].append(b["run_time_ns"] / b["run_cnt"])
            if r["conns"]:
                p["per_conn"].append(b["run_cnt"] / r["conns"])
    out = {}
    for name, p in progs.items():
        out[name] = {
            "ns_per_run": median(p["ns"]),
            "runs_per_conn": median(p["per_conn"]),
            "total_runs": p["runs"],
        }
    # no run counts at all: BPF statistics were off
    total = [sum(b["run_time_ns"] for b in r.get("bpf") or []) / r["conns"]
             for r in runs if r["conns"] and sum(b["run_cnt"] for b in r.get("bpf") or [])]
    return out, median(total)


def per_conn(r, x):
    return x / r["conns"] if r["conns"] and x is not None else None


def storm_cpu_ns_per_conn(r):
    cpu = (r.get("storm") or {}).get("cpu_s")
    return per_conn(r, None if cpu is None else cpu * 1e9)


def summarise_shape(configs, runs):
    """one traffic shape: per observer, medians over its rounds"""
    base_runs = {r["round"]: r for r in runs if r["config"] == "baseline" and r["ok"]}
    summary = {}
    for cfg in configs:
        rs = [r for r in runs if r["config"] == cfg]
        ok = [r for r in rs if r["ok"]]
        s = {
            "runs": len(rs),
            "failed": len(rs) - len(ok),
            "errors": [r["error"] for r in rs if r.get("error")],
            "conn_per_s": median([r["conn_per_s"] for r in ok]),
            "conn_per_s_all": [r["conn_per_s"] for r in rs],
            "storm_errors": sum((r.get("storm") or {}).get("errors", {}).get("total", 0) for r in rs),
            # what a connection costs the machine (storm threads + the
            # loopback's softirq work, BPF programs included)
            "storm_cpu_us_per_conn": median([storm_cpu_ns_per_conn(r) for r in ok]),
        }
        if s["storm_cpu_us_per_conn"] is not None:
            s["storm_cpu_us_per_conn"] /= 1000
        if cfg != "baseline":
            s["round_ratios"] = [r["conn_per_s"] / base_runs[r["round"]]["conn_per_s"] for r in ok
                                 if r["round"] in base_runs and base_runs[r["round"]]["conn_per_s"]]
            s["median_round_ratio"] = median(s["round_ratios"])
            s["events_seen"] = median([r["events_seen"] for r in ok])
            s["events_per_conn"] = median([per_conn(r, r["events_seen"]) for r in ok])
            lost = [r["events_lost"] for r in rs if r["events_lost"] is not None]
            s["events_lost"] = sum(lost) if lost else None
            s["cpu_us_per_conn"] = median([per_conn(r, None if r["cpu_s"] is None else r["cpu_s"] * 1e6)
                                           for r in ok])
            s["cpu_ms_per_10k_conns"] = None if s["cpu_us_per_conn"] is None else s["cpu_us_per_conn"] * 10
            s["output_bytes_per_conn"] = median([per_conn(r, r.get("output_bytes")) for r in ok])
            hwm = [r["peak_rss_kb"] for r in ok if r.get("peak_rss_kb")]
            s["peak_rss_mib"] = max(hwm) / 1024 if hwm else None
            s["bpf"], s["bpf_ns_per_conn"] = bpf_summary(ok)
            # the headline: what the observer adds to a connection (its
            # BPF programs + its process), over what the connection costs
            # without it (same round's baseline)
            added = []
            for r in ok:
                b = base_runs.get(r["round"])
                bcpu = storm_cpu_ns_per_conn(b) if b else None
                if not r["conns"] or r["cpu_s"] is None or not bcpu:
                    continue
                bpf_ns = sum(x["run_time_ns"] for x in r.get("bpf") or []) / r["conns"]
                added.append((bpf_ns + r["cpu_s"] * 1e9 / r["conns"]) / bcpu)
            s["added_cpu_ratio"] = median(added)
        if cfg.startswith("synfin") or cfg == "scoped":
            s["flows_emitted"] = median([r["flows_emitted"] for r in ok])
            s["flows_per_conn"] = median([per_conn(r, r["flows_emitted"]) for r in ok])
            s["flow_record_bytes"] = median([r["flow_record_bytes"] for r in ok
                                             if r.get("flow_record_bytes") is not None])
            st = s["bpf"].get(STATE_PROG, {})
            s["bpf_ns_per_state_event"] = st.get("ns_per_run")
            # its backup copy runs on every state event too (it only
            # handles those the kernel skipped for the main copy)
            bk = s["bpf"].get(STATE_PROG + "_nested", {})
            s["bpf_ns_per_state_event_backup"] = bk.get("ns_per_run")
            # the packet programs (tc): their runs are packets
            pk = [b for n, b in s["bpf"].items() if n.startswith("sf_seg")]
            pruns = sum(b["total_runs"] for b in pk)
            pns = sum(b["ns_per_run"] * b["total_runs"] for b in pk if b["ns_per_run"] is not None)
            s["bpf_ns_per_packet"] = pns / pruns if pruns else PACKET_NA
        summary[cfg] = s
    base = summary.get("baseline", {}).get("conn_per_s")
    for cfg in configs:
        if cfg != "baseline":
            c = summary[cfg]["conn_per_s"]
            summary[cfg]["ratio"] = c / base if c is not None and base else None
    return summary


# a host-wide run that saw this many times the events per connection of
# the scoped runs of its shape also saw other traffic on the machine
FOREIGN_FACTOR = 1.2


def mark_foreign(meta, runs):
    """Host-wide observers see every namespace: on a shared machine another
    workload's connections (someone else's storm) land in its events, CPU,
    BPF time and bytes. Such runs are set aside (foreign = True): their
    figures are not this shape's cost."""
    for r in runs:
        r["foreign"] = False
    for sh in meta["shapes"]:
        ref = median([r["events_seen"] / r["conns"] for r in runs
                      if r.get("shape", "plain") == sh and r["config"] == "scoped" and r["ok"]
                      and r["conns"] and r["events_seen"] is not None])
        for r in runs:
            if (ref and r.get("shape", "plain") == sh and r["config"].startswith("synfin") and r["ok"]
                    and r["conns"] and r["events_seen"] is not None
                    and r["events_seen"] / r["conns"] > FOREIGN_FACTOR * ref):
                r["foreign"] = True
    # tcpstates and tcplife are host-wide too: against their own median
    # over every shape (10 and 2 events per connection)
    for cfg in ("tcpstates", "tcplife"):
        mine = [r for r in runs if r["config"] == cfg and r["ok"] and r["conns"] and r["events_seen"] is not None]
        ref = median([r["events_seen"] / r["conns"] for r in mine])
        for r in mine:
            if ref and r["events_seen"] / r["conns"] > FOREIGN_FACTOR * ref:
                r["foreign"] = True


def summarise(meta, runs, hold):
    meta.setdefault("shapes", ["plain"])
    mark_foreign(meta, runs)
    return {sh: summarise_shape(meta["configs"], [r for r in runs if r.get("shape", "plain") == sh
                                                  and not r.get("foreign")])
            for sh in meta["shapes"]}


def state_event_ns(s):
    """BPF per state event: the state program and its backup copy (which
    runs on every state event too), or None"""
    ns = s.get("bpf_ns_per_state_event")
    return None if ns is None else ns + (s.get("bpf_ns_per_state_event_backup") or 0)


def checks(meta, runs, summary, hold):
    """correctness only (decides the exit status) + targets (reported)"""
    fails, warns, targets = [], [], []
    for r in runs:
        if not r["ok"]:
            msg = f"round {r['round']} {r.get('shape')} {r['config']}: {r['error']}"
            (fails if r["config"] in ("baseline", "synfin", "scoped", "synfin-floor") else warns).append(msg)
    for sh in meta["shapes"]:
        for cfg in ("synfin", "scoped"):
            lost = summary[sh].get(cfg, {}).get("events_lost")
            if lost:
                fails.append(f"{sh}: {cfg} lost {lost} events")
    for r in runs:
        if r.get("foreign"):
            warns.append(f"round {r['round']} {r.get('shape')} {r['config']}: "
                         f"{r['events_seen'] / r['conns']:.1f} events/conn, more than {FOREIGN_FACTOR} x its "
                         f"usual: other connections on the machine (set aside; "
                         f"{r['events_lost'] or 0} events lost, {r['conn_per_s']:,.0f} conn/s)")
    for r in runs:
        if r["config"] in ("synfin", "scoped") and r["ok"] and not r.get("foreign"):
            what = f"round {r['round']} {r.get('shape')} {r['config']}"
            if not r["flows_emitted"]:
                fails.append(f"{what}: no flow records")
            elif r["conns"] and r["flows_emitted"] < r["conns"]:
                fails.append(f"{what}: {r['flows_emitted']} flow records for {r['conns']} connections")
            elif r["conns"] and r["flows_emitted"] < 2 * r["conns"] * 0.999:
                warns.append(f"{what}: {r['flows_emitted']} flow records "
                             f"for {r['conns']} connections (2 expected per connection)")
    # the floor measures a ring record per event and nothing else (its
    # daemon reads them as undecodable): at least one per state event, 9
    # or more per connection (a reset or retransmit still makes a real one)
    for r in runs:
        if r["config"] == "synfin-floor" and r["ok"] and r["conns"]:
            floor = ((r.get("synfin_stats") or {}).get("events") or {}).get("decode_errors") or 0
            if floor < 9 * r["conns"]:
                fails.append(f"round {r['round']} {r.get('shape')} synfin-floor: {floor / r['conns']:.1f} "
                             f"floor records per connection (9 or more expected: not the floor build?)")
    if meta.get("synfin_rebuilt_during_run"):
        warns.append("build/synfin changed while the benchmark ran: its runs mix two builds")
    if hold is not None:
        if not hold["ok"]:
            fails.append(f"hold test: {hold['error']}")
        if hold.get("events_lost"):
            fails.append(f"hold test: synfin lost {hold['events_lost']} events")

    for sh in meta["shapes"]:
        sf = summary[sh].get("synfin", {})
        ratio = sf.get("median_round_ratio")
        targets.append({
            "what": f"{sh}: synfin conn/s >= {AIM_RATIO:.0%} of the baseline (per-round ratio)",
            "value": None if ratio is None else round(ratio, 3),
            "met": None if ratio is None else ratio >= AIM_RATIO,
        })
        added = sf.get("added_cpu_ratio")
        targets.append({
            "what": f"{sh}: synfin's added CPU per connection <= {TARGET_ADDED:.0%} of the baseline's",
            "value": None if added is None else round(added, 3),
            "met": None if added is None else added <= TARGET_ADDED,
        })
        lost = sf.get("events_lost")
        targets.append({"what": f"{sh}: synfin lost events == 0", "value": lost,
                        "met": None if lost is None else lost == 0})
        ns = state_event_ns(sf)
        fl = state_event_ns(summary[sh].get("synfin-floor", {}))
        floor = f"; the floor's, a ring record and nothing else: {fl:.0f} ns" if fl is not None else ""
        targets.append({"what": f"{sh}: BPF <= {TARGET_STATE_NS} ns per state event ({STATE_PROG} "
                                f"+ its backup copy{floor})",
                        "value": None if ns is None else round(ns, 1),
                        "met": None if ns is None else ns <= TARGET_STATE_NS})
    pk = summary.get("packet")
    if pk is not None:
        pns = pk.get("ns_per_run")
        targets.append({"what": f"BPF <= {TARGET_PACKET_NS} ns per non-control packet "
                                f"({pk['program']}, {pk['method']}, {pk['packet']})",
                        "value": pns, "met": None if pns is None else pns <= TARGET_PACKET_NS})
    if hold is not None:
        rss = hold["rss_kb"] / 1024 if hold.get("rss_kb") else None
        flows = hold.get("flows_open")
        met = None
        if rss is not None and flows is not None:
            met = rss <= TARGET_RSS_MIB and flows >= TARGET_HOLD_FLOWS
        targets.append({"what": f"RSS <= {TARGET_RSS_MIB} MiB with {TARGET_HOLD_FLOWS:,} open flows",
                        "value": None if rss is None else round(rss, 1), "flows_open": flows,
                        "met": met})
    return fails, warns, targets


def mark(m):
    return "—" if m is None else ("met" if m else "**MISSED**")


NAMES = {"synfin": "synfin (host-wide, default)", "synfin-b": "synfin-b (BENCH_SYNFIN_B, host-wide)",
         "scoped": "synfin --netns (scoped)", "tcpstates": "tcpstates (libbpf-tools)",
         "tcplife": "tcplife (libbpf-tools)",
         "synfin-floor": "floor: a ring record per event, nothing else (build/floor/synfin)"}


def pct(x):
    return None if x is None else f"{x * 100:.0f}%"


def markdown(meta, summary, hold, fails, warns, targets):
    m = meta["machine"]
    runs = summary["_runs"]
    L = []
    L.append(f"# synfin benchmark{' (quick)' if meta['quick'] else ''}")
    L.append("")
    L.append(f"{meta['date']} · {meta['synfin']} · {m['cpu']}, {m['nproc']} CPUs · kernel {m['kernel']}")
    L.append("")
    L.append(f"Loopback connection storms (build/storm, {meta['storm']['clients']} client + "
             f"{meta['storm']['servers']} server threads), {meta['rounds']} round(s) x {meta['duration_s']} s "
             f"per shape and observer, order rotated per round; medians over rounds. "
             f"\"vs baseline\" = median of each round's ratio to that round's baseline; "
             f"observer CPU = its process, user+sys; BPF = all its programs (statistics: {meta['bpf_stats']}); "
             f"bytes = what it wrote; **added CPU** = (BPF + observer CPU) per connection / the baseline "
             f"storm's own CPU per connection in the same round. Wall time {meta['wall_s']} s.")
    L.append("")
    L.append("Shapes: " + "; ".join(f"`{sh}` = storm {meta['shape_args'].get(sh, '')}" for sh in meta["shapes"]) + ".")
    L.append("")
    L.append("| shape | observer | conn/s | vs baseline | events/conn | lost | BPF ns/conn | "
             "observer CPU us/conn | bytes/conn | added CPU |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sh in meta["shapes"]:
        for cfg in meta["configs"]:
            s = summary[sh][cfg]
            if not s["runs"]:
                continue  # not run in this shape (the floor: BENCH_FLOOR)
            name = NAMES.get(cfg, cfg)
            if s["failed"]:
                name += f" ({s['failed']} run(s) failed)"
            if cfg == "baseline":
                L.append(f"| {sh} | baseline: {fmt(s['storm_cpu_us_per_conn'], 1)} us CPU/conn | "
                         f"{fmt(s['conn_per_s'])} | 100% | — | — | — | — | — | — |")
                continue
            L.append(f"| {sh} | {name} | {fmt(s['conn_per_s'])} | {fmt(pct(s.get('median_round_ratio')))} | "
                     f"{fmt(s['events_per_conn'], 1)} | {fmt(s['events_lost'])} | "
                     f"{fmt(s['bpf_ns_per_conn'], 0)} | {fmt(s['cpu_us_per_conn'], 1)} | "
                     f"{fmt(s['output_bytes_per_conn'], 0)} | {fmt(pct(s.get('added_cpu_ratio')))} |")
    L.append("")
    for sh in meta["shapes"]:
        s = summary[sh].get("synfin")
        if s:
            L.append(f"{sh}: synfin flow records per connection {fmt(s.get('flows_per_conn'), 3)} "
                     f"(2 expected: client and server), {fmt(s.get('flow_record_bytes'))} bytes per flow record "
                     f"(default --detail auto), peak RSS {fmt(s.get('peak_rss_mib'), 1, ' MiB')}.")
    for sh in meta["shapes"]:
        s, f = summary[sh].get("synfin"), summary[sh].get("synfin-floor")
        if s and f and f.get("added_cpu_ratio") is not None and s.get("added_cpu_ratio") is not None:
            per_rec = (f["bpf_ns_per_conn"] / f["events_per_conn"]
                       if f.get("bpf_ns_per_conn") and f.get("events_per_conn") else None)
            L.append(f"{sh}: the floor's {fmt(f.get('events_per_conn'), 1)} ring records per connection "
                     f"({fmt(per_rec, 0)} ns per record: all its BPF time, the program runs that send none "
                     f"included; daemon {fmt(f.get('cpu_us_per_conn'), 1)} us/conn to read and drop them) "
                     f"add {pct(f['added_cpu_ratio'])} (medians); synfin's work on them adds "
                     f"{(s['added_cpu_ratio'] - f['added_cpu_ratio']) * 100:.0f} points more "
                     f"(BPF {fmt(s.get('bpf_ns_per_conn'), 0)} vs {fmt(f.get('bpf_ns_per_conn'), 0)} ns/conn, "
                     f"daemon {fmt(s.get('cpu_us_per_conn'), 1)} vs {fmt(f.get('cpu_us_per_conn'), 1)} us/conn).")
    L.append("")
    L.append("BPF time per program run (median over rounds; run_time_ns / run_cnt), per shape:")
    L.append("")
    L.append("| observer | program | kind | " + " | ".join(f"{sh} ns/run" for sh in meta["shapes"])
             + " | runs/conn (" + meta["shapes"][0] + ") |")
    L.append("|---|---|---|" + "---:|" * (len(meta["shapes"]) + 1))
    for cfg in meta["configs"]:
        if cfg == "baseline":
            continue
        names = set()
        for sh in meta["shapes"]:
            names |= {n for n, b in (summary[sh][cfg].get("bpf") or {}).items() if b["total_runs"]}
        syn = cfg.startswith("synfin") or cfg == "scoped"
        for name in sorted(names, key=lambda n: (n != STATE_PROG, n)):
            kind = "state event" if (syn and name == STATE_PROG) else \
                "packet" if (syn and name.startswith("sf_seg")) else ""
            cells = [fmt((summary[sh][cfg].get("bpf") or {}).get(name, {}).get("ns_per_run"), 0)
                     for sh in meta["shapes"]]
            rpc = (summary[meta["shapes"][0]][cfg].get("bpf") or {}).get(name, {}).get("runs_per_conn")
            L.append(f"| {cfg} | {name} | {kind} | " + " | ".join(cells) + f" | {fmt(rpc, 2)} |")
    L.append("")
    if hold is not None:
        L.append("Open flows (synfin scoped to the hold namespace, JSON to file):")
        L.append("")
        L.append("| connections held | sockets | flows open in synfin | RSS | peak RSS | idle RSS | lost |")
        L.append("|---:|---:|---:|---:|---:|---:|---:|")
        L.append(f"| {fmt(hold.get('connections'))} | {fmt(hold.get('sockets'))} | {fmt(hold.get('flows_open'))} | "
                 f"{fmt(hold['rss_kb'] / 1024 if hold.get('rss_kb') else None, 1, ' MiB')} | "
                 f"{fmt(hold['peak_rss_kb'] / 1024 if hold.get('peak_rss_kb') else None, 1, ' MiB')} | "
                 f"{fmt(hold['idle_rss_kb'] / 1024 if hold.get('idle_rss_kb') else None, 1, ' MiB')} | "
                 f"{fmt(hold.get('events_lost'))} |")
        L.append("")
    L.append("Per round, conn/s (run order in brackets):")
    L.append("")
    L.append("| shape | round | " + " | ".join(meta["configs"]) + " |")
    L.append("|---|---|" + "---:|" * len(meta["configs"]))
    for sh in meta["shapes"]:
        for rnd in range(1, meta["rounds"] + 1):
            cells = []
            for cfg in meta["configs"]:
                r = [x for x in runs if x["round"] == rnd and x["config"] == cfg
                     and x.get("shape", "plain") == sh]
                cells.append("—" if not r else
                             (f"{r[0]['conn_per_s']:,.0f} [{r[0]['order'] + 1}]" if r[0]["ok"] else "failed"))
            L.append(f"| {sh} | {rnd} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("Targets (reported, never enforced):")
    L.append("")
    for t in targets:
        extra = ""
        if "flows_open" in t:
            extra += f"; {fmt(t['flows_open'])} flows open"
        v = t["value"]
        if isinstance(v, float):
            v = fmt(v, 3 if v < 10 else 1)
        L.append(f"- {t['what']}: {fmt(v)} → {mark(t['met'])}{extra}")
    L.append("")
    if fails:
        L.append("FAILED:")
        L.extend(f"- {f}" for f in fails)
        L.append("")
    if warns:
        L.append("Warnings:")
        L.extend(f"- {w}" for w in warns)
        L.append("")
    return "\n".join(L)


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__, file=sys.stderr)
        return 2
    meta, runs, hold = load(*sys.argv[1:4])
    out = sys.argv[4]
    packet = None
    if len(sys.argv) == 6 and os.path.exists(sys.argv[5]):
        with open(sys.argv[5]) as f:
            packet = json.load(f)
    summary = summarise(meta, runs, hold)
    summary["packet"] = packet
    fails, warns, targets = checks(meta, runs, summary, hold)
    netns = report_netns.load(os.path.join(out, "netns.json"))
    fails += report_netns.failures(netns)
    result = {
        "meta": meta,
        "summary": summary,
        "hold": hold,
        "targets": targets,
        "ok": not fails,
        "failures": fails,
        "warnings": warns,
        "runs": runs,
    }
    result["netns"] = netns
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    summary["_runs"] = runs
    md = markdown(meta, summary, hold, fails, warns, targets) + report_netns.markdown(netns)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
