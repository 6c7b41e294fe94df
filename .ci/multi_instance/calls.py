"""The checks of joining and ending calls with every instance up: concurrent joins (one
conferenceID per room, tokens verify, userIDs agree), end_call and its bound, an end
answered 503 while Redis hangs and retried after a newer call started, and the instances
that start before Redis.
"""

import concurrent.futures
import time

from common import (
    CACHE_BOUND,
    MARGIN,
    Failures,
    Verifier,
    expected_user_id,
    id_ok,
    not_logged_in,
    page_id,
    room_path,
    send,
    union_jwks,
)

# How soon after Redis answers an instance started before it must use it.
STARTUP_BOUND = 2.0


def cmd_wait_up(ctx, args):
    """Waits (bounded) until HAProxy reports the named servers UP and the others DOWN."""
    want_up = set(args.up.split(","))
    deadline = time.time() + args.seconds
    status = {}
    for _ in range(int(args.seconds * 10) + 1):
        if time.time() > deadline:
            break
        status = ctx.haproxy_status()
        if all((status.get(name) == "UP") == (name in want_up) for name in ctx.instances):
            return
        time.sleep(0.1)
    raise SystemExit(f"FAIL wait-up: HAProxy reports {status} after {args.seconds} s, expected {sorted(want_up)} UP")


def cmd_join(ctx, args):
    """Participants in new rooms join concurrently through HAProxy: one ID per room,
    tokens verify, userIDs agree on every instance."""
    mode = args.mode
    failures = Failures(f"join ({mode} userIDs)")
    rooms = [f"{mode}-room-{k:02d}" for k in range(1, args.rooms)] + [f"{mode}-会議室"]
    people = [{"name": f"{mode}-user-{i:02d}", "room": rooms[i % len(rooms)]} for i in range(args.participants)]
    began = int(time.time()) - 1  # the rooms are new: their calls start now (Unix seconds)

    def participant(person):
        answers = {}
        login, session = ctx.login(ctx.haproxy, person["name"])
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
    requests = verified = failed_tokens = user_id_ok = errors = server_errors = 0
    for person, session, answers in results:
        who = person["name"]
        requests += len(answers)
        for kind, answer in answers.items():
            if not failures.expect(answer.status == 200, f"{who} {kind}: {answer.describe()}"):
                errors += 1
                server_errors += answer.status >= 500
            if not kind.startswith("direct"):
                answered_by[answer.instance] = answered_by.get(answer.instance, 0) + 1
        if len(answers) < 3 or not session:
            continue
        expected = expected_user_id(mode, who, session, args.secret, args.domain)
        person.update(session=session, user_id=expected)
        seen_users, tokens = set(), []
        for kind, answer in answers.items():
            if kind == "login" or answer.status != 200:
                continue
            body = answer.json()
            ids[person["room"]].add(body.get("conferenceID") if kind == "token" else page_id(answer))
            seen_users.add(body.get("userID"))
            tokens.append(body.get("token") if kind == "token" else answer.headers.get("x-callstats-token"))
            if kind != "token":
                started = body.get("callStartedAt")
                failures.expect(isinstance(started, int) and started >= began, f"{who} {kind}: callStartedAt {started}")
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

    # Without a session, every instance refuses a token.
    anonymous = 0
    for name, base in ctx.instances.items():
        answer = send(base, "POST", "/getToken", {"Referer": ctx.haproxy + room_path(rooms[0])}, b"")
        requests += 1
        if failures.expect(not_logged_in(answer), f"{name}: a token without a session: {answer.describe()}"):
            anonymous += 1
    room_ids = {}
    for room, found in ids.items():
        failures.expect(len(found) == 1, f"room {room}: {len(found)} conferenceIDs {sorted(map(str, found))}")
        (only,) = found if len(found) == 1 else (None,)
        failures.expect(isinstance(only, str) and id_ok(only, room), f"room {room}: {only!r} is not a per-call ID")
        room_ids[room] = only
    failures.expect(len(set(room_ids.values())) == len(rooms), "two rooms share a conferenceID")
    for name in ctx.instances:
        failures.expect(answered_by.get(name, 0) > 0, f"HAProxy sent nothing to {name}: {answered_by}")
    # The next checks go on with the participants who logged in.
    ctx.save({"mode": mode, "participants": [p for p in people if "session" in p], "rooms": room_ids})
    by = ", ".join(f"{k} {v}" for k, v in sorted(answered_by.items()))
    ctx.record(
        failures,
        f"{len(people)} participants join {len(rooms)} new rooms concurrently ({mode} userIDs)",
        requests,
        errors,
        server_errors,
        sum(len(found) > 1 for found in ids.values()),
        "-",
        f"tokens verified/failed {verified}/{failed_tokens}; userID the same via HAProxy and on each of "
        f"{len(ctx.instances)} instances: {user_id_ok}/{len(people)}; HAProxy sent {by}; no session: "
        f"403 not_logged_in on {anonymous}/{len(ctx.instances)}",
    )
    failures.exit_if_any()


def ended(answer, value):
    """Whether `answer` is the end route's 200 saying `"ended": value` (a JSON bool)."""
    return answer.status == 200 and answer.json().get("ended") is value


def cmd_end(ctx, args):
    """end_call on one instance with the call's ID; the others hand out the new ID within
    the cache bound; a late end of the old call, on every instance, ends nothing."""
    failures = Failures("end_call")
    state = ctx.load()
    room = sorted(state["rooms"])[0]
    old = state["rooms"][room]
    members = [p for p in state["participants"] if p["room"] == room]
    session = members[0]["session"]
    names = sorted(ctx.instances)
    first, others = names[0], names[1:]
    requests = errors = 0
    # The others cache the current call now, so that the bound is what is measured.
    for name in others:
        failures.expect(page_id(ctx.page(ctx.instances[name], room, session)) == old, f"{name}: not the old ID")
        requests += 1
    # Ending a call needs its conferenceID: another one (a stale or made-up ID) ends nothing.
    stale = ctx.end(ctx.instances[first], room, session, old + "-0")
    requests += 1
    errors += not failures.expect(ended(stale, False), f"end of another call: {stale.describe()}")
    answer = ctx.end(ctx.instances[first], room, session, old)
    ended_at = answer.ended
    requests += 1
    errors += not failures.expect(
        answer.status == 200 and answer.json() == {"ended": True, "room": room, "conferenceID": old},
        f"end on {first}: {answer.describe()}",
    )
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
    ids = set()
    for person in members:
        ids.add(page_id(ctx.page(ctx.haproxy, room, person["session"])))
        ids.add(ctx.token(ctx.haproxy, room, person["session"]).json().get("conferenceID"))
        requests += 2
    failures.expect(ids == {new}, f"participants of {room}: {ids}")
    # A late or repeated end of the old call, on every instance, ends nothing.
    late = 0
    for name in names:
        again = ctx.end(ctx.instances[name], room, session, old)
        requests += 1
        late += failures.expect(ended(again, False), f"late end on {name}: {again.describe()}")
    after = {page_id(ctx.page(ctx.haproxy, room, person["session"])) for person in members}
    requests += len(members)
    failures.expect(after == {new}, f"{room} after the late ends: {after}")
    unchanged = 0
    for other, conference in state["rooms"].items():
        if other != room:
            person = next(p for p in state["participants"] if p["room"] == other)
            requests += 1
            seen = page_id(ctx.page(ctx.haproxy, other, person["session"]))
            unchanged += failures.expect(seen == conference, f"{other} changed: {seen!r}")
    # The room's call from now on (after a late end that ended it, the one after that).
    state["rooms"][room] = next(iter(after)) if len(after) == 1 else new
    ctx.save(state)
    shown = ", ".join(f"{name} after {delay:.2f} s" for name, delay in sorted(delays.items()))
    ctx.record(
        failures,
        f"end_call on {first} with the call's conferenceID, joins on {', '.join(others)}",
        requests,
        errors,
        0,
        "-",
        "-",
        f"new ID on {shown} (bound: local_cache_ttl {CACHE_BOUND:.0f} s, asserted with a {MARGIN:.0f} s margin); "
        f"{unchanged} other rooms unchanged; another ID ended nothing; {late}/{len(names)} late ends of the "
        "old call ended nothing",
    )
    failures.exit_if_any()


def cmd_late_end(ctx, args):
    """An end sent while the calls' Redis hangs (SIGSTOP) answers 503; once Redis is back
    and a newer call has started, the same end sent again ends nothing: the newer call
    stays. The script pauses and resumes Redis on this check's events."""
    failures = Failures("late end")
    names = sorted(ctx.instances)
    first, second = names[0], names[1]
    room = "late-end-room"
    members = []
    for i in range(2):
        login, session = ctx.login(ctx.haproxy, f"late-end-user-{i}")
        failures.expect(login.status == 200 and session, f"login: {login.describe()}")
        members.append(session)
    failures.exit_if_any()
    # Every instance knows the call.
    old = {name: page_id(ctx.page(base, room, members[0])) for name, base in ctx.instances.items()}
    call = old[first]
    failures.expect(set(old.values()) == {call} and id_ok(call, room), f"before: {old}")
    failures.exit_if_any()

    ctx.event("late-end-ready")
    failures.expect(ctx.wait_event("calls-paused", 30) is not None, "the script did not pause Redis")
    failures.exit_if_any()
    first_end = ctx.end(ctx.instances[first], room, members[0], call)
    failures.expect(first_end.status == 503, f"the end while Redis hangs: {first_end.describe()}")
    ctx.event("late-end-sent")
    resumed = ctx.wait_event("calls-resumed", 30)
    failures.expect(resumed is not None, "the script did not resume Redis")
    failures.exit_if_any()

    # Did the end queued while Redis hung run when it woke? Either way, the call ends now
    # (a second moderator ends it on another instance if it still runs).
    stored = None
    for _ in range(50):
        try:
            stored = ctx.stored(room)
            break
        except OSError:
            time.sleep(0.1)
    queued_ran = stored is None or stored == ("ended", call)
    if not queued_ran:
        failures.expect(stored == ("live", call), f"Redis holds {stored} after the resume")
        again = ctx.end(ctx.instances[second], room, members[1], call)
        failures.expect(ended(again, True), f"the end on {second}: {again.describe()}")
    ended_at = time.time()

    # A newer call starts: every instance hands out one new ID within the cache bound.
    newer = {}
    deadline = ended_at + CACHE_BOUND + MARGIN
    for name, base in ctx.instances.items():
        for _ in range(100):
            seen = page_id(ctx.page(base, room, members[1]))
            if seen != call or time.time() > deadline:
                newer[name] = seen
                break
            time.sleep(0.1)
    new_ids = set(newer.values())
    failures.expect(len(new_ids) == 1 and id_ok(next(iter(new_ids)), room), f"the newer call: {newer}")
    new = next(iter(new_ids))

    # The end of the old call, retried: it ends nothing.
    retry = ctx.end(ctx.instances[first], room, members[0], call)
    failures.expect(ended(retry, False), f"the retried end: {retry.describe()}")
    time.sleep(0.2)
    stays = {name: page_id(ctx.page(base, room, members[1])) for name, base in ctx.instances.items()}
    kept = sum(seen == new for seen in stays.values())
    failures.expect(kept == len(stays), f"after the retry: {stays} (the newer call {new!r})")
    stored_after = ctx.stored(room) if ctx.redis_ports else None
    if ctx.redis_ports:
        failures.expect(stored_after == ("live", new), f"Redis holds {stored_after} after the retry")
    ctx.record(
        failures,
        "end while Redis hangs (SIGSTOP), retried after a newer call started",
        len(members) + len(ctx.instances) * 3 + 3,
        int(first_end.status != 503) + int(not ended(retry, False)),
        "1 (the documented 503)" if first_end.status == 503 else int(first_end.status >= 500),
        "-",
        "-",
        f"first end: {first_end.status} (documented: 503, never 500); the end queued in the hung Redis "
        f"{'ran when it woke' if queued_ran else 'did not run; ended on ' + second}; newer call on "
        f"{sum(seen == new for seen in newer.values())}/{len(newer)} instances; retry: "
        f"{retry.status} {retry.json().get('ended')!r}; newer call kept on {kept}/{len(stays)} instances"
        + (f", in Redis: {stored_after[1] == new if stored_after else False}" if ctx.redis_ports else ""),
    )
    failures.exit_if_any()


def cmd_startup(ctx, args):
    """Instances started before Redis: each hands out per-call IDs, the same as the others',
    within STARTUP_BOUND of Redis answering. Runs while the script starts Redis."""
    failures = Failures("instances started before Redis")
    room = "startup-room"
    deadline = time.time() + args.seconds

    def probe(item):
        name, base = item
        session, fallbacks, tries = None, 0, 0
        for _ in range(int(args.seconds * 10) + 1):
            if time.time() > deadline:
                break
            tries += 1
            if session is None:
                login, session = ctx.login(base, f"startup-{name}")
                if login.status != 200:
                    session = None
            if session is not None:
                answer = ctx.page(base, room, session)
                seen = page_id(answer) if answer.status == 200 else None
                if id_ok(seen, room):
                    return name, seen, answer.ended, fallbacks, tries
                fallbacks += seen == room
            time.sleep(0.1)
        return name, None, None, fallbacks, tries

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(ctx.instances)) as pool:
        results = list(pool.map(probe, ctx.instances.items()))
    up = ctx.events().get("redis-started")
    failures.expect(up is not None, "no redis-started event")
    delays = {}
    for name, seen, at, _, _ in results:
        if failures.expect(seen is not None, f"{name}: no per-call ID within {args.seconds} s"):
            delays[name] = at - (up or at)
            failures.expect(delays[name] <= STARTUP_BOUND, f"{name}: {delays[name]:.2f} s after Redis answered")
    ids = {seen for _, seen, _, _, _ in results}
    failures.expect(len(ids) == 1, f"IDs of {room}: {ids}")
    ctx.record(
        failures,
        "instances started before Redis",
        sum(tries for *_, tries in results),
        0,
        0,
        int(len(ids) > 1),
        "-",
        "first per-call ID after Redis answered: "
        + (", ".join(f"{n} {d:.2f} s" for n, d in sorted(delays.items())) or f"none within {args.seconds:.0f} s")
        + f" (bound {STARTUP_BOUND:.0f} s); the room itself before it: "
        + (", ".join(f"{name} {fallbacks}" for name, _, _, fallbacks, _ in results if fallbacks) or "never")
        + f"; {len(ids)} ID for {room} across the instances",
    )
    failures.exit_if_any()
