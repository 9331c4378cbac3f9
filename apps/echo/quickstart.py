"""The reverse-echo quickstart: every text message comes back reversed.

Run it with ``python apps/echo/quickstart.py [PORT]``, then connect a client to
ws://127.0.0.1:8000/. Written against the trio-websocket API, so changing the import to
``from trio_websocket import ...`` runs the same program on trio-websocket.
(``python -m apps.echo.app`` serves the same echo written with ``App``: ``apps/echo/app.py``.)
"""

import signal
import sys

import trio

from wsframework.compat.trio_websocket import ConnectionClosed, serve_websocket


async def echo_server(request):  # type: ignore[no-untyped-def]
    ws = await request.accept()
    while True:
        try:
            message = await ws.get_message()
            await ws.send_message(message[::-1])
        except ConnectionClosed:
            break


async def main(port: int) -> None:
    print(f"reverse-echo server on ws://127.0.0.1:{port}/ (Ctrl+C to stop)", flush=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_websocket, echo_server, "127.0.0.1", port, None)
        # Ctrl+C ends the server quietly (a KeyboardInterrupt would come out of the nursery
        # wrapped in an exception group).
        with trio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
