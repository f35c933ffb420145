"""An echo server of Python's `websockets` for sonic-websocket's interop tests.

Usage: echo_server.py none|deflate [CERT KEY]
Prints the port it listens on (127.0.0.1), echoes every message, and exits when its
standard input closes. With CERT and KEY (PEM files) it serves wss:// (Python's ssl).
"""

import asyncio
import ssl
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    compression = "deflate" if sys.argv[1] == "deflate" else None
    tls = None
    if len(sys.argv) > 3:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(sys.argv[2], sys.argv[3])
    async with serve(
        echo, "127.0.0.1", 0, compression=compression, max_size=2**24, ssl=tls
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


asyncio.run(main())
