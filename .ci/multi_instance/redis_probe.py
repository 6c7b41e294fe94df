"""What the checks read from Redis itself, independently of the crate: a minimal RESP
client (standard library only), the registry's key of a room and the value it holds,
written out from the rule (tower-callstats-redis' key and value formats), and the Redis
Cluster slot of a key (CRC16/XMODEM of the hash tag, modulo 16384: Redis' "Cluster
specification").
"""

import hashlib
import socket

DEFAULT_PREFIX = "callstats:call:"


class RedisError(Exception):
    """An error reply (`-ERR ...`, `-MOVED ...`)."""


class Redis:
    """One connection to 127.0.0.1:PORT; `command` sends one command, returns its reply."""

    def __init__(self, port, timeout=2.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def command(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self._reply()

    def _line(self):
        for _ in range(100000):
            if b"\r\n" in self.buffer:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, count):
        for _ in range(100000):
            if len(self.buffer) >= count + 2:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count + 2 :]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self._exactly(int(rest))
        if kind == b"*":
            return None if int(rest) < 0 else [self._reply() for _ in range(int(rest))]
        raise RedisError(f"unexpected reply {line[:40]!r}")


def command(port, *args, timeout=2.0):
    """One command on a new connection to 127.0.0.1:PORT."""
    with Redis(port, timeout) as redis:
        return redis.command(*args)


def info(port, section):
    """`INFO section` as a dict."""
    text = command(port, "INFO", section).decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


def room_key(room, prefix=DEFAULT_PREFIX, legacy=False):
    """The registry's key of `room`: prefix, `{`, the first 16 hex digits of SHA1(room),
    `}`, the room (the rule written out). `legacy`: the prefix and the room, the keys of
    the registry before its hash tags (for runs against an older binary)."""
    if legacy:
        return (prefix + room).encode()
    tag = hashlib.sha1(room.encode()).hexdigest()[:16]
    return (prefix + "{" + tag + "}" + room).encode()


def parse_value(value):
    """(`live` or `ended`, conferenceID) of a room key's value `cs1 <start> <id>` or
    `cs1-ended <start> <id>` (or the untagged `<start> <id>` of an older registry); None for
    no value; ("corrupt", raw) otherwise."""
    if value is None:
        return None
    parts = value.decode(errors="replace").split(" ", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[0] in ("cs1", "cs1-ended"):
        return ("live" if parts[0] == "cs1" else "ended", parts[2])
    if len(parts) >= 2 and parts[0].isdigit():
        return ("live", " ".join(parts[1:]))
    return ("corrupt", value)


def stored_call(ports, room, prefix=DEFAULT_PREFIX, db=0, legacy=False):
    """What Redis holds for `room` (see parse_value), asking each of `ports` (the nodes of
    a cluster, or one server) until one that answers owns the key."""
    key = room_key(room, prefix, legacy)
    for port in ports:
        try:
            with Redis(port) as redis:
                if db:
                    redis.command("SELECT", db)
                return parse_value(redis.command("GET", key))
        except ConnectionRefusedError:
            continue  # a node that is down
        except RedisError as error:
            if str(error).startswith("MOVED"):
                continue
            raise
    raise RedisError(f"no node of {ports} owns {key!r}")


def crc16_xmodem(data):
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """The Redis Cluster slot of `key` (bytes): of the bytes between the first `{` and the
    first `}` after it when they are not empty, else of the whole key."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc16_xmodem(key) % 16384
