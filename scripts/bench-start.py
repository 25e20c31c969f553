#!/usr/bin/env python3
"""Times how long `latchkey serve` takes from its start until it listens.

Usage: scripts/bench-start.py [--runs N] [--cpu CPU] [LATCHKEY_BINARY]

Each run starts the server pinned to one CPU (as `taskset -c CPU` does),
on 127.0.0.1 with a free port and a data directory that earlier runs
already initialised, and stops it as soon as it prints the line
"latchkey listening on ...", which it prints once the built-in catalog is
parsed and validated, the keys are loaded and the store is open. The time
from just before the process is started to that line is the wall time of
one start; the CPU time is what the kernel accounted to the process.

The binary defaults to target/release/latchkey. The first run is a warm-up
and is not counted. Prints each figure's median, minimum and maximum.
"""

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

READY = b"latchkey listening on "


def start_once(binary, data_dir, cpu):
    """Returns (wall seconds to the ready line, CPU seconds of the process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    line = process.stdout.readline()
    ready = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    if not line.startswith(READY):
        sys.exit(f"the server did not start: {line!r}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ready - started, cpu_seconds


def summary(name, values):
    milliseconds = [value * 1000 for value in values]
    return (
        f"{name}: median {statistics.median(milliseconds):.1f} ms "
        f"(min {min(milliseconds):.1f}, max {max(milliseconds):.1f})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", nargs="?", default="target/release/latchkey")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"{args.binary} is not an executable; run `cargo build --release` first")

    with tempfile.TemporaryDirectory() as data_dir:
        start_once(args.binary, data_dir, args.cpu)
        walls, cpus = [], []
        for _ in range(args.runs):
            wall, cpu = start_once(args.binary, data_dir, args.cpu)
            walls.append(wall)
            cpus.append(cpu)
    print(f"{args.runs} starts of {args.binary} on CPU {args.cpu}, load average {os.getloadavg()[0]:.2f}")
    print(summary("wall time to ready", walls))
    print(summary("CPU time of the whole process, to its exit", cpus))


if __name__ == "__main__":
    main()
