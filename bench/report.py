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

TARGET_RATIO = 0.75
AIM_RATIO = 0.90
TARGET_STATE_NS = 200
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


def summarise(meta, runs, hold):
    configs = meta["configs"]
    base_by_round = {r["round"]: r["conn_per_s"] for r in runs
                     if r["config"] == "baseline" and r["ok"]}
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
        }
        if cfg != "baseline":
            s["round_ratios"] = [r["conn_per_s"] / base_by_round[r["round"]] for r in ok
                                 if base_by_round.get(r["round"])]
            s["median_round_ratio"] = median(s["round_ratios"])
            s["events_seen"] = median([r["events_seen"] for r in ok])
            s["events_per_conn"] = median([r["events_seen"] / r["conns"] for r in ok
                                           if r["conns"] and r["events_seen"] is not None])
            lost = [r["events_lost"] for r in rs if r["events_lost"] is not None]
            s["events_lost"] = sum(lost) if lost else None
            s["cpu_ms_per_10k_conns"] = median([r["cpu_s"] * 1000 * 10000 / r["conns"] for r in ok
                                                if r["conns"] and r["cpu_s"] is not None])
            hwm = [r["peak_rss_kb"] for r in ok if r.get("peak_rss_kb")]
            s["peak_rss_mib"] = max(hwm) / 1024 if hwm else None
            s["bpf"], s["bpf_ns_per_conn"] = bpf_summary(ok)
        if cfg.startswith("synfin"):
            s["flows_emitted"] = median([r["flows_emitted"] for r in ok])
            s["flows_per_conn"] = median([r["flows_emitted"] / r["conns"] for r in ok
                                          if r["conns"] and r["flows_emitted"] is not None])
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


def checks(meta, runs, summary, hold):
    """correctness only (decides the exit status) + targets (reported)"""
    fails, warns = [], []
    sf = summary.get("synfin", {})
    for r in runs:
        if not r["ok"]:
            msg = f"round {r['round']} {r['config']}: {r['error']}"
            (fails if r["config"] in ("baseline", "synfin") else warns).append(msg)
    if sf.get("events_lost"):
        fails.append(f"synfin lost {sf['events_lost']} events")
    for r in runs:
        if r["config"] == "synfin" and r["ok"]:
            if not r["flows_emitted"]:
                fails.append(f"round {r['round']} synfin: no flow records")
            elif r["conns"] and r["flows_emitted"] < r["conns"]:
                fails.append(f"round {r['round']} synfin: {r['flows_emitted']} flow records "
                             f"for {r['conns']} connections")
            elif r["conns"] and r["flows_emitted"] < 2 * r["conns"] * 0.999:
                warns.append(f"round {r['round']} synfin: {r['flows_emitted']} flow records "
                             f"for {r['conns']} connections (2 expected per connection)")
    if meta.get("synfin_rebuilt_during_run"):
        warns.append("build/synfin changed while the benchmark ran: its runs mix two builds")
    if hold is not None:
        if not hold["ok"]:
            fails.append(f"hold test: {hold['error']}")
        if hold.get("events_lost"):
            fails.append(f"hold test: synfin lost {hold['events_lost']} events")

    targets = []
    ratio = sf.get("ratio")
    targets.append({
        "what": f"synfin conn/s >= {TARGET_RATIO:.0%} of baseline (aim {AIM_RATIO:.0%})",
        "value": None if ratio is None else round(ratio, 3),
        "met": None if ratio is None else ratio >= TARGET_RATIO,
        "aim_met": None if ratio is None else ratio >= AIM_RATIO,
    })
    lost = sf.get("events_lost")
    targets.append({"what": "synfin lost events == 0", "value": lost,
                    "met": None if lost is None else lost == 0})
    ns = sf.get("bpf_ns_per_state_event")
    bk = sf.get("bpf_ns_per_state_event_backup")
    targets.append({"what": f"BPF <= {TARGET_STATE_NS} ns per state event ({STATE_PROG}"
                            + (f"; its backup copy adds {bk:.0f} ns" if bk is not None else "") + ")",
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


def markdown(meta, summary, hold, fails, warns, targets):
    m = meta["machine"]
    L = []
    L.append(f"# synfin benchmark{' (quick)' if meta['quick'] else ''}")
    L.append("")
    L.append(f"{meta['date']} · {meta['synfin']} · {m['cpu']}, {m['nproc']} CPUs · kernel {m['kernel']}")
    L.append("")
    L.append(f"Loopback connection storm (build/storm: {meta['storm']['clients']} client + "
             f"{meta['storm']['servers']} server threads, server closes first), "
             f"{meta['rounds']} round(s) x {meta['duration_s']} s per observer, order rotated per round; "
             f"medians over rounds; \"vs baseline\" = median / baseline median (the target's measure), "
             f"\"per-round ratio\" = median of each round's ratio to that round's baseline. "
             f"Observers write to a file; CPU = observer process user+sys. "
             f"BPF statistics: {meta['bpf_stats']}. Wall time {meta['wall_s']} s.")
    L.append("")
    L.append("| observer | conn/s | vs baseline | per-round ratio | events/run | events/conn | lost | "
             "CPU ms / 10k conn | peak RSS | BPF ns/conn |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for cfg in meta["configs"]:
        s = summary[cfg]
        name = {"synfin": "synfin (full capture, JSON to file)",
                "tcpstates": "tcpstates (libbpf-tools, to file)",
                "tcplife": "tcplife (libbpf-tools, to file)"}.get(cfg, cfg)
        if s["failed"]:
            name += f" ({s['failed']} run(s) failed)"
        if cfg == "baseline":
            L.append(f"| {name} | {fmt(s['conn_per_s'])} | 100% | — | — | — | — | — | — | — |")
            continue
        ratio = None if s.get("ratio") is None else f"{s['ratio'] * 100:.0f}%"
        rr = None if s.get("median_round_ratio") is None else f"{s['median_round_ratio'] * 100:.0f}%"
        L.append(f"| {name} | {fmt(s['conn_per_s'])} | {fmt(ratio)} | {fmt(rr)} | {fmt(s['events_seen'])} | "
                 f"{fmt(s['events_per_conn'], 1)} | {fmt(s['events_lost'])} | "
                 f"{fmt(s['cpu_ms_per_10k_conns'], 0)} | {fmt(s['peak_rss_mib'], 1, ' MiB')} | "
                 f"{fmt(s['bpf_ns_per_conn'], 0)} |")
    L.append("")
    if "synfin" in summary:
        s = summary["synfin"]
        L.append(f"synfin flow records per connection: {fmt(s.get('flows_per_conn'), 3)} (2 expected: client and server).")
        L.append(f"synfin bytes per flow record (default --detail auto): {fmt(s.get('flow_record_bytes'))}.")
        L.append("")
    L.append("BPF time per program run (median over rounds; run_time_ns / run_cnt):")
    L.append("")
    L.append("| observer | program | kind | ns / run | runs / conn |")
    L.append("|---|---|---|---:|---:|")
    for cfg in meta["configs"]:
        if cfg == "baseline":
            continue
        bpf = summary[cfg].get("bpf") or {}
        for name in sorted(bpf, key=lambda n: (n != STATE_PROG, n)):
            b = bpf[name]
            if not b["total_runs"]:
                continue
            kind = "state event" if (cfg.startswith("synfin") and name == STATE_PROG) else \
                "packet" if (cfg.startswith("synfin") and name.startswith("sf_seg")) else ""
            L.append(f"| {cfg} | {name} | {kind} | {fmt(b['ns_per_run'], 0)} | {fmt(b['runs_per_conn'], 2)} |")
        if cfg == "synfin" and not any(n.startswith("sf_seg") for n in bpf):
            L.append(f"| synfin | (packets) | packet | {PACKET_NA} | — |")
    L.append("")
    if hold is not None:
        L.append("Open flows (synfin, full capture, JSON to file):")
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
    L.append("| round | " + " | ".join(meta["configs"]) + " |")
    L.append("|---|" + "---:|" * len(meta["configs"]))
    for rnd in range(1, meta["rounds"] + 1):
        cells = []
        for cfg in meta["configs"]:
            r = [x for x in summary["_runs"] if x["round"] == rnd and x["config"] == cfg]
            cells.append("—" if not r else
                         (f"{r[0]['conn_per_s']:,.0f} [{r[0]['order'] + 1}]" if r[0]["ok"] else "failed"))
        L.append(f"| {rnd} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("Targets (reported, never enforced):")
    L.append("")
    for t in targets:
        extra = ""
        if "aim_met" in t and t["aim_met"] is not None:
            extra = f"; aim {'met' if t['aim_met'] else 'not met'}"
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
