"""The reverse-echo quickstart on the framework: every text message comes back reversed.

Run it with ``python -m apps.echo.app [PORT]`` (``make run`` serves the chat) and connect to
ws://127.0.0.1:8000/. ``/health`` answers plain HTTP for load balancers.
"""

from __future__ import annotations

import sys

from wsframework import App, WebSocketRequest

app = App()


@app.websocket("/")
async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    async for message in ws:
        await ws.send_message(message[::-1])


@app.http("/health")
async def health(request: object) -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    # The same as: wsframework run apps.echo.app:app --port PORT (graceful drain on Ctrl+C).
    from wsframework.cli import main

    port = sys.argv[1] if len(sys.argv) > 1 else "8000"
    sys.exit(main(["run", "apps.echo.app:app", "--port", port]))
