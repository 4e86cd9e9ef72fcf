#!/usr/bin/env python3
"""latency-proxy.py — put a fixed one-way delay in front of lab hosts (a WAN emulator).

The kernel here has no netem, so hosts on loopback are 0.05 ms away; real fleets are
milliseconds away. Each LISTEN=TARGET pair accepts TCP connections on LISTEN and relays them to
TARGET, delivering every chunk in each direction DELAY ms after it was read (order kept, no
bandwidth limit). The ssh traffic through it is real; only the distance is emulated.

Usage: latency-proxy.py --delay-ms 10 127.0.11.1:2700=127.0.10.1:2700 [...]
Prints "ready" on stdout once every listener is bound; runs until killed.
"""

import argparse
import asyncio
import sys


async def pump(reader, writer, delay):
    queue = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def deliver():
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if chunk is None:
                try:
                    writer.write_eof()
                except OSError:
                    pass
                return
            writer.write(chunk)
            try:
                await writer.drain()
            except OSError:
                return

    delivery = asyncio.create_task(deliver())
    try:
        while True:
            chunk = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, chunk or None))
            if not chunk:
                break
    except OSError:
        queue.put_nowait((loop.time() + delay, None))
    await delivery


async def relay(client_reader, client_writer, target, delay):
    host, port = target
    try:
        server_reader, server_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        pump(client_reader, server_writer, delay),
        pump(server_reader, client_writer, delay),
    )
    for writer in (client_writer, server_writer):
        writer.close()


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("pairs", nargs="+", help="LISTEN=TARGET, each host:port")
    arguments = parser.parse_args()
    delay = arguments.delay_ms / 1000.0
    servers = []
    for pair in arguments.pairs:
        listen, _, target = pair.partition("=")
        listen_host, listen_port = address(listen)
        target = address(target)
        servers.append(
            await asyncio.start_server(
                lambda r, w, target=target: relay(r, w, target, delay),
                listen_host,
                listen_port,
            )
        )
    print("ready", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
