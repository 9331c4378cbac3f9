"""Run the Autobahn testsuite against wsframework (or trio-websocket) and summarise the reports.

    python conformance/run.py [--impl wsframework|trio_websocket] [--cases '1.*,2.*']
                              [--exclude '12.*,13.*'] [--side both|server|client] [--parallel]

Every option has an environment variable of the same meaning (the option wins):
IMPL, CASES, EXCLUDE_CASES, SIDE, PARALLEL=1, SERVER_PORT (default 9001, our echo server under
wstest's fuzzingclient), FUZZ_PORT (default 9002, wstest's fuzzingserver for our client),
CASE_TIMEOUT (per client case, seconds), SIDE_TIMEOUT (per side, seconds).

Sides:
  server  our echo server (conformance/server.py) tested by ``wstest -m fuzzingclient``
  client  our client (conformance/client.py) tested by ``wstest -m fuzzingserver``

Reports go to conformance/reports/{servers,clients}/ (cleared at the start of each side); logs
of the processes to conformance/reports/*.log. Prints one summary line per side, e.g.

    server: 517 cases, 517 OK/NON-STRICT/INFORMATIONAL, 0 FAILED, 0 UNIMPLEMENTED

then the failing case ids, and exits 1 if any case FAILED (behavior or behaviorClose), is
UNIMPLEMENTED, or is missing from the report; 2 on a harness error. Needs .venv27/bin/wstest
(bash conformance/setup_py27.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORTS = HERE / "reports"
PY27 = Path(os.environ.get("VENV27", ROOT / ".venv27")) / "bin" / "python"
WSTEST = [str(PY27), str(HERE / "wstest_loopback.py")]
PY3 = sys.executable
HOST = "127.0.0.1"

OK_BEHAVIORS = {"OK", "NON-STRICT", "INFORMATIONAL"}


class HarnessError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[conformance] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes (ours only, by PID)

_started: list[subprocess.Popen[bytes]] = []
_started_lock = threading.Lock()


def start(cmd: list[str], logfile: Path) -> subprocess.Popen[bytes]:
    with open(logfile, "wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT
        )
    with _started_lock:
        _started.append(proc)
    log(f"started pid {proc.pid}: {' '.join(cmd)} (log: {logfile.relative_to(ROOT)})")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate one process we started, by its PID; SIGKILL after a grace period."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with _started_lock:
        if proc in _started:
            _started.remove(proc)


def stop_all() -> None:
    with _started_lock:
        procs = list(_started)
    for proc in procs:
        stop(proc)


def _on_signal(signum: int, _frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


@contextmanager
def running(cmd: list[str], logfile: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start(cmd, logfile)
    try:
        yield proc
    finally:
        stop(proc)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # Like the servers themselves: TIME_WAIT leftovers of a previous run don't count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"pid {proc.pid} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    raise HarnessError(f"nothing listening on {HOST}:{port} after {timeout:.0f}s")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------- specs and reports


def write_spec(path: Path, spec: dict[str, object]) -> None:
    path.write_text(json.dumps(spec, indent=2) + "\n")


def expected_cases(spec_path: Path) -> list[str]:
    out = subprocess.run(
        [*WSTEST, "--list-cases", str(spec_path)], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def case_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in case_id.split(".") if p.isdigit())


@dataclass
class Summary:
    side: str
    agent: str
    expected: list[str]
    results: dict[str, dict[str, object]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    def failed(self) -> list[str]:
        return sorted(
            (
                c
                for c, r in self.results.items()
                if r.get("behavior") == "FAILED" or r.get("behaviorClose") == "FAILED"
            ),
            key=case_key,
        )

    def unimplemented(self) -> list[str]:
        return sorted(
            (
                c
                for c, r in self.results.items()
                if r.get("behavior") == "UNIMPLEMENTED" and c not in self.failed()
            ),
            key=case_key,
        )

    def missing(self) -> list[str]:
        return sorted(set(self.expected) - set(self.results), key=case_key)

    def ok(self) -> int:
        return len(self.results) - len(self.failed()) - len(self.unimplemented())

    def bad(self) -> bool:
        return bool(self.error or self.failed() or self.unimplemented() or self.missing())

    def line(self) -> str:
        text = (
            f"{self.side}: {len(self.results)} cases, {self.ok()} OK/NON-STRICT/INFORMATIONAL, "
            f"{len(self.failed())} FAILED, {len(self.unimplemented())} UNIMPLEMENTED"
        )
        if self.missing():
            text += f", {len(self.missing())} MISSING of {len(self.expected)}"
        return text


def read_index(outdir: Path, agent: str) -> dict[str, dict[str, object]]:
    index = outdir / "index.json"
    if not index.exists():
        return {}
    data: dict[str, dict[str, dict[str, object]]] = json.loads(index.read_text())
    return data.get(agent, {})


def case_detail(outdir: Path, result: dict[str, object]) -> str:
    report = outdir / str(result.get("reportfile", ""))
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return ""
    parts = []
    if result.get("behavior") != "OK":
        parts.append(str(data.get("result", "")))
    if result.get("behaviorClose") not in ("OK", "INFORMATIONAL", None):
        parts.append(str(data.get("resultClose", "")))
    return " | ".join(p for p in parts if p)


# ---------------------------------------------------------------- the two sides


@dataclass
class Config:
    impl: str
    cases: list[str]
    exclude: list[str]
    server_port: int
    fuzz_port: int
    case_timeout: float
    side_timeout: float
    details: bool


def base_spec(cfg: Config) -> dict[str, object]:
    return {"cases": cfg.cases, "exclude-cases": cfg.exclude, "exclude-agent-cases": {}}


def run_server_side(cfg: Config) -> Summary:
    """Our echo server, exercised by wstest's fuzzingclient."""
    outdir = REPORTS / "servers"
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    spec_path = REPORTS / "fuzzingclient.json"
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": cfg.impl, "url": f"ws://{HOST}:{cfg.server_port}"}],
        **base_spec(cfg),
    }
    write_spec(spec_path, spec)
    summary = Summary("server", cfg.impl, expected_cases(spec_path))
    if not port_is_free(cfg.server_port):
        raise HarnessError(f"port {cfg.server_port} is in use (set SERVER_PORT)")

    t0 = time.monotonic()
    server_log = REPORTS / "server.log"
    server_cmd = [PY3, str(HERE / "server.py"), "--impl", cfg.impl, "--port", str(cfg.server_port)]
    with running(server_cmd, server_log) as server:
        wait_for_port(cfg.server_port, server)
        wstest_log = REPORTS / "wstest-fuzzingclient.log"
        with running([*WSTEST, "-m", "fuzzingclient", "-s", str(spec_path)], wstest_log) as wstest:
            try:
                rc = wstest.wait(timeout=cfg.side_timeout)
            except subprocess.TimeoutExpired:
                summary.error = f"fuzzingclient still running after {cfg.side_timeout:.0f}s"
                rc = None
        if rc not in (0, None):
            summary.error = f"wstest fuzzingclient exited {rc}:\n{tail(wstest_log)}"
        if server.poll() is not None:
            summary.error = f"server exited early ({server.returncode}):\n{tail(server_log)}"
    summary.seconds = time.monotonic() - t0
    summary.results = read_index(outdir, cfg.impl)
    return summary


def run_client_side(cfg: Config) -> Summary:
    """Our client, exercised by wstest's fuzzingserver."""
    outdir = REPORTS / "clients"
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    spec_path = REPORTS / "fuzzingserver.json"
    spec = {"url": f"ws://{HOST}:{cfg.fuzz_port}", "outdir": str(outdir), **base_spec(cfg)}
    write_spec(spec_path, spec)
    summary = Summary("client", cfg.impl, expected_cases(spec_path))
    if not port_is_free(cfg.fuzz_port):
        raise HarnessError(f"port {cfg.fuzz_port} is in use (set FUZZ_PORT)")

    t0 = time.monotonic()
    wstest_log = REPORTS / "wstest-fuzzingserver.log"
    with running(
        [*WSTEST, "-m", "fuzzingserver", "-s", str(spec_path), "-u", "0"], wstest_log
    ) as wstest:
        wait_for_port(cfg.fuzz_port, wstest)
        client_log = REPORTS / "client.log"
        client_cmd = [
            PY3,
            str(HERE / "client.py"),
            "--impl",
            cfg.impl,
            "--url",
            f"ws://{HOST}:{cfg.fuzz_port}",
            "--case-timeout",
            str(cfg.case_timeout),
        ]
        with running(client_cmd, client_log) as client:
            try:
                rc = client.wait(timeout=cfg.side_timeout)
            except subprocess.TimeoutExpired:
                summary.error = f"client still running after {cfg.side_timeout:.0f}s"
                rc = None
        if rc not in (0, None):
            summary.error = f"client.py exited {rc}:\n{tail(client_log)}"
        if wstest.poll() is not None:
            summary.error = f"fuzzingserver exited early ({wstest.returncode}):\n{tail(wstest_log)}"
    summary.seconds = time.monotonic() - t0
    summary.results = read_index(outdir, cfg.impl)
    return summary


def report(summary: Summary, details: bool) -> None:
    outdir = REPORTS / ("servers" if summary.side == "server" else "clients")
    print(summary.line(), flush=True)
    print(f"{summary.side}: took {summary.seconds:.1f}s", flush=True)
    if summary.error:
        print(f"{summary.side}: HARNESS ERROR: {summary.error}", flush=True)
    for label, ids in (
        ("FAILED", summary.failed()),
        ("UNIMPLEMENTED", summary.unimplemented()),
        ("MISSING", summary.missing()),
    ):
        if not ids:
            continue
        print(f"{summary.side} {label}: {' '.join(ids)}", flush=True)
        if details and label != "MISSING":
            # One line per case family (e.g. 6.4) with the first case's report text as a sample.
            groups: dict[str, list[str]] = {}
            for case_id in ids:
                groups.setdefault(".".join(case_id.split(".")[:2]), []).append(case_id)
            for family, members in groups.items():
                r = summary.results[members[0]]
                desc = case_detail(outdir, r)
                print(
                    f"  {family}: {len(members)} case(s) [{' '.join(members)}]; e.g. "
                    f"{members[0]} behavior={r.get('behavior')} "
                    f"close={r.get('behaviorClose')}: {desc[:300]}",
                    flush=True,
                )


# ---------------------------------------------------------------- main


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--impl", default=env("IMPL", "wsframework"), choices=["wsframework", "trio_websocket"]
    )
    p.add_argument("--cases", default=env("CASES", "*"), help="comma list, wildcards ok")
    p.add_argument("--exclude", default=env("EXCLUDE_CASES", ""), help="comma list")
    p.add_argument("--side", default=env("SIDE", "both"), choices=["both", "server", "client"])
    p.add_argument(
        "--parallel",
        action="store_true",
        default=env("PARALLEL", "") == "1",
        help="run both sides at once (faster; per-side timings less clean)",
    )
    p.add_argument("--server-port", type=int, default=int(env("SERVER_PORT", "9001")))
    p.add_argument("--fuzz-port", type=int, default=int(env("FUZZ_PORT", "9002")))
    p.add_argument("--case-timeout", type=float, default=float(env("CASE_TIMEOUT", "120")))
    p.add_argument("--side-timeout", type=float, default=float(env("SIDE_TIMEOUT", "3600")))
    p.add_argument(
        "--details",
        action="store_true",
        default=env("DETAILS", "") == "1",
        help="print each failing case's result text",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not PY27.exists():
        log(f"{PY27} not found: run `bash conformance/setup_py27.sh` first")
        return 2
    if args.server_port == args.fuzz_port and args.parallel:
        log("--parallel needs different SERVER_PORT and FUZZ_PORT")
        return 2
    cfg = Config(
        impl=args.impl,
        cases=split_list(args.cases),
        exclude=split_list(args.exclude),
        server_port=args.server_port,
        fuzz_port=args.fuzz_port,
        case_timeout=args.case_timeout,
        side_timeout=args.side_timeout,
        details=args.details,
    )
    REPORTS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)

    sides = {"server": run_server_side, "client": run_client_side}
    wanted = ["server", "client"] if args.side == "both" else [args.side]
    summaries: dict[str, Summary] = {}
    errors: list[str] = []

    def run_one(name: str) -> None:
        try:
            summaries[name] = sides[name](cfg)
        except (HarnessError, subprocess.CalledProcessError, OSError) as exc:
            errors.append(f"{name}: {exc}")

    log(
        f"impl={cfg.impl} cases={cfg.cases} exclude={cfg.exclude} sides={wanted}"
        f"{' (parallel)' if args.parallel else ''}"
    )
    try:
        if args.parallel:
            threads = [threading.Thread(target=run_one, args=(n,)) for n in wanted]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            for name in wanted:
                run_one(name)
    finally:
        stop_all()

    for name in wanted:
        if name in summaries:
            report(summaries[name], cfg.details)
    for err in errors:
        print(f"HARNESS ERROR: {err}", flush=True)
    if errors or any(s.error for s in summaries.values()):
        return 2
    return 1 if any(s.bad() for s in summaries.values()) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
