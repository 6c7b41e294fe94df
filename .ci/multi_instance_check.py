"""The checks of .ci/multi-instance.sh, .ci/redis-sentinel.sh and .ci/redis-cluster.sh:
several instances of redis/examples/multi_instance.rs (crate tower-callstats-redis) behind
HAProxy, sharing Redis. One subcommand per check; the scripts run them in order and start,
stop, pause, kill and signal the processes themselves (the checks read the scripts' events
from DIR/events, `NAME UNIX_TIME` lines, and write their own there to hand over).

    python3 .ci/multi_instance_check.py --work DIR --haproxy URL --instance a=URL ... COMMAND

Each check appends one row of figures to DIR/results.jsonl and exits 1 (after printing
every violation) when one of its assertions fails; `table` prints the rows as a markdown
table (README "Several instances"). DIR/state.json carries the participants and their
rooms' calls from one check to the next.

Independent of the crates: tokens are verified with PyJWT + cryptography against the JWKS
fetched from each instance directly; expected userIDs are computed here (the username;
hashlib's SHA1 of username@domain; the first 128 bits of hmac's HMAC-SHA256 of the
session ID); conferenceIDs are compared with each other, with the room and with the form
of a per-call ID; what Redis holds is read with a RESP client of its own, at keys computed
from the rule written out (multi_instance/redis_probe.py). Standard library only besides
PyJWT. The checks live in .ci/multi_instance/, one module per concept.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "multi_instance"))

import calls  # noqa: E402
import proxy  # noqa: E402
import redis_checks  # noqa: E402
import traffic  # noqa: E402
from common import Context  # noqa: E402
from redis_probe import DEFAULT_PREFIX  # noqa: E402

COLUMNS = ["phase", "joins", "failed", "5xx", "two IDs at once", "split after recovery", "result", "figures"]


def cmd_table(ctx, args):
    with open(os.path.join(ctx.work, "results.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    print("| " + " | ".join(COLUMNS) + " |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for row in rows:
        print("| " + " | ".join(str(row[c]).replace("|", "\\|") for c in COLUMNS) + " |")


def cmd_snapshot_jwks(ctx, args):
    from common import union_jwks

    with open(os.path.join(ctx.work, "jwks-before.json"), "w", encoding="utf-8") as f:
        json.dump(union_jwks(ctx), f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--haproxy", default="")
    parser.add_argument("--instance", action="append", default=[], help="NAME=URL, directly")
    parser.add_argument(
        "--calls-redis", default="", help="ports of the calls' Redis (a cluster's masters), comma-separated"
    )
    parser.add_argument("--calls-db", type=int, default=0)
    parser.add_argument("--key-prefix", default=DEFAULT_PREFIX)
    parser.add_argument(
        "--key-format", choices=["tagged", "legacy"], default="tagged", help="legacy: an older binary's keys"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("wait-up")
    p.add_argument("--up", required=True)
    p.add_argument("--seconds", type=float, default=15)
    p = sub.add_parser("startup")
    p.add_argument("--seconds", type=float, default=20)
    p = sub.add_parser("join")
    p.add_argument("--mode", choices=["raw", "sha1", "ephemeral"], required=True)
    p.add_argument("--participants", type=int, default=60)
    p.add_argument("--rooms", type=int, default=12)
    p.add_argument("--secret", required=True)
    p.add_argument("--domain", default="example.com")
    sub.add_parser("end")
    sub.add_parser("late-end")
    sub.add_parser("snapshot-jwks")
    p = sub.add_parser("prepare-one-instance")
    p.add_argument("--label-key", required=True)
    p = sub.add_parser("traffic")
    p.add_argument("--phase", choices=["rotate", "kill", "fault"], required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--label", default="")
    p.add_argument("--label-key", default="", help="a short name for the phase's users and rooms")
    p.add_argument("--fault-from", default="", help="the event that starts the fault")
    p.add_argument("--fault-to", default="", help="the event that ends it")
    p.add_argument("--bound", default="", help="seconds the fault may last at most; `silence`: the silenced-link bound")
    sub.add_parser("sessions-down")
    p = sub.add_parser("sessions-up")
    p.add_argument("--seconds", type=float, default=10)
    p = sub.add_parser("replica")
    p.add_argument("--port", type=int, required=True, help="the old primary")
    p.add_argument("--primary", type=int, required=True, help="the new primary")
    p.add_argument("--seconds", type=float, default=20)
    for name in ("cluster-spread", "hash-tags"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True, help="a node of the cluster")
    p = sub.add_parser("proxy")
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--target", type=int, required=True)
    sub.add_parser("table")
    args = parser.parse_args()
    if getattr(args, "bound", None) == "silence":
        args.bound = traffic.silence_bound()
    elif hasattr(args, "bound"):
        args.bound = float(args.bound or 0)
    ctx = Context(args)
    {
        "wait-up": calls.cmd_wait_up,
        "startup": calls.cmd_startup,
        "join": calls.cmd_join,
        "end": calls.cmd_end,
        "late-end": calls.cmd_late_end,
        "snapshot-jwks": cmd_snapshot_jwks,
        "prepare-one-instance": traffic.cmd_prepare_one_instance,
        "traffic": traffic.cmd_traffic,
        "sessions-down": redis_checks.cmd_sessions_down,
        "sessions-up": redis_checks.cmd_sessions_up,
        "replica": redis_checks.cmd_replica,
        "cluster-spread": redis_checks.cmd_cluster_spread,
        "hash-tags": redis_checks.cmd_hash_tags,
        "proxy": proxy.cmd_proxy,
        "table": cmd_table,
    }[args.command](ctx, args)


if __name__ == "__main__":
    main()
