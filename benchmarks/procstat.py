"""Tiny /proc readers shared by the harness (Linux only)."""

from __future__ import annotations

import os

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), in seconds.

    Resolution is one clock tick (1/SC_CLK_TCK, normally 10 ms), so callers
    should time spans that cost the process a good fraction of a second.
    """
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # comm (field 2) may contain spaces/parens: split after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime/stime are fields 14/15.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of process ``pid`` in seconds: in Python/user space, and in the kernel."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[11]) / _CLK_TCK, int(fields[12]) / _CLK_TCK


def rss_bytes(pid: int) -> int:
    """VmRSS of process ``pid`` in bytes."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def sched_cpu_seconds(pid: int) -> float | None:
    """Nanosecond-resolution CPU time summed over the live threads of ``pid``.

    From /proc/<pid>/task/*/schedstat (first field, ns on-CPU).  Threads that
    already exited are not counted (Trio's worker threads may come and go), so
    this is a cross-check for :func:`cpu_seconds`, not a replacement.  Returns
    None if schedstat is unavailable.
    """
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9
