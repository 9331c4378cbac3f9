"""``make fuzz``: run every fuzz target, in parallel, and report inputs, time and coverage.

Usage::

    python -m fuzz.run                      # 1,000,000 inputs in all, 2 at a time, coverage
    python -m fuzz.run --total 20000        # a quick one
    python -m fuzz.run --targets routing --total 50000 --no-coverage

Each target runs in its own process under atheris (libFuzzer, coverage-guided) when it is
installed (``pip install -e '.[fuzz]'``), else under a plain random driver. Every input is bounded
in time (``--timeout`` seconds: a slower one is a hang, reported like a crash). The new inputs
each target found are kept in ``.fuzz/corpus/<target>/``; crashing and hanging inputs go to
``.fuzz/artifacts/<target>/``. Coverage: each target's corpus is replayed under coverage.py
afterwards, and the line and branch coverage of the modules it aims at is printed.

Exit status: 0 when every target ran all its inputs without a crash, a hang or an unhandled
exception; 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".fuzz"
# What atheris instruments for its coverage feedback: our code and the parsers under it.
INSTRUMENTED = ["wsframework", "wsproto", "h11"]


@dataclass
class Result:
    """What one target's run did."""

    name: str
    runs: int = 0
    seconds: float = 0.0
    status: str = "not run"
    coverage: str = ""
    slowest: str = ""
    log: Path = field(default_factory=Path)


# ---------------------------------------------------------------------- worker processes


class Hang(Exception):
    """An input took longer than the per-input time bound."""


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise Hang("the input ran past the time bound")


def _worker_random(name: str, runs: int, seed: int, timeout: float, max_len: int) -> int:
    """Fuzz ``name`` with random and mutated inputs (no atheris): the fallback driver."""
    from .targets import TARGETS

    target = TARGETS[name].run
    rng = random.Random(seed)
    corpus = WORK / "corpus" / name
    artifacts = WORK / "artifacts" / name
    pool: list[bytes] = [b""]
    signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()
    slowest = 0.0
    for number in range(runs):
        if pool and rng.random() < 0.5:
            data = bytearray(rng.choice(pool))
            for _ in range(rng.randint(1, 8)):
                at = rng.randint(0, len(data))
                data[at : at + rng.randint(0, 4)] = rng.randbytes(rng.randint(0, 4))
            data = data[:max_len]
        else:
            data = bytearray(rng.randbytes(rng.randint(0, max_len // 2)))
        signal.setitimer(signal.ITIMER_REAL, timeout)
        begun = time.monotonic()
        try:
            target(bytes(data))
        except BaseException as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            artifacts.mkdir(parents=True, exist_ok=True)
            kind = "timeout" if isinstance(exc, Hang) else "crash"
            path = artifacts / f"{kind}-{number}"
            path.write_bytes(bytes(data))
            traceback.print_exc()
            print(f"== {kind} on input {number}, saved to {path}", file=sys.stderr)
            print(f"stat::number_of_executed_units: {number + 1}", file=sys.stderr)
            return 1
        signal.setitimer(signal.ITIMER_REAL, 0)
        slowest = max(slowest, time.monotonic() - begun)
        if number % 997 == 0:  # a sample for the coverage replay
            pool.append(bytes(data))
            (corpus / f"random-{number}").write_bytes(bytes(data))
    elapsed = time.monotonic() - started
    print(f"stat::number_of_executed_units: {runs}", file=sys.stderr)
    print(f"stat::slowest_unit_time_sec: {slowest:.0f}", file=sys.stderr)
    print(f"Done {runs} runs in {elapsed:.0f} second(s)", file=sys.stderr)
    return 0


def _worker_atheris(name: str, runs: int, seed: int, timeout: float, max_len: int) -> int:
    """Fuzz ``name`` under atheris: libFuzzer's coverage-guided mutation and time bound."""
    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        from .targets import TARGETS
    corpus = WORK / "corpus" / name
    artifacts = WORK / "artifacts" / name
    artifacts.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.argv[0],
        f"-runs={runs}",
        f"-seed={seed}",
        f"-timeout={max(1, round(timeout))}",
        f"-max_len={max_len}",
        # Any byte string is a whole input to these targets, and the longer ones reach further
        # (a longer script, more edits): start at the full length instead of growing to it.
        "-len_control=0",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
        str(corpus),
    ]
    atheris.Setup(argv, TARGETS[name].run)
    atheris.Fuzz()
    return 0  # pragma: no cover - atheris.Fuzz() exits the process


def _replay(name: str, data_file: Path) -> int:
    """Run ``name`` over its corpus under coverage.py, measuring the modules it aims at."""
    import coverage

    cov = coverage.Coverage(data_file=str(data_file), branch=True, config_file=False)
    cov.start()
    from .targets import TARGETS

    target = TARGETS[name].run
    count = 0
    for path in sorted((WORK / "corpus" / name).iterdir()):
        target(path.read_bytes())
        count += 1
    cov.stop()
    cov.save()
    print(f"replayed {count} inputs")
    return 0


# ---------------------------------------------------------------------- the driver


def _have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def _worker_command(name: str, runs: int, seed: int, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fuzz.run",
        "--worker",
        name,
        "--runs",
        str(runs),
        "--seed",
        str(seed),
        "--timeout",
        str(args.timeout),
        "--max-len",
        str(args.max_len),
        "--driver",
        args.driver,
    ]


def _parse_log(result: Result) -> None:
    text = result.log.read_text(errors="replace")
    units = re.findall(r"stat::number_of_executed_units: (\d+)", text)
    if units:
        result.runs = int(units[-1])
    slowest = re.findall(r"stat::slowest_unit_time_sec:\s+(\d+)", text)
    if slowest:
        result.slowest = f"slowest input {slowest[-1]} s"
    cov = re.findall(r"#\d+\s+DONE\s+cov: (\d+) ft: (\d+)", text)
    if cov:
        result.coverage = f"libFuzzer cov {cov[-1][0]} edges, ft {cov[-1][1]}"


def _run_all(args: argparse.Namespace, names: list[str]) -> list[Result]:
    from .targets import TARGETS

    WORK.mkdir(exist_ok=True)
    (WORK / "logs").mkdir(exist_ok=True)
    pending = list(names)
    running: dict[str, tuple[subprocess.Popen[bytes], float, Result]] = {}
    results: list[Result] = []
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            runs = max(1, round(args.total * TARGETS[name].share / _share_total(names)))
            (WORK / "corpus" / name).mkdir(parents=True, exist_ok=True)
            result = Result(name, log=WORK / "logs" / f"{name}.log")
            with result.log.open("wb") as log:
                process = subprocess.Popen(
                    _worker_command(name, runs, args.seed, args),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    env=env,
                )
            running[name] = (process, time.monotonic(), result)
            print(f"fuzz: {name}: {runs:,} inputs ({args.driver})", flush=True)
        time.sleep(0.2)
        for name, (process, started, result) in list(running.items()):
            if process.poll() is None:
                continue
            del running[name]
            result.seconds = time.monotonic() - started
            _parse_log(result)
            result.status = "ok" if process.returncode == 0 else f"FAILED ({result.log})"
            results.append(result)
            print(
                f"fuzz: {name}: {result.status}, {result.runs:,} inputs in {result.seconds:.0f} s",
                flush=True,
            )
    return sorted(results, key=lambda r: names.index(r.name))


def _share_total(names: list[str]) -> float:
    from .targets import TARGETS

    return sum(TARGETS[name].share for name in names)


def _coverage(names: list[str]) -> None:
    """Replay every corpus under coverage.py; print line and branch coverage per module."""
    import coverage

    from .targets import TARGETS

    files = []
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    for name in names:
        data_file = WORK / f"coverage.{name}"
        data_file.unlink(missing_ok=True)
        subprocess.run(
            [sys.executable, "-m", "fuzz.run", "--replay", name, "--data-file", str(data_file)],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        files.append(str(data_file))
    combined = coverage.Coverage(data_file=str(WORK / "coverage"), branch=True, config_file=False)
    combined.combine(files, keep=True)
    combined.save()
    modules = sorted({str(ROOT / m) for name in names for m in TARGETS[name].modules})
    print("\ncoverage of the targeted modules (corpus replayed under coverage.py):")
    combined.report(include=modules, show_missing=False, file=sys.stdout)


def main(argv: list[str] | None = None) -> int:
    """The ``make fuzz`` command line (see the module's docstring)."""
    # The targets (and wsframework) are imported only after the worker dispatch: a worker
    # imports them under atheris' instrumentation, which sees only modules imported after it.
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("--total", type=int, default=1_000_000, help="inputs over all targets")
    parser.add_argument("--targets", help="comma-separated names (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="targets run at the same time")
    parser.add_argument("--seed", type=int, default=1, help="the fuzzers' random seed")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per input at most")
    parser.add_argument("--max-len", type=int, default=1024, help="largest input, in bytes")
    parser.add_argument(
        "--driver",
        choices=("atheris", "random"),
        default="atheris" if _have_atheris() else "random",
        help="atheris (coverage-guided; the default when installed) or random",
    )
    parser.add_argument("--no-coverage", action="store_true", help="skip the coverage replay")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--replay", help=argparse.SUPPRESS)
    parser.add_argument("--data-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay:
        return _replay(args.replay, args.data_file)
    if args.worker:
        worker = _worker_atheris if args.driver == "atheris" else _worker_random
        return worker(args.worker, args.runs, args.seed, args.timeout, args.max_len)
    from .targets import TARGETS

    names = [n for n in (args.targets or ",".join(TARGETS)).split(",") if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    started = time.monotonic()
    results = _run_all(args, names)
    wall = time.monotonic() - started
    print(f"\n{'target':<18} {'inputs':>10} {'seconds':>8} {'inputs/s':>9}  result")
    for r in results:
        rate = r.runs / r.seconds if r.seconds else 0
        print(f"{r.name:<18} {r.runs:>10,} {r.seconds:>8.0f} {rate:>9.0f}  {r.status}")
        if r.coverage or r.slowest:
            print(f"{'':<18} {', '.join(filter(None, (r.coverage, r.slowest)))}")
    total = sum(r.runs for r in results)
    print(f"{'total':<18} {total:>10,} {wall:>8.0f}  (wall time, {args.jobs} at a time)")
    failed = [r for r in results if r.status != "ok"]
    if not args.no_coverage and not failed:
        _coverage(names)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
