"""An echo server of Python's `websockets` for sonic-websocket's interop tests.

Usage: echo_server.py none|deflate
Prints the port it listens on (127.0.0.1), echoes every message, and exits when its
standard input closes.
"""

import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    compression = "deflate" if sys.argv[1] == "deflate" else None
    async with serve(echo, "127.0.0.1", 0, compression=compression, max_size=2**24) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


asyncio.run(main())
