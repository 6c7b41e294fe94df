"""A TCP proxy on 127.0.0.1 between one instance and the calls' Redis, that silences its
current connections on SIGUSR1: it stops forwarding them in both directions but keeps them
open (a link that died without a FIN or RST: a half-dead NAT entry, a frozen peer), while
new connections are forwarded as before. The instance must notice on its own and open a
new connection. SIGUSR2 closes the silenced connections (the dead link finally reset), so
that an instance that never noticed recovers for the next phases.

It appends to the script's events file: `proxy-silenced TIME` at the signal and
`proxy-new-link TIME` at the first connection accepted after it (one pair per signal).
"""

import asyncio
import signal
import time


class Proxy:
    def __init__(self, target_port, events):
        self.target_port = target_port
        self.events = events
        self.links = []  # (client writer, upstream writer, pump tasks)
        self.silenced = []
        self.waiting_for_new = False

    def event(self, name):
        with open(self.events, "a", encoding="utf-8") as f:
            f.write(f"{name} {time.time()}\n")

    def silence(self):
        self.event("proxy-silenced")
        self.waiting_for_new = True
        for _, _, tasks in self.links:
            for task in tasks:
                task.cancel()  # the sockets stay open; nothing moves on them any more
        self.silenced, self.links = self.silenced + self.links, []

    def reset(self):
        for client, upstream, _ in self.silenced:
            client.transport.abort()
            upstream.transport.abort()
        self.silenced = []

    async def pump(self, reader, writer):
        """Forwards one direction for as long as the connection lives (the script stops the
        proxy on exit)."""
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        writer.close()

    async def accept(self, client_reader, client_writer):
        if self.waiting_for_new:
            self.waiting_for_new = False
            self.event("proxy-new-link")
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        tasks = [
            asyncio.ensure_future(self.pump(client_reader, upstream_writer)),
            asyncio.ensure_future(self.pump(upstream_reader, client_writer)),
        ]
        self.links.append((client_writer, upstream_writer, tasks))


async def serve(listen_port, target_port, events):
    proxy = Proxy(target_port, events)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, proxy.silence)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, proxy.reset)
    server = await asyncio.start_server(proxy.accept, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


def cmd_proxy(ctx, args):
    asyncio.run(serve(args.listen, args.target, ctx.events_file))
