"""Client driver for the Autobahn testsuite's fuzzingserver mode.

    python conformance/client.py --impl wsframework|trio_websocket \
        [--url ws://127.0.0.1:9002] [--agent NAME] [--case-timeout 120]

Asks the fuzzingserver for its case count, runs every case (``/runCase?case=N&agent=AGENT``)
echoing each message back until the server closes, waits for the fuzzingserver to have recorded
that case (``/getCaseStatus``: it answers once the case's TCP connection is gone, so a lingering
connection cannot spill into the next case or be missing from the reports), then asks for the
reports (``/updateReports?agent=AGENT``). Each case is bounded by ``--case-timeout`` seconds so
that one hung case cannot hang the run. Exit status is 0 unless the fuzzingserver could not be
reached or the reports could not be written; case verdicts are read from the reports by run.py.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import time
from typing import Any
from urllib.parse import quote

import trio

MAX_MESSAGE_SIZE = 24 * 1024 * 1024  # Autobahn 9.x sends 16 MiB messages; 1.5x margin
RECEIVE_BUFFER_SIZE = 64 * 1024
OK_BEHAVIORS = {"OK", "NON-STRICT", "INFORMATIONAL"}


def only_interrupts(exc: BaseException) -> bool:
    """True for a KeyboardInterrupt, possibly wrapped in (nested) exception groups by trio."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())
    return bool(inner) and all(only_interrupts(e) for e in inner)


def supported_kwargs(func: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


class Driver:
    def __init__(self, impl_name: str, base_url: str, agent: str, case_timeout: float) -> None:
        self.impl = importlib.import_module(impl_name)
        self.base_url = base_url.rstrip("/")
        self.agent = agent
        self.case_timeout = case_timeout
        self.kwargs = supported_kwargs(
            self.impl.open_websocket_url,
            max_message_size=MAX_MESSAGE_SIZE,
            receive_buffer_size=RECEIVE_BUFFER_SIZE,
            connect_timeout=10,
            disconnect_timeout=10,
        )

    def open(self, path: str) -> Any:
        return self.impl.open_websocket_url(self.base_url + path, **self.kwargs)

    async def get_case_count(self) -> int:
        async with self.open("/getCaseCount") as ws:
            return int(await ws.get_message())

    async def run_case(self, case: int) -> str:
        """Echo until the server closes; return 'ok', 'timeout' or an error description."""
        path = f"/runCase?case={case}&agent={quote(self.agent)}"
        with trio.move_on_after(self.case_timeout) as scope:
            try:
                async with self.open(path) as ws:
                    while True:
                        message = await ws.get_message()
                        await ws.send_message(message)
            except self.impl.ConnectionClosed:
                pass
            except Exception as exc:  # a protocol violation may surface as any error
                return f"error: {exc!r}"
        return "timeout" if scope.cancelled_caught else "ok"

    async def case_status(self, case: int) -> str:
        """The case's behavior as recorded by the fuzzingserver (waits until it is recorded)."""
        path = f"/getCaseStatus?case={case}&agent={quote(self.agent)}"
        with trio.move_on_after(self.case_timeout):
            try:
                async with self.open(path) as ws:
                    return str(json.loads(await ws.get_message())["behavior"])
            except self.impl.ConnectionClosed:
                return "?"
            except Exception as exc:
                return f"? ({exc!r})"
        return "? (no status: case not recorded in time)"

    async def case_id(self, case: int) -> str:
        path = f"/getCaseInfo?case={case}"
        try:
            with trio.fail_after(10):
                async with self.open(path) as ws:
                    return str(json.loads(await ws.get_message())["id"])
        except Exception:
            return "?"

    async def update_reports(self) -> None:
        async with self.open(f"/updateReports?agent={quote(self.agent)}") as ws:
            try:
                await ws.get_message()
            except self.impl.ConnectionClosed:
                pass


async def main(args: argparse.Namespace) -> int:
    driver = Driver(args.impl, args.url, args.agent or args.impl, args.case_timeout)
    count = await driver.get_case_count()
    print(f"fuzzingserver has {count} cases; agent={driver.agent}", flush=True)
    started = time.monotonic()
    for case in range(1, count + 1):
        t0 = time.monotonic()
        outcome = await driver.run_case(case)
        behavior = await driver.case_status(case)
        took = time.monotonic() - t0
        if outcome != "ok" or behavior not in OK_BEHAVIORS or args.verbose:
            case_id = await driver.case_id(case)
            print(
                f"case {case}/{count} ({case_id}): {behavior}; client {outcome} ({took:.2f}s)",
                flush=True,
            )
        elif case % 50 == 0:
            print(f"... {case}/{count} cases ({time.monotonic() - started:.0f}s)", flush=True)
    with trio.fail_after(60):
        await driver.update_reports()
    print(f"ran {count} cases in {time.monotonic() - started:.1f}s; reports updated", flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="wsframework", choices=["wsframework", "trio_websocket"])
    parser.add_argument("--url", default="ws://127.0.0.1:9002")
    parser.add_argument("--agent", default=None, help="agent name in the reports (default: --impl)")
    parser.add_argument("--case-timeout", type=float, default=120.0)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    try:
        sys.exit(trio.run(main, args))
    except BaseException as exc:
        if only_interrupts(exc):
            sys.exit(130)
        raise
