"""A client of Python's `websockets` for sonic-websocket's interop tests.

Usage: client.py URL none|deflate|deflate-params [CA]
With a wss:// URL, CA (a PEM file) is the root the server's certificate must chain to.
Sends text and binary messages of every header size (one fragmented), checks each echo, pings, closes, and
prints one line: "ok <extensions> <close code>". Any mismatch raises (non-zero exit).
"""

import asyncio
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory


async def main():
    url, mode = sys.argv[1], sys.argv[2]
    kwargs = {"max_size": 2**24, "compression": None}
    if len(sys.argv) > 3:
        kwargs["ssl"] = ssl.create_default_context(cafile=sys.argv[3])
    if mode == "deflate":
        kwargs["compression"] = "deflate"
    elif mode == "deflate-params":
        kwargs["extensions"] = [
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=10,
                client_max_window_bits=12,
            )
        ]
    async with connect(url, **kwargs) as ws:
        messages = [
            "hello",
            "",
            "κόσμε " * 5000,
            b"",
            bytes(range(256)) * 4096,
            "the same text again and again " * 100,
            # Around the size from which the server sends a payload from where it lies
            # (a gather write), and the 16- and 64-bit length headers.
            b"\x01" * 2047,
            b"\x02" * 2048,
            "x" * 65535,
            b"\x03" * 65536,
        ]
        for m in messages:
            await ws.send(m)
            got = await asyncio.wait_for(ws.recv(), 20)
            assert got == m, f"echo of a {type(m).__name__} of {len(m)} differs"
        await ws.send(["frag", "mented", " text"])
        got = await asyncio.wait_for(ws.recv(), 20)
        assert got == "fragmented text", got
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 20)
        extensions = ",".join(e.name for e in ws.protocol.extensions) or "-"
    print("ok", extensions, ws.close_code, flush=True)


asyncio.run(main())
