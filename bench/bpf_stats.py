#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Keep BPF run-time statistics (run_time_ns / run_cnt) enabled while alive.

Uses the BPF_ENABLE_STATS syscall instead of writing the
kernel.bpf_stats_enabled sysctl: the kernel keeps statistics on for as long
as the returned fd is open, so nothing has to be restored afterwards, not
even when this process is killed. Prints "enabled" on stdout once the fd is
held, then waits until SIGINT/SIGTERM or until its parent (bench/run.sh) is
gone. Exit status 1 (with a reason on stderr) if the kernel refuses.
"""
import ctypes
import os
import platform
import signal
import sys
import time

# __NR_bpf per architecture
NR_BPF = {
    "x86_64": 321,
    "aarch64": 280,
    "riscv64": 280,
    "loongarch64": 280,
    "ppc64le": 361,
    "ppc64": 361,
    "s390x": 351,
    "armv7l": 386,
    "i686": 357,
}
BPF_ENABLE_STATS = 32
BPF_STATS_RUN_TIME = 0


def main():
    nr = NR_BPF.get(platform.machine())
    if nr is None:
        print(f"bpf_stats: unknown bpf syscall number on {platform.machine()}", file=sys.stderr)
        return 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    attr = ctypes.c_uint32(BPF_STATS_RUN_TIME)  # union bpf_attr.enable_stats.type
    fd = libc.syscall(ctypes.c_long(nr), ctypes.c_int(BPF_ENABLE_STATS),
                      ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if fd < 0:
        err = ctypes.get_errno()
        print(f"bpf_stats: BPF_ENABLE_STATS: {os.strerror(err)}", file=sys.stderr)
        return 1
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    parent = os.getppid()
    print("enabled", flush=True)
    while not stop and os.getppid() == parent:
        time.sleep(0.2)
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
