# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The many-namespaces part of the benchmark report (issue 16): what
bench/netns.sh measured, read from its JSON (OUT_DIR/netns.json), as a
markdown section and a results.json member. Its own file so the storm
report (report.py) and this one change apart."""
import json
import os


def load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def failures(n):
    """What makes the benchmark fail: synfin did not follow them all, or
    did not let go of them (fds) once they were deleted."""
    if n is None or n.get("ok"):
        return []
    return [f"namespaces: {n.get('error') or 'bench/netns.sh failed'}"]


def markdown(n):
    if n is None:
        return ""
    mib = lambda kib: f"{kib / 1024:.1f} MiB"
    per = n["namespaces"]
    L = ["", f"## {per:,} network namespaces (bench/netns.sh)", ""]
    L.append(f"Each with lo and a veth pair up ({n['interfaces_each']} interfaces to hook), made before synfin "
             f"starts; synfin follows them by name (--netns-named). Baseline: the same synfin following none.")
    L.append("")
    L.append("| | value | per namespace |")
    L.append("|---|---|---|")
    L.append(f"| attach (start to \"capturing\", all hooked) | {n['attach_ms'] / 1000:.1f} s | "
             f"{n['attach_ms'] / per:.1f} ms |")
    L.append(f"| followed | {n['followed']} of {per} | |")
    d_rss = n["rss_kib"] - n["baseline_rss_kib"]
    # two starts differ by a few MiB: a smaller difference is noise
    L.append(f"| RSS | {mib(n['rss_kib'])} (baseline {mib(n['baseline_rss_kib'])}) | "
             f"{d_rss / per:.1f} KiB{'' if abs(d_rss) > 8192 else ' (within the noise of a few MiB)'} |")
    d_fds = n["fds"] - n["baseline_fds"]
    L.append(f"| fds | {n['fds']} (baseline {n['baseline_fds']}) | {d_fds / per:.1f} |")
    L.append(f"| after deleting them all ({n['deleted_ms'] / 1000:.1f} s): let go of within | "
             f"{n['release_ms'] / 1000:.1f} s | |")
    L.append(f"| RSS, fds, followed after | {mib(n['rss_after_kib'])}, {n['fds_after']}, "
             f"{n['followed_after']} | |")
    if not n.get("ok"):
        L.append("")
        L.append(f"FAILED: {n.get('error')}")
    return "\n".join(L)
