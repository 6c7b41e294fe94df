"""The checks of .ci/multi-instance.sh: several instances of examples/multi_instance.rs
behind HAProxy, sharing Redis. One subcommand per check; the script runs them in order
and starts, stops, kills and signals the processes itself.

    python3 .ci/multi_instance_check.py --work DIR --haproxy URL --instance a=URL ... COMMAND

Commands: wait-up, join, end, snapshot-jwks, traffic (rotate, kill, redis), recover,
table. Each check appends one row of figures to DIR/results.jsonl and exits 1 (after
printing every violation) when one of its assertions fails; `table` prints the rows as
a markdown table. DIR/state.json carries the participants and their rooms' IDs from one
check to the next; DIR/events has the script's events (`NAME UNIX_TIME` lines: an
instance killed, Redis stopped and started), against which requests are classified.

Independent of the crate: tokens are verified with PyJWT + cryptography against the
JWKS fetched from each instance directly (not through HAProxy); expected userIDs are
computed here (the username; hashlib's SHA1 of username@domain; the first 128 bits of
hmac's HMAC-SHA256 of the session ID); conferenceIDs are compared with each other and
with the room key. Standard library only besides PyJWT.
"""

import argparse
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import sys
import time
import urllib.parse

import jwt

COOKIE = "__Host-session"
APP_ID = "multi-instance-app"
# RedisRegistry's default local_cache_ttl: how long another instance may still hand out
# an ended call's ID (README "Several instances").
CACHE_BOUND = 2.0
MARGIN = 1.0
# At most this many requests per participant in one traffic check (with the time bound).
MAX_ROUNDS = 200


class Failures:
    """Collects violations; `exit` prints them and fails the check."""

    def __init__(self, check):
        self.check = check
        self.items = []

    def expect(self, ok, message):
        if not ok:
            self.items.append(message)
        return ok

    def exit_if_any(self):
        if self.items:
            shown = self.items[:20]
            for item in shown:
                print(f"FAIL {self.check}: {item}", file=sys.stderr)
            if len(self.items) > len(shown):
                print(f"FAIL {self.check}: ... and {len(self.items) - len(shown)} more", file=sys.stderr)
            sys.exit(1)


class Answer:
    def __init__(self, status, headers, body, started, ended, error=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.started = started
        self.ended = ended
        self.error = error

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    @property
    def instance(self):
        return self.headers.get("x-instance", "?")

    def describe(self):
        if self.error:
            return f"error {self.error}"
        return f"{self.status} from {self.instance}: {self.body[:200]!r}"


def send(base, method, path, headers=None, body=None, timeout=10):
    """One request on a new connection (so that HAProxy balances each one)."""
    parts = urllib.parse.urlsplit(base)
    started = time.time()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        all_headers = {"Connection": "close"}
        all_headers.update(headers or {})
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        cookies = response.msg.get_all("set-cookie") or []
        headers["set-cookie"] = cookies
        return Answer(response.status, headers, data, started, time.time())
    except (OSError, http.client.HTTPException) as error:
        return Answer(0, {}, b"", started, time.time(), error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def room_path(room):
    return "/rooms/" + urllib.parse.quote(room, safe="")


class Context:
    def __init__(self, args):
        self.work = args.work
        self.haproxy = args.haproxy
        self.instances = dict(item.split("=", 1) for item in args.instance)
        self.state_file = os.path.join(self.work, "state.json")

    def load(self):
        with open(self.state_file, encoding="utf-8") as f:
            return json.load(f)

    def save(self, state):
        with open(self.state_file, "w", encoding="utf-8") as f:
            json.dump(state, f, ensure_ascii=False, indent=1)

    def record(self, row):
        with open(os.path.join(self.work, "results.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print("  " + " | ".join(str(v) for v in row.values()), file=sys.stderr)

    def events(self):
        found = {}
        path = os.path.join(self.work, "events")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    name, at = line.split()
                    found[name] = float(at)
        return found

    def live_instances(self):
        events = self.events()
        return {name: url for name, url in self.instances.items() if f"killed-{name}" not in events}

    def haproxy_status(self):
        """Server name -> status (UP, DOWN, ...) from HAProxy's stats socket."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(os.path.join(self.work, "haproxy.sock"))
        sock.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        status = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "instances" and row.get("svname") not in ("BACKEND", "FRONTEND", None):
                status[row["svname"]] = row["status"]
        return status

    # --- the app's flows ---------------------------------------------------------------

    def login(self, base, username, as_json):
        if as_json:
            headers = {"Content-Type": "application/json"}
            body = json.dumps({"username": username}).encode()
        else:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            body = urllib.parse.urlencode({"username": username}).encode()
        answer = send(base, "POST", "/login", headers, body)
        session = None
        for cookie in answer.headers.get("set-cookie", []):
            match = re.match(rf"{re.escape(COOKIE)}=([^;]*)", cookie)
            if match:
                session = match.group(1)
        return answer, session

    def page(self, base, room, session):
        return send(base, "GET", room_path(room), {"Cookie": f"{COOKIE}={session}"})

    def token(self, base, room, session):
        headers = {"Cookie": f"{COOKIE}={session}", "Referer": self.haproxy + room_path(room)}
        return send(base, "POST", "/getToken", headers, b"")

    def jwks(self, base):
        answer = send(base, "GET", "/.well-known/jwks.json")
        if answer.status != 200:
            raise RuntimeError(f"no JWKS at {base}: {answer.describe()}")
        return answer.json()["keys"]


def page_id(answer):
    """The page's conferenceID: the percent-decoded header, which must equal the JSON's."""
    header = answer.headers.get("x-callstats-conference-id")
    body = answer.json().get("conferenceID")
    decoded = None if header is None else urllib.parse.unquote(header, errors="strict")
    if decoded != body:
        return f"MISMATCH: header {decoded!r}, JSON {body!r}"
    return decoded


def expected_user_id(mode, username, session, secret, domain):
    if mode == "raw":
        return username
    if mode == "sha1":
        return hashlib.sha1(f"{username}@{domain}".encode()).hexdigest()
    return hmac.new(secret.encode(), session.encode(), hashlib.sha256).hexdigest()[:32]


class Verifier:
    """ES256 verification with PyJWT against a set of JWKs (keyed by kid)."""

    def __init__(self, keys):
        self.keys = {}
        for jwk in keys:
            self.keys.setdefault(jwk["kid"], jwt.PyJWK.from_dict(jwk).key)

    def verify(self, token):
        kid = jwt.get_unverified_header(token).get("kid")
        key = self.keys.get(kid)
        if key is None:
            raise ValueError(f"kid {kid!r} is in no JWKS")
        claims = jwt.decode(token, key, algorithms=["ES256"], options={"require": ["exp", "nbf", "iat"]}, leeway=5)
        if claims.get("appID") != APP_ID or claims.get("keyID") != kid:
            raise ValueError(f"claims {claims}")
        return kid, claims


def union_jwks(ctx, extra=()):
    keys = list(extra)
    for base in ctx.live_instances().values():
        keys.extend(ctx.jwks(base))
    return keys


def id_ok(conference_id, room):
    """A per-call ID of `room`: `<room>-<YYYYMMDDTHHMMZ>-<6 hex digits>`."""
    return re.fullmatch(re.escape(room) + r"-\d{8}T\d{4}Z-[0-9a-f]{6}", conference_id or "") is not None


# --- checks ---------------------------------------------------------------------------------


def cmd_wait_up(ctx, args):
    """Waits (bounded) until HAProxy reports the named servers UP and the others DOWN."""
    want_up = set(args.up.split(","))
    deadline = time.time() + args.seconds
    status = {}
    while time.time() < deadline:
        status = ctx.haproxy_status()
        if all((status.get(name) == "UP") == (name in want_up) for name in ctx.instances):
            return
        time.sleep(0.1)
    sys.exit(f"FAIL wait-up: HAProxy reports {status} after {args.seconds} s, expected {sorted(want_up)} UP")


def cmd_join(ctx, args):
    """60 participants in 12 new rooms join concurrently through HAProxy; one ID per room,
    tokens verify, userIDs agree on every instance."""
    mode = args.mode
    check = f"join ({mode} userIDs)"
    failures = Failures(check)
    rooms = [f"{mode}-room-{k:02d}" for k in range(1, args.rooms)] + [f"{mode}-会議室"]
    people = [
        {"name": f"{mode}-user-{i:02d}", "room": rooms[i % len(rooms)], "json_login": i % 2 == 0}
        for i in range(args.participants)
    ]
    requests = 0

    def participant(person):
        answers = {}
        login, session = ctx.login(ctx.haproxy, person["name"], person["json_login"])
        answers["login"] = login
        if login.status != 200 or not session:
            return person, session, answers
        answers["page"] = ctx.page(ctx.haproxy, person["room"], session)
        answers["token"] = ctx.token(ctx.haproxy, person["room"], session)
        for name, base in ctx.instances.items():
            answers[f"direct-{name}"] = ctx.page(base, person["room"], session)
        return person, session, answers

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(people)) as pool:
        results = list(pool.map(participant, people))

    verifier = Verifier(union_jwks(ctx))
    ids = {room: set() for room in rooms}
    answered_by = {}
    verified = failed_tokens = user_id_ok = errors = 0
    for person, session, answers in results:
        who = person["name"]
        requests += len(answers)
        for kind, answer in answers.items():
            if not failures.expect(answer.status == 200, f"{who} {kind}: {answer.describe()}"):
                errors += 1
            if not kind.startswith("direct"):
                answered_by[answer.instance] = answered_by.get(answer.instance, 0) + 1
        if len(answers) < 3 or not session:
            continue
        expected = expected_user_id(mode, who, session, args.secret, args.domain)
        person.update(session=session, user_id=expected)
        seen_users = set()
        tokens = []
        for kind, answer in answers.items():
            if kind == "login" or answer.status != 200:
                continue
            body = answer.json()
            conference = page_id(answer) if kind != "token" else body.get("conferenceID")
            ids[person["room"]].add(conference)
            seen_users.add(body.get("userID"))
            tokens.append(body.get("token") if kind == "token" else answer.headers.get("x-callstats-token"))
            if kind != "token":
                failures.expect(body.get("callStartedAt") is not None, f"{who} {kind}: no callStartedAt")
        if failures.expect(seen_users == {expected}, f"{who}: userIDs {seen_users}, expected {expected}"):
            user_id_ok += 1
        for token in tokens:
            try:
                _, claims = verifier.verify(token or "")
                failures.expect(claims["userID"] == expected, f"{who}: token userID {claims['userID']}")
                verified += 1
            except Exception as error:  # noqa: BLE001 - every failure is counted
                failed_tokens += 1
                failures.expect(False, f"{who}: token does not verify: {type(error).__name__}: {error}")

    room_ids = {}
    for room, found in ids.items():
        failures.expect(len(found) == 1, f"room {room}: {len(found)} conferenceIDs {sorted(map(str, found))}")
        (only,) = found if len(found) == 1 else (None,)
        failures.expect(isinstance(only, str) and id_ok(only, room), f"room {room}: {only!r} is not a per-call ID")
        room_ids[room] = only
    failures.expect(len(set(room_ids.values())) == len(rooms), "two rooms share a conferenceID")
    for name in ctx.instances:
        failures.expect(answered_by.get(name, 0) > 0, f"HAProxy sent nothing to {name}: {answered_by}")
    state = {"mode": mode, "participants": people, "rooms": room_ids}
    ctx.save(state)
    by = ", ".join(f"{k} {v}" for k, v in sorted(answered_by.items()))
    ctx.record(
        {
            "check": check,
            "requests": requests,
            "errors": errors,
            "ids": f"{max(len(v) for v in ids.values())} in each of {len(rooms)} rooms",
            "tokens": f"{verified} / {failed_tokens}",
            "figure": f"userID the same via HAProxy and on each of {len(ctx.instances)} instances: "
            f"{user_id_ok}/{len(people)}; HAProxy sent {by}",
        }
    )
    failures.exit_if_any()


def cmd_end(ctx, args):
    """end_call on one instance; the others hand out the new ID within the cache bound."""
    failures = Failures("end_call")
    state = ctx.load()
    room = sorted(state["rooms"])[0]
    old = state["rooms"][room]
    members = [p for p in state["participants"] if p["room"] == room]
    session = members[0]["session"]
    names = sorted(ctx.instances)
    first, others = names[0], names[1:]
    requests = 0
    # The others cache the current call now, so that the bound is what is measured.
    for name in others:
        failures.expect(page_id(ctx.page(ctx.instances[name], room, session)) == old, f"{name}: not the old ID")
        requests += 1
    ended = send(ctx.instances[first], "POST", room_path(room) + "/end", {"Cookie": f"{COOKIE}={session}"}, b"")
    ended_at = ended.ended
    requests += 1
    failures.expect(ended.status == 200, f"end on {first}: {ended.describe()}")
    new = page_id(ctx.page(ctx.instances[first], room, session))
    requests += 1
    failures.expect(new != old and id_ok(new, room), f"{first} after end: {new!r} (old {old!r})")
    delays = {}
    for name in others:
        deadline = ended_at + CACHE_BOUND + MARGIN
        for _ in range(100):
            seen = page_id(ctx.page(ctx.instances[name], room, session))
            requests += 1
            if seen == new:
                delays[name] = time.time() - ended_at
                break
            failures.expect(seen == old, f"{name}: a third ID {seen!r}")
            if time.time() > deadline:
                break
            time.sleep(0.1)
        failures.expect(name in delays, f"{name}: still not the new ID {CACHE_BOUND + MARGIN} s after end_call")
    # Every participant of the room, through HAProxy: the new call; the other rooms: unchanged.
    ids = set()
    for person in members:
        ids.add(page_id(ctx.page(ctx.haproxy, room, person["session"])))
        ids.add(ctx.token(ctx.haproxy, room, person["session"]).json().get("conferenceID"))
        requests += 2
    failures.expect(ids == {new}, f"participants of {room}: {ids}")
    unchanged = 0
    for other, conference in state["rooms"].items():
        if other == room:
            continue
        person = next(p for p in state["participants"] if p["room"] == other)
        requests += 1
        if failures.expect(page_id(ctx.page(ctx.haproxy, other, person["session"])) == conference, f"{other} changed"):
            unchanged += 1
    state["rooms"][room] = new
    ctx.save(state)
    shown = ", ".join(f"{name} after {delay:.2f} s" for name, delay in sorted(delays.items()))
    ctx.record(
        {
            "check": f"end_call on {first}, joins on {', '.join(others)}",
            "requests": requests,
            "errors": 0 if ended.status == 200 else 1,
            "ids": f"{len(ids)} in the ended room after the bound; {unchanged} other rooms unchanged",
            "tokens": "-",
            "figure": f"new ID on {shown} (bound: local_cache_ttl {CACHE_BOUND:.0f} s, asserted with a "
            f"{MARGIN:.0f} s margin)",
        }
    )
    failures.exit_if_any()


def cmd_snapshot_jwks(ctx, args):
    keys = union_jwks(ctx)
    with open(os.path.join(ctx.work, "jwks-before.json"), "w", encoding="utf-8") as f:
        json.dump(keys, f)


def traffic(ctx, seconds):
    """Every participant joins its room again and again (page, then token) through HAProxy
    for `seconds` (at most MAX_ROUNDS rounds each); returns (person, kind, answer) tuples."""
    state = ctx.load()
    deadline = time.time() + seconds

    def loop(person):
        seen = []
        for _ in range(MAX_ROUNDS):
            if time.time() > deadline:
                break
            seen.append((person, "page", ctx.page(ctx.haproxy, person["room"], person["session"])))
            seen.append((person, "token", ctx.token(ctx.haproxy, person["room"], person["session"])))
        return seen

    people = state["participants"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(people)) as pool:
        return state, [item for seen in pool.map(loop, people) for item in seen]


def conference_of(kind, answer):
    return page_id(answer) if kind == "page" else answer.json().get("conferenceID")


def cmd_traffic(ctx, args):
    state, seen = traffic(ctx, args.seconds)
    {"rotate": assess_rotation, "kill": assess_kill, "redis": assess_redis}[args.phase](ctx, state, seen)


def assess_rotation(ctx, state, seen):
    failures = Failures("rolling rotation")
    with open(os.path.join(ctx.work, "jwks-before.json"), encoding="utf-8") as f:
        before = json.load(f)
    before_kids = {k["kid"] for k in before}
    after_by_instance = {name: ctx.jwks(base) for name, base in ctx.live_instances().items()}
    after = [k for keys in after_by_instance.values() for k in keys]
    verifier = Verifier(before + after)
    by_kid, failed, errors, not_before = {}, 0, 0, 0
    for person, kind, answer in seen:
        if not failures.expect(answer.status == 200, f"{person['name']} {kind}: {answer.describe()}"):
            errors += 1
            continue
        token = answer.json().get("token") if kind == "token" else answer.headers.get("x-callstats-token")
        try:
            kid, claims = verifier.verify(token or "")
            failures.expect(claims["userID"] == person["user_id"], f"{person['name']}: userID {claims['userID']}")
            by_kid[kid] = by_kid.get(kid, 0) + 1
            not_before += kid not in before_kids
        except Exception as error:  # noqa: BLE001 - every failure is counted
            failed += 1
            failures.expect(False, f"{person['name']} {kind}: {type(error).__name__}: {error}")
    kids = {name: [k["kid"] for k in keys] for name, keys in after_by_instance.items()}
    new_kid = sorted(set(by_kid) - before_kids)
    failures.expect(len(new_kid) == 1, f"tokens of {sorted(by_kid)}; before the rotation {sorted(before_kids)}")
    failures.expect(len(before_kids) == 1 and by_kid.get(next(iter(before_kids)), 0) > 0, "no token of the old key")
    if len(new_kid) == 1:
        for name, published in kids.items():
            failures.expect(published == new_kid + sorted(before_kids), f"{name} publishes {published}")
    # Every instance now signs with the new key.
    person = state["participants"][0]
    signing = {}
    for name, base in ctx.live_instances().items():
        token = ctx.token(base, person["room"], person["session"]).json().get("token") or ""
        signing[name] = jwt.get_unverified_header(token).get("kid") if token else None
    failures.expect(set(signing.values()) == set(new_kid), f"signing keyIDs after the rotation: {signing}")
    ctx.record(
        {
            "check": "rolling key rotation (SIGHUP one instance at a time)",
            "requests": len(seen) + len(signing),
            "errors": errors,
            "ids": "-",
            "tokens": f"{sum(by_kid.values())} / {failed}",
            "figure": "tokens by keyID: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kid.items()))
            + f"; {not_before} of them unknown to the JWKS fetched before; JWKS after: "
            + ", ".join(f"{n} {v}" for n, v in sorted(kids.items())),
        }
    )
    failures.exit_if_any()


def assess_kill(ctx, state, seen):
    failures = Failures("instance killed")
    events = ctx.events()
    killed = [name for name in ctx.instances if f"killed-{name}" in events]
    failures.expect(len(killed) == 1, f"killed instances: {killed}")
    victim = killed[0] if killed else None
    at = events.get(f"killed-{victim}", 0)
    errors, other_id = 0, 0
    before, after = {}, {}
    for person, kind, answer in seen:
        if not failures.expect(answer.status == 200, f"{person['name']} {kind}: {answer.describe()}"):
            errors += 1
            continue
        counts = after if answer.started > at else before
        counts[answer.instance] = counts.get(answer.instance, 0) + 1
        conference = conference_of(kind, answer)
        if not failures.expect(conference == state["rooms"][person["room"]], f"{person['name']}: {conference!r}"):
            other_id += 1
    failures.expect(after.get(victim, 0) == 0, f"{victim} answered {after.get(victim)} requests after the kill")
    failures.expect(sum(after.values()) > 0, "no request after the kill")
    status = ctx.haproxy_status()
    failures.expect(status.get(victim) == "DOWN", f"HAProxy reports {status}")

    def shown(counts):
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"

    ctx.record(
        {
            "check": f"instance {victim} killed (SIGKILL) mid-run",
            "requests": len(seen),
            "errors": errors,
            "ids": f"{other_id} participants got another ID",
            "tokens": "-",
            "figure": f"answered before the kill: {shown(before)}; after: {shown(after)}; HAProxy: {victim} "
            f"{status.get(victim)} (retry-on conn-failure empty-response, option redispatch)",
        }
    )
    failures.exit_if_any()


def assess_redis(ctx, state, seen):
    failures = Failures("Redis stopped")
    events = ctx.events()
    failures.expect("redis-stopping" in events and "redis-stopped" in events, f"events: {events}")
    # Answered before `stopping`: the call's ID; started after `stopped` plus the local
    # cache bound (and half the margin): the room key; in between (a request in flight
    # while Redis stops may see its join cut off, and answers with the room key), either.
    at = events.get("redis-stopping", 0)
    settled = events.get("redis-stopped", 0) + CACHE_BOUND + MARGIN / 2
    errors = server_errors = fallback_ids = settled_requests = 0
    sessions = {}
    for person, kind, answer in seen:
        room = person["room"]
        if answer.status >= 500 or answer.status == 0:
            server_errors += 1
        if not failures.expect(200 <= answer.status < 300, f"{person['name']} {kind}: {answer.describe()}"):
            errors += 1
            continue
        conference = conference_of(kind, answer)
        if kind == "page":
            state_name = answer.json().get("session", "?")
            if answer.started > at:
                sessions[state_name] = sessions.get(state_name, 0) + 1
        if answer.ended < at:
            failures.expect(conference == state["rooms"][room], f"{person['name']} before: {conference!r}")
        elif answer.started > settled:
            settled_requests += 1
            # The documented fallback: the room key, the same for every participant.
            if failures.expect(conference == room, f"{person['name']} {kind} during the outage: {conference!r}"):
                fallback_ids += 1
        else:
            failures.expect(conference in (room, state["rooms"][room]), f"{person['name']}: {conference!r}")
    failures.expect(settled_requests > 0, "no request after the local cache bound")
    failures.expect(server_errors == 0, f"{server_errors} 5xx or failed requests")
    ctx.record(
        {
            "check": "Redis stopped mid-run (sessions and calls)",
            "requests": len(seen),
            "errors": errors,
            "ids": f"room key for {fallback_ids}/{settled_requests} after the cache bound",
            "tokens": "-",
            "figure": f"{server_errors} 5xx; pages after the stop by session: "
            + ", ".join(f"{k} {v}" for k, v in sorted(sessions.items())),
        }
    )
    failures.exit_if_any()


def cmd_recover(ctx, args):
    """After Redis is back: per-call IDs again, one per room, for participants who log in
    again (a Redis without persistence lost the sessions)."""
    failures = Failures("Redis restarted")
    state = ctx.load()
    started = ctx.events().get("redis-started", time.time())
    live = ctx.live_instances()
    requests = 0
    # Each instance, directly, until its sessions (a login) and its call registry (a
    # per-call ID, not the room key) work again; bounded in time.
    deadline = time.time() + args.seconds
    probe, sessions, recovered = "recovery-probe", {}, {}
    while time.time() < deadline and len(recovered) < len(live):
        for name, base in live.items():
            if name in recovered:
                continue
            if name not in sessions:
                login, session = ctx.login(base, f"probe-{name}", True)
                requests += 1
                if login.status != 200 or not session:
                    continue
                sessions[name] = session
            seen = page_id(ctx.page(base, probe, sessions[name]))
            requests += 1
            if id_ok(seen, probe):
                recovered[name] = time.time() - started
        time.sleep(0.1)
    failures.expect(len(recovered) == len(live), f"recovered: {recovered} of {sorted(live)} in {args.seconds} s")
    failures.exit_if_any()

    # The old sessions went with Redis' data: their pages have no user (401).
    old = state["participants"][0]
    for name, base in live.items():
        answer = ctx.page(base, old["room"], old["session"])
        requests += 1
        failures.expect(answer.status == 401, f"an old session on {name} after the restart: {answer.describe()}")

    # Everyone logs in again and joins, concurrently: one per-call ID per room.
    def participant(person):
        login, session = ctx.login(ctx.haproxy, person["name"], person["json_login"])
        if login.status != 200 or not session:
            return person, [login]
        return person, [login, ctx.page(ctx.haproxy, person["room"], session), ctx.token(ctx.haproxy, person["room"], session)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(state["participants"])) as pool:
        results = list(pool.map(participant, state["participants"]))
    ids, errors = {}, 0
    for person, answers in results:
        requests += len(answers)
        ok = len(answers) == 3
        for answer in answers:
            if not failures.expect(answer.status == 200, f"{person['name']}: {answer.describe()}"):
                errors += 1
                ok = False
        if ok:
            ids.setdefault(person["room"], set()).update({page_id(answers[1]), answers[2].json().get("conferenceID")})
    failures.expect(len(ids) == len(state["rooms"]), f"joined rooms: {len(ids)} of {len(state['rooms'])}")
    for room, found in ids.items():
        failures.expect(len(found) == 1, f"{room}: {found}")
        failures.expect(all(id_ok(i, room) for i in found), f"{room}: {found} are not per-call IDs")
        failures.expect(state["rooms"][room] not in found, f"{room}: the call from before the outage")
    shown = ", ".join(f"{n} {d:.1f} s" for n, d in sorted(recovered.items()))
    ctx.record(
        {
            "check": "Redis started again (empty)",
            "requests": requests,
            "errors": errors,
            "ids": f"{max(map(len, ids.values()), default=0)} in each of {len(ids)} rooms",
            "tokens": "-",
            "figure": f"per-call IDs again after the start: {shown}; old sessions 401 (Redis lost them), "
            "so the participants log in again",
        }
    )
    failures.exit_if_any()


def cmd_table(ctx, args):
    rows = []
    with open(os.path.join(ctx.work, "results.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    print("| check | requests | failed requests | conferenceIDs | tokens verified / failed | figures |")
    print("| --- | ---: | ---: | --- | ---: | --- |")
    for row in rows:
        print(f"| {row['check']} | {row['requests']} | {row['errors']} | {row['ids']} | {row['tokens']} | {row['figure']} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--haproxy", required=True)
    parser.add_argument("--instance", action="append", default=[], help="NAME=URL, directly")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("wait-up")
    p.add_argument("--up", required=True)
    p.add_argument("--seconds", type=float, default=15)
    p = sub.add_parser("join")
    p.add_argument("--mode", choices=["raw", "sha1", "ephemeral"], required=True)
    p.add_argument("--participants", type=int, default=60)
    p.add_argument("--rooms", type=int, default=12)
    p.add_argument("--secret", required=True)
    p.add_argument("--domain", default="example.com")
    sub.add_parser("end")
    sub.add_parser("snapshot-jwks")
    p = sub.add_parser("traffic")
    p.add_argument("--phase", choices=["rotate", "kill", "redis"], required=True)
    p.add_argument("--seconds", type=float, required=True)
    p = sub.add_parser("recover")
    p.add_argument("--seconds", type=float, default=20)
    sub.add_parser("table")
    args = parser.parse_args()
    ctx = Context(args)
    {
        "wait-up": cmd_wait_up,
        "join": cmd_join,
        "end": cmd_end,
        "snapshot-jwks": cmd_snapshot_jwks,
        "traffic": cmd_traffic,
        "recover": cmd_recover,
        "table": cmd_table,
    }[args.command](ctx, args)


if __name__ == "__main__":
    main()
