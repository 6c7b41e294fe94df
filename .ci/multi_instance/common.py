"""What every check shares: HTTP requests (one connection each, so that HAProxy balances
each one), the app's flows (login, room page, token, end), the state carried from one
check to the next, the script's events, figures and violations, and the independent
expectations (userIDs written out, tokens verified with PyJWT, the per-call ID's form).
"""

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
# RedisRegistry's defaults: how long an instance reuses a room's call without asking Redis
# (so how long another instance may still hand out an ended call's ID), the bound on every
# Redis command, and how long a link may stay silent before it is replaced.
CACHE_BOUND = 2.0
COMMAND_TIMEOUT = 0.25
UNRESPONSIVE_TIMEOUT = 1.0
MARGIN = 1.0
# At most this many requests per participant in one traffic check (with the time bound).
MAX_ROUNDS = 300


class Failures:
    """Collects violations; `exit_if_any` prints them and fails the check."""

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
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def instance(self):
        return self.headers.get("x-instance", "?")

    def describe(self):
        if self.error:
            return f"error {self.error}"
        return f"{self.status} from {self.instance}: {self.body[:200]!r}"


def send(base, method, path, headers=None, body=None, timeout=10):
    """One request on a new connection."""
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
        headers["set-cookie"] = response.msg.get_all("set-cookie") or []
        return Answer(response.status, headers, data, started, time.time())
    except (OSError, http.client.HTTPException) as error:
        return Answer(0, {}, b"", started, time.time(), error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def room_path(room):
    return "/rooms/" + urllib.parse.quote(room, safe="")


def form(fields):
    return {"Content-Type": "application/x-www-form-urlencoded"}, urllib.parse.urlencode(fields).encode()


class Context:
    def __init__(self, args):
        self.work = args.work
        self.haproxy = args.haproxy
        self.instances = dict(item.split("=", 1) for item in args.instance)
        self.redis_ports = [int(p) for p in args.calls_redis.split(",")] if args.calls_redis else []
        self.redis_db = args.calls_db
        self.prefix = args.key_prefix
        self.legacy_keys = args.key_format == "legacy"
        self.state_file = os.path.join(self.work, "state.json")
        self.events_file = os.path.join(self.work, "events")

    # --- state, events, figures ------------------------------------------------------------

    def load(self):
        with open(self.state_file, encoding="utf-8") as f:
            return json.load(f)

    def save(self, state):
        with open(self.state_file, "w", encoding="utf-8") as f:
            json.dump(state, f, ensure_ascii=False, indent=1)

    def record(self, failures, phase, joins, failed, server_errors, two_at_once, split_after, figure):
        """One row of the table (README "Several instances"), with pass or FAIL."""
        row = {
            "phase": phase,
            "joins": joins,
            "failed": failed,
            "5xx": server_errors,
            "two IDs at once": two_at_once,
            "split after recovery": split_after,
            "result": "pass" if not failures.items else f"FAIL ({len(failures.items)})",
            "figures": figure,
        }
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

    def event(self, name):
        """Records an event of the checker's own (`NAME UNIX_TIME`), for the script."""
        with open(os.path.join(self.work, "events"), "a", encoding="utf-8") as f:
            f.write(f"{name} {time.time()}\n")

    def wait_event(self, name, seconds):
        """Waits (bounded) for the script's event NAME; its time, or None."""
        deadline = time.time() + seconds
        for _ in range(int(seconds / 0.05) + 1):
            if time.time() > deadline:
                break
            at = self.events().get(name)
            if at is not None:
                return at
            time.sleep(0.05)
        return None

    def live_instances(self):
        """The instances not killed (`killed-NAME`), or started again since (`started-NAME`)."""
        events = self.events()
        return {
            name: url
            for name, url in self.instances.items()
            if events.get(f"killed-{name}", 0) <= events.get(f"started-{name}", 0)
        }

    def haproxy_status(self):
        """Server name -> status (UP, DOWN, ...) from HAProxy's stats socket."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(os.path.join(self.work, "haproxy.sock"))
        sock.sendall(b"show stat\n")
        data = b""
        for _ in range(1000):
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

    # --- the app's flows -------------------------------------------------------------------

    def login(self, base, username):
        answer = send(base, "POST", "/login", *form({"username": username}))
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

    def end(self, base, room, session, conference_id):
        """Ends the room's call `conference_id` (the call the caller holds)."""
        headers, body = form({"conferenceID": conference_id})
        headers["Cookie"] = f"{COOKIE}={session}"
        return send(base, "POST", room_path(room) + "/end", headers, body)

    def jwks(self, base):
        answer = send(base, "GET", "/.well-known/jwks.json")
        if answer.status != 200:
            raise RuntimeError(f"no JWKS at {base}: {answer.describe()}")
        return answer.json()["keys"]

    def stored(self, room):
        """What the calls' Redis holds for `room` (redis_probe.parse_value), read directly."""
        from redis_probe import stored_call

        return stored_call(self.redis_ports, room, self.prefix, self.redis_db, self.legacy_keys)


# The token endpoint's answer to a request without a logged-in user: callstats' reference
# message, in the crate's `{"code", "error"}` shape.
NOT_LOGGED_IN = {"code": "not_logged_in", "error": "User not logged in"}


def not_logged_in(answer):
    """Whether `answer` is the token endpoint's refusal of a request without a session."""
    return answer.status == 403 and answer.json() == NOT_LOGGED_IN


def page_id(answer):
    """The page's conferenceID: the percent-decoded header, which must equal the JSON's."""
    header = answer.headers.get("x-callstats-conference-id")
    body = answer.json().get("conferenceID")
    decoded = None if header is None else urllib.parse.unquote(header, errors="strict")
    if decoded != body:
        return f"MISMATCH: header {decoded!r}, JSON {body!r}"
    return decoded


def conference_of(kind, answer):
    return answer.json().get("conferenceID") if kind == "token" else page_id(answer)


def expected_user_id(mode, username, session, secret, domain):
    if mode == "raw":
        return username
    if mode == "sha1":
        return hashlib.sha1(f"{username}@{domain}".encode()).hexdigest()
    return hmac.new(secret.encode(), session.encode(), hashlib.sha256).hexdigest()[:32]


def id_ok(conference_id, room):
    """A per-call ID of `room`: `<room>-<YYYYMMDDTHHMMZ>-<6 hex digits>`."""
    return re.fullmatch(re.escape(room) + r"-\d{8}T\d{4}Z-[0-9a-f]{6}", conference_id or "") is not None


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


def counts(items):
    found = {}
    for item in items:
        found[item] = found.get(item, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "none"
