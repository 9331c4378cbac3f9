"""The app of the metrics tests over real processes (``test_metrics_processes.py``), served by
``wsframework run --workers 2`` and by ``hypercorn --workers 2``.

``/pid`` sends the worker's PID, then echoes every message; ``/metrics`` and ``/ready`` are
the routes of ``App.add_metrics_route`` and ``App.add_health_route``. Each worker prints
``metrics_app: ready PID`` on stderr once started.
"""

from __future__ import annotations

import os
import sys

from wsframework import App, WebSocketRequest

app = App()
app.add_metrics_route()
app.add_health_route()


@app.on_startup
async def announce() -> None:
    print(f"metrics_app: ready {os.getpid()}", file=sys.stderr, flush=True)


@app.websocket("/pid")
async def pid(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.send_message(str(os.getpid()))
    async for message in ws:
        await ws.send_message(message)
