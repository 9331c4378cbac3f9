"""Soak: 50,000 concurrent connections on one worker process, one room, several minutes
(``make soak``; ``make soak-hypercorn`` for the shorter run under Hypercorn; not in CI).

    python benchmarks/soak.py                                    # 50,000 for 3 min, our runner
    python benchmarks/soak.py --runner hypercorn --connections 10000 --minutes 1
    python benchmarks/soak.py --connections 200 --minutes 0.05 --clients 2   # a smoke run

The server (``benchmarks/soak_app.py``: every connection joins the room ``soak`` and echoes
what it gets) runs as a child process; so do ``--clients`` asyncio client processes
(``benchmarks/soakclient.py``), each binding its sockets to its own loopback source addresses
(127.0.0.2, 127.0.0.3, ...: each address has its own ~28,000 ephemeral ports). This process
raises RLIMIT_NOFILE (soft and hard, as root) before starting them, and they inherit it.

Phases, each with the server's CPU seconds (utime+stime from /proc):

1. **open**: ``--connections`` handshakes, ``--concurrency`` at once per client process; a
   sampler records the server's RSS and open file descriptors every ``--sample`` seconds for
   the whole run (the curve).
2. **warm-up**: every connection sends one message and gets it back; then RSS per connection =
   (RSS with N open - RSS before) / N, with tasks and room members counted by the app.
3. **exchange** for ``--minutes``: every connection sends ``--messages`` messages, spread
   evenly, and checks each echo (lost = sent - echoed); meanwhile a probe makes a fresh
   handshake every ``--probe-interval`` s (p50/p99/max).
4. **broadcast**: one ``room.publish`` (``POST /soak/broadcast``); the time until the last of
   the N clients has it (CLOCK_MONOTONIC, one clock for all processes), and how many did.
5. **close**: every client sends a close frame and waits for the server's; then the server's
   tasks and file descriptors must come back to their values before the open (polled, bounded).

Prints markdown tables and writes JSON to ``benchmarks/results/soak-<runner>-<time>.json``
(and ``soak-<runner>-latest.json``). Exits 1 if a message or a broadcast was lost, a
connection ended early or tasks/fds did not come back.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import cpu_seconds, cpu_times, rss_bytes
from soakprobe import Control, Probe, percentile, wait_for_http
from soakreport import report

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
STARTUP = re.compile(r"serving \S+ on ws://127\.0\.0\.1:(\d+)")
FD_MARGIN = 100  # the server's own descriptors beside its connections (about 20)
PER_ADDRESS = 20_000  # connections per loopback source address (of ~28,000 ephemeral ports)


def raise_file_limit(needed: int) -> int:
    """Soft and hard RLIMIT_NOFILE to at least ``needed``; the soft limit it got.

    Raising the hard limit needs CAP_SYS_RESOURCE (root normally has it; a container may drop
    it), so without it the soft limit goes up to the hard one only. The children inherit it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if needed > hard:
        target = min(needed, int(Path("/proc/sys/fs/nr_open").read_text()))
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    elif needed > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def check_file_limit(connections: int, clients: int) -> int:
    """Raise the file limit for the server (``connections`` sockets in one process) and each
    client process; exit with the reason if this process may not."""
    per_client = -(-connections // clients)
    limit = raise_file_limit(max(connections, per_client) + FD_MARGIN)
    if limit < connections + FD_MARGIN:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        sys.exit(
            f"soak: {connections:,} connections need {connections + FD_MARGIN:,} file "
            f"descriptors in the server process, but the hard limit is {hard:,} and this process "
            "may not raise it (raising it takes CAP_SYS_RESOURCE, which this container or user "
            f"lacks: see CapEff in /proc/self/status). Raise it first (ulimit -Hn, "
            f"LimitNOFILE=, docker --ulimit nofile=...) or ask for at most "
            f"{limit - FD_MARGIN:,} connections."
        )
    return limit


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Server:
    """The server child: ``wsframework run`` or Hypercorn (trio worker), one worker."""

    def __init__(self, runner: str, backlog: int) -> None:
        self.runner = runner
        self.lines: list[str] = []
        if runner == "wsframework":
            command = [sys.executable, "-m", "wsframework", "run", "benchmarks.soak_app:app"]
            command += ["--port", "0", "--backlog", str(backlog), "--no-access-log"]
            command += ["--log-level", "warning"]
        else:
            from soakprobe import free_port

            self.port = free_port()
            command = [sys.executable, "-m", "hypercorn", "--worker-class", "trio"]
            command += ["--workers", "1", "--backlog", str(backlog)]
            command += ["--bind", f"127.0.0.1:{self.port}", "benchmarks.soak_app:app"]
        self.command = command
        self.proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        if runner == "wsframework":
            self.port = 0
            for line in self.proc.stderr:
                self.lines.append(line)
                match = STARTUP.search(line)
                if match:
                    self.port = int(match.group(1))
                    break
            if not self.port:
                self.stop()
                sys.exit("soak: the server did not start:\n" + "".join(self.lines[-20:]))
        threading.Thread(target=self._drain, daemon=True).start()
        wait_for_http(self.port, "/soak/stats", self.proc)
        self.control = Control(self.port)
        self.pid = int(self.stats()["pid"])  # Hypercorn serves from a child process

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            del self.lines[:-200]

    def stats(self) -> dict[str, Any]:
        return self.control.ask("stats")

    def broadcast(self) -> dict[str, Any]:
        return self.control.ask("broadcast")

    def stop(self) -> None:
        if hasattr(self, "control"):
            self.control.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Clients:
    """The client processes, spoken to in JSON lines (``soakclient.py``)."""

    def __init__(self, count: int) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(HERE / "soakclient.py")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]

    def ask(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One request to each client (all at once), then every reply."""
        for proc, req in zip(self.procs, requests, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(req) + "\n")
            proc.stdin.flush()
        replies = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"soak: client process {proc.pid} ended ({proc.poll()})")
            replies.append(json.loads(line))
        return replies

    def all(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        return self.ask([req] * len(self.procs))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                assert proc.stdin is not None
                try:
                    proc.stdin.write('{"cmd": "exit"}\n')
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Sampler(threading.Thread):
    """The server's RSS, open fds and CPU every ``interval`` s, labelled with the phase."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.phase = "before"
        self.samples: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.stopped = threading.Event()

    def sample(self) -> dict[str, Any]:
        row = {
            "t": round(time.monotonic() - self.started, 2),
            "phase": self.phase,
            "rss": rss_bytes(self.pid),
            "fds": fd_count(self.pid),
            "cpu": cpu_seconds(self.pid),
        }
        self.samples.append(row)
        return row

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.sample()
            except OSError:
                return


def settled_rss(pid: int, timeout: float = 10.0) -> int:
    """VmRSS once two readings 0.5 s apart agree within 0.1% (or after ``timeout``)."""
    last = rss_bytes(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_bytes(pid)
        if abs(now - last) <= last // 1000:
            return now
        last = now
    return last


def split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def source_addresses(counts: list[int]) -> list[list[str]]:
    """Loopback source addresses for each client, ``PER_ADDRESS`` connections each at most."""
    out, next_host = [], 2
    for count in counts:
        k = max(1, -(-count // PER_ADDRESS))
        out.append([f"127.0.0.{next_host + i}" for i in range(k)])
        next_host += k
    return out


def steady(server: Server, timeout: float = 30.0) -> dict[str, Any]:
    """The stats once tasks and fds read the same twice, 1 s apart (the startup's HTTP
    request and first probe may leave their connections for a moment)."""
    last = server.stats()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = server.stats()
        if (now["tasks"], now["fds"]) == (last["tasks"], last["fds"]):
            return now
        last = now
    return last


def wait_back(
    server: Server, before: dict[str, Any], timeout: float
) -> tuple[dict[str, Any], float]:
    """Poll the stats until tasks and fds are back to ``before`` (or ``timeout``)."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        stats = server.stats()
        back = stats["tasks"] <= before["tasks"] and stats["fds"] <= before["fds"]
        if back or time.monotonic() > deadline:
            return stats, time.monotonic() - started
        time.sleep(0.5)


def soak(args: argparse.Namespace) -> dict[str, Any]:
    n = args.connections
    result: dict[str, Any] = {"args": vars(args).copy()}
    limit = check_file_limit(n, args.clients)
    server = Server(args.runner, args.backlog)
    clients = Clients(args.clients)
    probe = Probe(server.port)
    try:
        result["command"] = " ".join(server.command)
        pid = server.pid
        probe.once()  # the first connection and stats answer warm up lazy state
        before = steady(server)
        rss_before = settled_rss(pid)
        sampler = Sampler(pid, args.sample)
        sampler.sample()
        sampler.start()
        phases: dict[str, Any] = {}

        def phase(name: str) -> None:
            sampler.phase = name
            gc0 = server.stats()
            phases[name] = {"cpu0": cpu_times(pid), "t0": time.monotonic(), "gc0": gc0}

        def end(name: str, **extra: Any) -> None:
            p = phases[name]
            user0, sys0 = p.pop("cpu0")
            user, system = cpu_times(pid)
            p["cpu_s"] = round(user + system - user0 - sys0, 2) + 0.0  # no "-0.00"
            p["sys_s"] = round(system - sys0, 2) + 0.0
            gc0, gc1 = p.pop("gc0"), server.stats()
            p["gc_s"] = gc1["gc_seconds"] - gc0["gc_seconds"]
            p["gc_gen2"] = gc1["gc_gen2"] - gc0["gc_gen2"]
            p["wall_s"] = time.monotonic() - p.pop("t0")
            p.update(extra)
            print(f"soak: {name}: {json.dumps(p)}", flush=True)

        counts = split(n, args.clients)
        addrs = source_addresses(counts)
        phase("open")
        firsts = [sum(counts[:i]) for i in range(len(counts))]
        opened = clients.ask(
            [
                {
                    "cmd": "open",
                    "port": server.port,
                    "count": c,
                    "addrs": a,
                    "concurrency": args.concurrency,
                    "first_index": f,
                }
                for c, a, f in zip(counts, addrs, firsts, strict=True)
            ]
        )
        total_open = sum(r["opened"] for r in opened)
        rss_open = settled_rss(pid)
        end(
            "open",
            opened=total_open,
            retries=sum(r["retries"] for r in opened),
            errors=[r["errors"] for r in opened if r["errors"]],
            handshake_p99_ms=max(r["handshake_p99_ms"] for r in opened),
            rss=rss_open,
        )
        phase("warm-up")
        warm = clients.all({"cmd": "exchange", "seconds": args.warmup, "messages": 1})
        rss_warm = settled_rss(pid)
        held = server.stats()
        end(
            "warm-up",
            sent=sum(r["sent"] for r in warm),
            lost=sum(r["lost"] for r in warm),
            rss=rss_warm,
            tasks=held["tasks"],
            members=held["members"],
        )
        phase("exchange")
        seconds = args.minutes * 60
        probe.start(args.probe_interval)
        exchanged = clients.all(
            {"cmd": "exchange", "seconds": seconds, "messages": args.messages, "grace": 60}
        )
        probe.stop()
        rss_exchange = rss_bytes(pid)
        end(
            "exchange",
            sent=sum(r["sent"] for r in exchanged),
            echoed=sum(r["echoed"] for r in exchanged),
            probes=len(probe.times),
            rss=rss_exchange,
        )
        phase("broadcast")
        published = server.broadcast()
        got = clients.all({"cmd": "broadcast", "timeout": args.broadcast_timeout})
        latencies = sorted(x for r in got for x in r["latencies_ns"])
        end("broadcast", receivers=sum(r["receivers"] for r in got), members=published["members"])
        phase("close")
        closed = clients.all({"cmd": "close", "timeout": 300})
        end("close", clean=sum(r["clean"] for r in closed))
        phase("after")
        after, settle = wait_back(server, before, args.settle)
        rss_after = settled_rss(pid)
        end("after", tasks=after["tasks"], fds=after["fds"], rss=rss_after)
        sampler.stopped.set()
        sampler.join()
        sampler.sample()
        result.update(
            {
                "runner": args.runner,
                "server_pid": pid,
                "file_limit": limit,
                "source_addresses": addrs,
                "connections": n,
                "opened": total_open,
                "open": opened,
                "rss_before": rss_before,
                "rss_open": rss_open,
                "rss_warm": rss_warm,
                "rss_exchange": rss_exchange,
                "rss_after": rss_after,
                "rss_per_conn_open": (rss_open - rss_before) / max(1, total_open),
                "rss_per_conn_warm": (rss_warm - rss_before) / max(1, total_open),
                "before": before,
                "held": held,
                "after": after,
                "settle_s": settle,
                "warm": warm,
                "exchange": exchanged,
                "sent": sum(r["sent"] for r in warm + exchanged),
                "echoed": sum(r["echoed"] for r in warm + exchanged),
                "lost": sum(r["lost"] for r in warm + exchanged),
                "mismatched": sum(r["mismatched"] for r in warm + exchanged),
                "ended_early": sum(r["ended_early"] for r in exchanged),
                "probe_ms": [t * 1000 for t in probe.times],
                "probe_failed": probe.failed,
                "probe_p50_ms": percentile(probe.times, 0.5) * 1000,
                "probe_p99_ms": percentile(probe.times, 0.99) * 1000,
                "probe_max_ms": max(probe.times, default=0.0) * 1000,
                "published": published,
                "receivers": sum(r["receivers"] for r in got),
                "broadcast_last_ms": (latencies[-1] if latencies else 0) / 1e6,
                "broadcast_p50_ms": percentile(latencies, 0.5) / 1e6,
                "broadcast_p99_ms": percentile(latencies, 0.99) / 1e6,
                "closed": closed,
                "closed_clean": sum(r["clean"] for r in closed),
                "phases": phases,
                "samples": sampler.samples,
                "server_log_tail": server.lines[-20:],
            }
        )
        return result
    finally:
        probe.stop()
        clients.stop()
        server.stop()


def verdict(r: dict[str, Any]) -> list[str]:
    """What went wrong (empty: nothing)."""
    problems = []
    n = r["connections"]
    if r["opened"] != n:
        problems.append(f"only {r['opened']} of {n} connections opened")
    if r["lost"] or r["mismatched"]:
        problems.append(f"{r['lost']} messages lost, {r['mismatched']} mismatched")
    if r["receivers"] != n:
        problems.append(f"the broadcast reached {r['receivers']} of {n}")
    if r["ended_early"]:
        problems.append(f"{r['ended_early']} connections ended early")
    if r["closed_clean"] != n:
        problems.append(f"{r['closed_clean']} of {n} closed cleanly (1000)")
    if r["after"]["tasks"] > r["before"]["tasks"] or r["after"]["fds"] > r["before"]["fds"]:
        problems.append("tasks or fds did not come back to their values before")
    if r["probe_failed"]:
        problems.append(f"{r['probe_failed']} probe handshakes failed")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runner", choices=["wsframework", "hypercorn"], default="wsframework")
    parser.add_argument("--connections", type=int, default=50_000)
    parser.add_argument("--minutes", type=float, default=3.0, help="the exchange phase (3)")
    parser.add_argument("--messages", type=int, default=3, help="per connection, exchange (3)")
    parser.add_argument("--warmup", type=float, default=10.0, help="the warm-up round, s (10)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (4)")
    parser.add_argument("--concurrency", type=int, default=64, help="handshakes at once per client")
    parser.add_argument("--backlog", type=int, default=4096, help="the server's listen backlog")
    parser.add_argument("--probe-interval", type=float, default=0.1)
    parser.add_argument("--sample", type=float, default=1.0, help="RSS/fd sampling period, s")
    parser.add_argument("--broadcast-timeout", type=float, default=120.0)
    parser.add_argument("--settle", type=float, default=60.0, help="wait for tasks/fds, s (60)")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--json", help="write the JSON here instead of --out")
    args = parser.parse_args(argv)
    # `kill` ends the run through the `finally`s: the server and the clients stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = soak(args)
    result["problems"] = verdict(result)
    result["markdown"] = report(result)
    print(result["markdown"])
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    targets = (
        [args.json]
        if args.json
        else [
            os.path.join(args.out, f"soak-{args.runner}-{stamp}.json"),
            os.path.join(args.out, f"soak-{args.runner}-latest.json"),
        ]
    )
    for target in targets:
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        with open(target, "w") as f:
            json.dump(result, f, indent=1)
    print(f"soak: wrote {targets[0]}")
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
