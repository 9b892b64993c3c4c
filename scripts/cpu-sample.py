#!/usr/bin/env python3
"""CPU-seconds per process group while it runs: samples /proc every 0.25 s until SIGTERM or
SIGINT, then prints one `group seconds` line per group (tab-separated), largest first.

    python3 scripts/cpu-sample.py STATE_DIR > out.tsv &   ...   kill %1

Groups: the local fleet whose JETTY_STATE (environment) or command line names STATE_DIR —
`garage`, `workerd`, `fleet` (its node supervisor), `jetty` (the CLI) — and Chromium's
processes by `--type` (`chromium:renderer`, `chromium:browser`, `chromium:network`, …).
Other processes are not counted. CPU used before a process is first seen, or after its last
sample, is missed (at most 0.25 s of it)."""
import os
import re
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
STATE = sys.argv[1].encode() if len(sys.argv) > 1 else b"\0"


def classify(pid):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ")
        env = open(f"/proc/{pid}/environ", "rb").read()
    except OSError:
        return None
    if b"chrom" in cmd:
        kind = re.search(rb"--type=([a-z-]+)", cmd)
        name = kind.group(1).decode() if kind else "browser"
        return "chromium:" + ("network" if b"utility-sub-type=network" in cmd else name)
    if STATE in env or STATE in cmd:
        for key, group in ((b"workerd", "workerd"), (b"garage", "garage"), (b"fleet.mjs", "fleet"),
                           (b"release/jetty ", "jetty")):
            if key in cmd:
                return group
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
first, last, group = {}, {}, {}
while not stopping:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if pid not in group:
                g = classify(pid)
                if g is None:
                    continue
                group[pid], first[pid] = g, cpu_seconds(pid)
            last[pid] = cpu_seconds(pid)
        except OSError:
            continue
    time.sleep(0.25)
totals = {}
for pid, g in group.items():
    totals[g] = totals.get(g, 0.0) + last[pid] - first[pid]
for g, secs in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(f"{g}\t{secs:.2f}")
