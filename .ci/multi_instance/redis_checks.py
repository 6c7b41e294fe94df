"""The checks that look at Redis itself or at the sessions' Redis: an outage of the session
store (anonymous requests, a login answers 503, never 500), an old primary that rejoins as
a replica after a Sentinel failover, and, in a Redis Cluster, the rooms spread over every
master and rooms with `{...}` in their names that cannot choose their slot.
"""

import time

import redis_probe
from common import Failures, counts, id_ok, not_logged_in, page_id, send


def cmd_sessions_down(ctx, args):
    """The sessions' Redis is stopped: on every instance a login answers 503, a page of a
    logged-in participant is anonymous (401), a token request gets 403 not_logged_in,
    /healthz answers 200; nothing answers 500."""
    failures = Failures("sessions' Redis down")
    state = ctx.load()
    person = state["participants"][0]
    answers = []
    for name, base in ctx.live_instances().items():
        login, _ = ctx.login(base, "sessions-down-user")
        page = ctx.page(base, person["room"], person["session"])
        token = ctx.token(base, person["room"], person["session"])
        health = send(base, "GET", "/healthz")
        answers += [login, page, token, health]
        failures.expect(login.status == 503, f"{name} login: {login.describe()}")
        failures.expect(page.status == 401, f"{name} page: {page.describe()}")
        failures.expect(not_logged_in(token), f"{name} token: {token.describe()}")
        failures.expect(health.status == 200, f"{name} healthz: {health.describe()}")
    server_errors = sum(a.status >= 500 for a in answers)
    documented = sum(a.status == 503 for a in answers[0::4])
    ctx.record(
        failures,
        "sessions' Redis stopped",
        len(answers),
        sum(not 200 <= a.status < 300 for a in answers),
        f"{server_errors} ({documented} documented: login 503)" if server_errors else 0,
        "-",
        "-",
        f"on {len(ctx.live_instances())} instances: login {counts(a.status for a in answers[0::4])}, page "
        f"{counts(a.status for a in answers[1::4])}, token {counts(a.status for a in answers[2::4])}, healthz "
        f"{counts(a.status for a in answers[3::4])} (documented: login 503, requests anonymous; 500: "
        f"{sum(a.status == 500 for a in answers)})",
    )
    failures.exit_if_any()


def cmd_sessions_up(ctx, args):
    """The sessions' Redis is back (empty): every instance logs users in again, and their
    pages carry the ongoing calls."""
    failures = Failures("sessions' Redis back")
    state = ctx.load()
    started = ctx.events().get("sessions-started", time.time())
    recovered, requests = {}, 0
    deadline = time.time() + args.seconds
    room = state["participants"][0]["room"]
    for name, base in ctx.live_instances().items():
        for _ in range(int(args.seconds * 10) + 1):
            if time.time() > deadline:
                break
            login, session = ctx.login(base, f"sessions-up-{name}")
            requests += 1
            if login.status == 200 and session:
                seen = page_id(ctx.page(base, room, session))
                requests += 1
                failures.expect(seen == state["rooms"][room], f"{name}: {seen!r}, the call {state['rooms'][room]!r}")
                recovered[name] = time.time() - started
                break
            time.sleep(0.1)
        failures.expect(name in recovered, f"{name}: no login within {args.seconds} s")
    ctx.record(
        failures,
        "sessions' Redis started again (empty)",
        requests,
        "-",
        "-",
        "-",
        "-",
        "logins again after: "
        + ", ".join(f"{n} {d:.1f} s" for n, d in sorted(recovered.items()))
        + "; the ongoing call on the page",
    )
    failures.exit_if_any()


def cmd_replica(ctx, args):
    """The old primary, restarted, rejoins as a replica of the new primary (ROLE, INFO
    replication), within args.seconds."""
    failures = Failures("old primary rejoins")
    deadline = time.time() + args.seconds
    role, replication = None, {}
    started = time.time()
    for _ in range(int(args.seconds * 5) + 1):
        if time.time() > deadline:
            break
        try:
            role = redis_probe.command(args.port, "ROLE")
            replication = redis_probe.info(args.port, "replication")
            if role[0] == b"slave" and replication.get("master_link_status") == "up":
                break
        except (OSError, redis_probe.RedisError):
            pass
        time.sleep(0.2)
    took = time.time() - ctx.events().get("old-primary-started", started)
    master = f"{replication.get('master_host')}:{replication.get('master_port')}"
    failures.expect(role is not None and role[0] == b"slave", f"ROLE {role}")
    failures.expect(replication.get("master_link_status") == "up", f"INFO replication {replication}")
    failures.expect(master == f"127.0.0.1:{args.primary}", f"replica of {master}, the primary is {args.primary}")
    ctx.record(
        failures,
        "old primary restarted",
        "-",
        "-",
        "-",
        "-",
        "-",
        f"ROLE {role[0].decode() if role else None} of {master} (new primary 127.0.0.1:{args.primary}), "
        f"master_link_status {replication.get('master_link_status')}, {took:.1f} s after its start",
    )
    failures.exit_if_any()


def masters(port):
    """The ports of the cluster's masters that are not failed, from CLUSTER NODES of the
    node at `port`."""
    text = redis_probe.command(port, "CLUSTER", "NODES").decode()
    found = []
    for line in text.splitlines():
        fields = line.split()
        if "master" in fields[2].split(",") and "fail" not in fields[2] and len(fields) > 8:
            found.append(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
    return sorted(found)


def room_keys(port, prefix):
    """The room keys a node holds (SCAN MATCH prefix*, the users' counters left out)."""
    keys, cursor = [], b"0"
    for _ in range(10000):
        cursor, batch = redis_probe.command(port, "SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
        batch = [key for key in batch if not key.startswith((prefix + "users:").encode())]
        keys += batch
        if cursor == b"0":
            break
    return keys


def cmd_cluster_spread(ctx, args):
    """The rooms' keys are spread over every master (SCAN per master; DBSIZE too)."""
    failures = Failures("rooms over the masters")
    state = ctx.load()
    found = masters(args.port)
    failures.expect(len(found) == 3, f"masters: {found}")
    per_master = {port: len(room_keys(port, ctx.prefix)) for port in found}
    sizes = {port: redis_probe.command(port, "DBSIZE") for port in found}
    for port, count in per_master.items():
        failures.expect(count > 0, f"master {port} holds no room: {per_master}")
    total = sum(per_master.values())
    failures.expect(total >= len(state["rooms"]), f"{total} room keys for {len(state['rooms'])} rooms")
    ctx.record(
        failures,
        f"{len(state['rooms'])} rooms over {len(found)} masters",
        "-",
        "-",
        "-",
        "-",
        "-",
        "room keys per master: "
        + ", ".join(f"{p} {n}" for p, n in sorted(per_master.items()))
        + " (DBSIZE "
        + ", ".join(f"{p} {n}" for p, n in sorted(sizes.items()))
        + ")",
    )
    failures.exit_if_any()


def cmd_hash_tags(ctx, args):
    """Rooms `{a}x`, `{a}y`, `{b}x` join a call each; their actual keys (found by SCAN on
    the masters) are the rule's keys, and their slots (CLUSTER KEYSLOT, and CRC16 here)
    differ: a room cannot choose its slot with a hash tag."""
    failures = Failures("hash tags in room names")
    rooms = ["{a}x", "{a}y", "{b}x"]
    login, session = ctx.login(ctx.haproxy, "hash-tag-user")
    failures.expect(login.status == 200 and session, f"login: {login.describe()}")
    failures.exit_if_any()
    ids = {room: page_id(ctx.page(ctx.haproxy, room, session)) for room in rooms}
    for room, seen in ids.items():
        failures.expect(id_ok(seen, room), f"{room}: {seen!r}")
    keys = [key for port in masters(args.port) for key in room_keys(port, ctx.prefix)]
    slots = {}
    for room in rooms:
        actual = [key for key in keys if key.endswith(b"}" + room.encode())]
        expected = redis_probe.room_key(room, ctx.prefix, ctx.legacy_keys)
        failures.expect(actual == [expected], f"{room}: keys {actual}, the rule's {expected!r}")
        if actual:
            slot = redis_probe.command(args.port, "CLUSTER", "KEYSLOT", actual[0])
            failures.expect(
                slot == redis_probe.key_slot(actual[0]),
                f"{room}: KEYSLOT {slot}, CRC16 {redis_probe.key_slot(actual[0])}",
            )
            slots[room] = slot
    failures.expect(len(set(slots.values())) == len(rooms), f"slots {slots}")
    own = {room: redis_probe.command(args.port, "CLUSTER", "KEYSLOT", room) for room in rooms}
    ctx.record(
        failures,
        "rooms {a}x, {a}y, {b}x",
        len(rooms) + 1,
        "-",
        "-",
        "-",
        "-",
        "key slots (CLUSTER KEYSLOT of the actual keys): "
        + ", ".join(f"{r} {s}" for r, s in slots.items())
        + "; the slots the names alone would pick: "
        + ", ".join(f"{r} {s}" for r, s in own.items()),
    )
    failures.exit_if_any()
