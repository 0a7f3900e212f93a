#!/usr/bin/env python3
"""HTTP load for a gateway's send URL: N GET requests over C keep-alive
connections (asyncio, standard library only). Prints one JSON line:
{"requests": N, "accepted": ok, "errors": {...}, "seconds": t}.

    load.py URL N C     (URL without the recipient; "&to=" + a number is added)
"""
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def client(host, port, path, numbers, counts):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for number in numbers:
            req = f"GET {path}&to=%2B{number} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n"
            writer.write(req.encode())
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                # The server closed the connection: open a new one and go on.
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                counts["reconnects"] = counts.get("reconnects", 0) + 1
                continue
            status = int(status_line.split()[1])
            length = 0
            close = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                if name.strip().lower() == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
            key = "accepted" if status in (200, 202) else str(status)
            counts[key] = counts.get(key, 0) + 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def main():
    url, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    parts = urlsplit(url)
    path = parts.path + "?" + parts.query
    numbers = [48600000000 + i for i in range(n)]
    counts = {}
    started = time.monotonic()
    await asyncio.gather(
        *(client(parts.hostname, parts.port, path, numbers[i::c], counts) for i in range(c))
    )
    seconds = time.monotonic() - started
    accepted = counts.pop("accepted", 0)
    print(json.dumps({"requests": n, "accepted": accepted, "errors": counts, "seconds": round(seconds, 3)}))


asyncio.run(main())
