"""
A SOCKS5 stand-in for tor (the fast tier of the Tor tests): it listens
where git-annex's tor client connects (127.0.0.1:9050, or --port) and maps
C{ONION:PORT} to the loopback listener annexrelay's onion front door
writes in its C{onion-listeners} file (the file of any repository directly under --root).  It
tests the protocol with the real client, not Tor.

Run on its own (standard library only):
    python socks_standin.py --root DIR [--port 9050] [--ready FILE] [--map ONION:PORT=unix:PATH ...]
"""

import argparse
import asyncio
import os
import sys


def lookup(root, onion, port, fixed=()):
    for entry in fixed:
        name, _, where = entry.partition("=")
        if name == "%s:%d" % (onion, port):
            return where
    paths = []
    for name in sorted(os.listdir(root)):
        for git in (".git", ""):
            paths.append(os.path.join(root, name, git, "annex", "annexrelay", "onion-listeners"))
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == onion and parts[1] == str(port):
                host, _, local = parts[2].rpartition(":")
                return host, int(local)
    return None


FIXED = []


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def serve(root, reader, writer):
    try:
        head = await reader.readexactly(2)
        await reader.readexactly(head[1])
        writer.write(b"\x05\x00")
        req = await reader.readexactly(4)
        if req[3] == 3:
            n = (await reader.readexactly(1))[0]
            host = (await reader.readexactly(n)).decode()
        elif req[3] == 1:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        else:
            writer.close()
            return
        port = int.from_bytes(await reader.readexactly(2), "big")
        where = lookup(root, host, port, FIXED)
        if where is None:
            sys.stderr.write("standin: no listener for %s:%d\n" % (host, port))
            writer.write(b"\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00")
            await writer.drain()
            writer.close()
            return
        if isinstance(where, str):
            up_reader, up_writer = await asyncio.open_unix_connection(where[len("unix:") :])
        else:
            up_reader, up_writer = await asyncio.open_connection(*where)
        writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
        await writer.drain()
        # As a tor stream: when either side ends, the stream is closed
        # both ways.
        ways = [asyncio.ensure_future(pipe(reader, up_writer)), asyncio.ensure_future(pipe(up_reader, writer))]
        await asyncio.wait(ways, return_when=asyncio.FIRST_COMPLETED)
        for w in ways:
            w.cancel()
        up_writer.close()
    except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
        sys.stderr.write("standin: %s\n" % (e,))
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--port", type=int, default=9050)
    p.add_argument("--ready")
    p.add_argument("--map", action="append", default=[], help="ONION:PORT=unix:PATH, for a listener of another kind")
    a = p.parse_args()
    FIXED.extend(a.map)
    server = await asyncio.start_server(lambda r, w: serve(a.root, r, w), "127.0.0.1", a.port)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("%d\n" % (os.getpid(),))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
