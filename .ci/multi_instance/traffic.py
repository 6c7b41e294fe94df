"""The checks under traffic: every participant joins its room again and again (page, then
token) through HAProxy while the script rotates the key, kills an instance or breaks the
calls' Redis (pauses it, restarts it empty, silences a link, kills a primary or a cluster
master). During a fault, newcomers (new logins) join the ongoing calls once Redis is back,
and a prober joins a new room every 0.5 s, directly on each instance in turn.

What the README documents, and the only splits these checks let pass:
  - a room only one instance saw may split when Redis loses its data (the other instances
    cannot know its call): reported, never failed;
  - during an outage a room no instance saw gets the room itself as conferenceID (the
    fallback): the prober's rooms, reported; any other ID fails.
Everything else fails the check: a 5xx, a failed request, a room every instance saw with
two conferenceIDs during the fault, or another ID than the ongoing call's after it.
"""

import concurrent.futures
import json
import os
import threading
import time

import jwt

from common import (
    CACHE_BOUND,
    COMMAND_TIMEOUT,
    MARGIN,
    MAX_ROUNDS,
    UNRESPONSIVE_TIMEOUT,
    Failures,
    Verifier,
    conference_of,
    counts,
    id_ok,
    page_id,
)

# How late after a link is silenced the silenced instance may open a new one: the command
# that finds it silent times out, the link is declared unresponsive, and a reconnection
# (plus this slack, for the unresponsive check's interval and the scheduler).
SILENCE_SLACK = 1.0
# Rooms only instance `a` sees before a data loss (the documented split).
ONE_INSTANCE_ROOMS = 3


def traffic(ctx, args, state):
    """Runs the participants (and, for a fault, newcomers and the prober) for
    args.seconds; returns the list of (group, name, room, kind, answer)."""
    deadline = time.time() + args.seconds
    seen = []
    lock = threading.Lock()

    def add(*item):
        with lock:
            seen.append(item)

    def participant(person):
        for _ in range(MAX_ROUNDS):
            if time.time() > deadline:
                break
            for kind in ("page", "token"):
                ask = ctx.page if kind == "page" else ctx.token
                add(
                    "participant",
                    person["name"],
                    person["room"],
                    kind,
                    ask(ctx.haproxy, person["room"], person["session"]),
                )

    def newcomers():
        """Once the fault is over: a new login per room joins through HAProxy, then on each
        instance directly; the rooms only `a` saw are joined on b first."""
        if ctx.wait_event(args.fault_to, max(0.0, deadline - time.time())) is None:
            return
        time.sleep(0.3)
        people = [(f"{args.label_key}-newcomer-{i:02d}", room) for i, room in enumerate(sorted(state["rooms"]))]
        people += [(f"{args.label_key}-late-{i}", room) for i, room in enumerate(state.get("one_instance_rooms", []))]
        for name, room in people:
            group = "one-instance" if room in state.get("one_instance_rooms", []) else "newcomer"
            login, session = ctx.login(ctx.haproxy, name)
            add(group, name, room, "login", login)
            if session is None:
                continue
            order = sorted(ctx.live_instances().items(), key=lambda item: item[0] == "a")
            if group == "newcomer":
                add(group, name, room, "page", ctx.page(ctx.haproxy, room, session))
                add(group, name, room, "token", ctx.token(ctx.haproxy, room, session))
            for _, base in order:
                add(group, name, room, "page", ctx.page(base, room, session))

    def prober():
        login, session = ctx.login(ctx.haproxy, f"{args.label_key}-prober")
        if session is None:
            add("prober", "prober", "-", "login", login)
            return
        live = sorted(ctx.live_instances().items())
        for n in range(int(args.seconds / 0.5) + 1):
            if time.time() > deadline:
                break
            room = f"{args.label_key}-new-{n:03d}"
            add("prober", live[n % len(live)][0], room, "page", ctx.page(live[n % len(live)][1], room, session))
            time.sleep(max(0.0, 0.5 - (time.time() % 0.5)))

    people = state["participants"]
    extra = [newcomers, prober] if args.phase == "fault" else []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(people) + len(extra)) as pool:
        futures = [pool.submit(participant, person) for person in people] + [pool.submit(f) for f in extra]
        for future in futures:
            future.result()
    return seen


def cmd_prepare_one_instance(ctx, args):
    """Rooms that only instance `a` sees (one join each, directly), for the next fault."""
    state = ctx.load()
    person = state["participants"][0]
    rooms = [f"{args.label_key}-only-a-{i}" for i in range(ONE_INSTANCE_ROOMS)]
    known = {room: page_id(ctx.page(ctx.instances["a"], room, person["session"])) for room in rooms}
    state["one_instance_rooms"] = rooms
    state["one_instance_ids"] = known
    ctx.save(state)


def cmd_traffic(ctx, args):
    state = ctx.load()
    args.label_key = args.label_key or args.phase
    seen = traffic(ctx, args, state)
    if "one_instance_rooms" in state:  # they served this fault only
        kept = ctx.load()
        kept.pop("one_instance_rooms", None)
        kept.pop("one_instance_ids", None)
        ctx.save(kept)
    {"rotate": assess_rotation, "kill": assess_kill, "fault": assess_fault}[args.phase](ctx, args, state, seen)


def statuses(seen, failures):
    """(failed, 5xx): every answer must be a 2xx."""
    failed = server_errors = 0
    for group, name, _, kind, answer in seen:
        if not failures.expect(200 <= answer.status < 300, f"{group} {name} {kind}: {answer.describe()}"):
            failed += 1
            server_errors += answer.status >= 500
    return failed, server_errors


def assess_rotation(ctx, args, state, seen):
    failures = Failures("rolling rotation")
    with open(os.path.join(ctx.work, "jwks-before.json"), encoding="utf-8") as f:
        before = json.load(f)
    before_kids = {k["kid"] for k in before}
    after_by_instance = {name: ctx.jwks(base) for name, base in ctx.live_instances().items()}
    verifier = Verifier(before + [k for keys in after_by_instance.values() for k in keys])
    by_kid, failed_tokens, not_before = {}, 0, 0
    failed, server_errors = statuses(seen, failures)
    for _, name, _, kind, answer in seen:
        if answer.status != 200:
            continue
        person = next(p for p in state["participants"] if p["name"] == name)
        token = answer.json().get("token") if kind == "token" else answer.headers.get("x-callstats-token")
        try:
            kid, claims = verifier.verify(token or "")
            failures.expect(claims["userID"] == person["user_id"], f"{name}: userID {claims['userID']}")
            by_kid[kid] = by_kid.get(kid, 0) + 1
            not_before += kid not in before_kids
        except Exception as error:  # noqa: BLE001 - every failure is counted
            failed_tokens += 1
            failures.expect(False, f"{name} {kind}: {type(error).__name__}: {error}")
    kids = {name: [k["kid"] for k in keys] for name, keys in after_by_instance.items()}
    new_kid = sorted(set(by_kid) - before_kids)
    failures.expect(len(new_kid) == 1, f"tokens of {sorted(by_kid)}; before the rotation {sorted(before_kids)}")
    failures.expect(len(before_kids) == 1 and by_kid.get(next(iter(before_kids)), 0) > 0, "no token of the old key")
    if len(new_kid) == 1:
        for name, published in kids.items():
            failures.expect(published == new_kid + sorted(before_kids), f"{name} publishes {published}")
    person = state["participants"][0]
    signing = {}
    for name, base in ctx.live_instances().items():
        token = ctx.token(base, person["room"], person["session"]).json().get("token") or ""
        signing[name] = jwt.get_unverified_header(token).get("kid") if token else None
    failures.expect(set(signing.values()) == set(new_kid), f"signing keyIDs after the rotation: {signing}")
    ctx.record(
        failures,
        "rolling key rotation (SIGHUP one instance at a time)",
        len(seen),
        failed,
        server_errors,
        "-",
        "-",
        f"tokens verified/failed {sum(by_kid.values())}/{failed_tokens}; by keyID: "
        + ", ".join(f"{k} {v}" for k, v in sorted(by_kid.items()))
        + f"; {not_before} of them unknown to the JWKS fetched before; JWKS after: "
        + ", ".join(f"{n} {v}" for n, v in sorted(kids.items())),
    )
    failures.exit_if_any()


def assess_kill(ctx, args, state, seen):
    failures = Failures("instance killed")
    events = ctx.events()
    killed = [name for name in ctx.instances if f"killed-{name}" in events]
    failures.expect(len(killed) == 1, f"killed instances: {killed}")
    victim = killed[0] if killed else None
    at = events.get(f"killed-{victim}", 0)
    failed, server_errors = statuses(seen, failures)
    other_id, before, after = 0, [], []
    for _, name, room, kind, answer in seen:
        if answer.status != 200:
            continue
        (after if answer.started > at else before).append(answer.instance)
        conference = conference_of(kind, answer)
        other_id += not failures.expect(conference == state["rooms"][room], f"{name}: {conference!r}")
    failures.expect(after.count(victim) == 0, f"{victim} answered {after.count(victim)} requests after the kill")
    failures.expect(len(after) > 0, "no request after the kill")
    status = ctx.haproxy_status()
    failures.expect(status.get(victim) == "DOWN", f"HAProxy reports {status}")
    ctx.record(
        failures,
        f"instance {victim} killed (SIGKILL) mid-run",
        len(seen),
        failed,
        server_errors,
        0 if not other_id else f"{other_id} answers",
        "-",
        f"answered before the kill: {counts(before)}; after: {counts(after)}; HAProxy: {victim} "
        f"{status.get(victim)} (retry-on conn-failure empty-response, option redispatch)",
    )
    failures.exit_if_any()


def assess_fault(ctx, args, state, seen):
    """The figures of a fault of the calls' Redis, between the events args.fault_from and
    args.fault_to (the fault is over: Redis resumed, restarted, the link replaced, the
    failover done)."""
    failures = Failures(args.label)
    events = ctx.events()
    start, end = events.get(args.fault_from), events.get(args.fault_to)
    if not failures.expect(start is not None, f"no event {args.fault_from}: {sorted(events)}"):
        failures.exit_if_any()
    if not failures.expect(end is not None, f"no {args.fault_to} after {args.fault_from}: the fault never ended"):
        end = max(answer.ended for *_, answer in seen)  # judged as a fault to the end of the traffic
    settled = end + CACHE_BOUND
    failed, server_errors = statuses(seen, failures)
    rooms = state["rooms"]
    before_bad, during, after = 0, {}, {}
    probes, fallbacks, one_instance = [], [], {}
    for group, name, room, kind, answer in seen:
        if answer.status != 200 or kind == "login":
            continue
        conference = conference_of(kind, answer)
        if group == "prober":
            probes.append((answer, room, conference))
            continue
        if group == "one-instance":
            one_instance.setdefault(room, set()).add(conference)
            continue
        if answer.ended < start:
            before_bad += not failures.expect(conference == rooms[room], f"{name} before the fault: {conference!r}")
        elif answer.started < settled and group == "participant":
            during.setdefault(room, set()).add(conference)
        else:
            after.setdefault(room, set()).add(conference)
    two_at_once = sorted(room for room, ids in during.items() if ids != {rooms[room]})
    split_after = sorted(room for room in rooms if after.get(room, set()) != {rooms[room]})
    for room in two_at_once:
        failures.expect(False, f"{room} during the fault: {sorted(map(str, during[room]))} (the call: {rooms[room]})")
    for room in split_after:
        failures.expect(
            False, f"{room} after the fault: {sorted(map(str, after.get(room, [])))} (the call: {rooms[room]})"
        )
    joined = {}
    for group, _, room, kind, answer in seen:
        if group == "newcomer" and kind != "login":
            joined.setdefault(room, set()).add(conference_of(kind, answer) if answer.status == 200 else None)
    newcomers = sum(ids == {rooms[room]} for room, ids in joined.items())
    failures.expect(len(joined) == len(rooms), f"newcomers joined {len(joined)} of {len(rooms)} rooms")
    # The prober's new rooms: a per-call ID, or during the fault the room itself (documented).
    per_call_after = 0
    for answer, room, conference in probes:
        if conference == room:
            fallbacks.append(answer.started - start)
            failures.expect(
                answer.started < settled + MARGIN,
                f"{room}: the room itself {answer.started - end:.2f} s after the fault",
            )
        else:
            failures.expect(id_ok(conference, room), f"{room}: {conference!r}")
            per_call_after += answer.started > settled
    failures.expect(per_call_after > 0, "no per-call ID for a new room after the fault")
    # Redis holds the ongoing calls again.
    held = "-"
    if ctx.redis_ports:
        stored = {room: ctx.stored(room) for room in rooms}
        missing = sorted(room for room, value in stored.items() if value != ("live", rooms[room]))
        for room in missing:
            failures.expect(False, f"Redis holds {stored[room]} for {room} (the call: {rooms[room]})")
        held = f"{len(rooms) - len(missing)}/{len(rooms)}"
    # The rooms only `a` saw (documented: they may split).
    one_split = sum(len(ids | {state["one_instance_ids"][room]}) > 1 for room, ids in one_instance.items())
    bound = ""
    if args.bound:
        took = end - start
        failures.expect(
            took <= args.bound, f"{args.fault_to} {took:.2f} s after {args.fault_from}: bound {args.bound:.2f} s"
        )
        shown = f"{took:.2f} s" if args.fault_to in events else f"never (traffic ended {took:.1f} s)"
        bound = f"{args.fault_to} {shown} after {args.fault_from} (bound {args.bound:.2f} s); "
    by_instance = counts(a.instance for g, _, _, _, a in seen if g == "participant" and start <= a.started < end)
    window = f"[{min(fallbacks):+.1f} s, {max(fallbacks):+.1f} s]" if fallbacks else "never"
    ctx.record(
        failures,
        args.label,
        len(seen),
        failed,
        server_errors,
        len(two_at_once),
        len(split_after),
        f"{bound}fault {end - start:.1f} s; joins during it by instance: {by_instance}; newcomers after it "
        f"{newcomers}/{len(rooms)} on the ongoing call; Redis holds the ongoing call for {held} rooms; new rooms "
        f"(documented fallback): the room itself for {len(fallbacks)}/{len(probes)} probes, {window} from the "
        f"fault's start"
        + (f"; rooms only a saw: {one_split}/{len(one_instance)} split (documented)" if one_instance else ""),
    )
    failures.exit_if_any()


def silence_bound():
    return COMMAND_TIMEOUT + UNRESPONSIVE_TIMEOUT + SILENCE_SLACK
