#!/usr/bin/env python3
"""Failover: the longest gap in successful validations at A when B, which
serves them, is SIGKILLed (then restarted at the same address) or SIGSTOPped
(then SIGCONTed), over a number of tries each; prints median and max per kind.

Three nodes on loopback, plaintext cluster, one shared MariaDB (the test one,
started by scripts/local-servers on HERALD_TEST_MYSQL_PORT, as the
integration tests do): A {gateway, user}, B {token, reset}, C {token, reset},
B and C seeded with A. One client validates a token through A's HTTP API
without pause (each request with its own timeout; the loop is bounded). A
runs no token service, so its token router sends the validations in turn to
B and C (round robin, node/router.hpp): before every try the script waits
until A routes tokens to both B and C (B up again as a member of A) and then
checks that validations succeed and that B spends CPU like C while the client
runs (an idle node spends next to none), so B takes every other one.

The gap of a try: the longest time between two successful validations
(answer received) from 1 s before the fault until the client stops, which is
several seconds after validations succeed again. Non-200 answers and requests
without an answer are counted, not hidden.

  HERALD_NODE=build-bench/herald-node HERALDCTL=build-bench/heraldctl \\
  HERALD_TEST_MYSQL_PORT=3481 HERALD_TEST_RUN_DIR=build-bench/.run-test \\
    python3 bench/failover.py [--tries 10] [--kinds kill,stop]

The database must be running (scripts/local-servers start mysql with
HERALD_RUN_DIR and HERALD_MYSQL_PORT set to the same run dir and port)."""

import argparse
import os
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
os.environ.setdefault("HERALD_SOURCE_DIR", SOURCE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration", "lib"))

from herald_harness import Database, Node, wait_until  # noqa: E402
from http_util import call  # noqa: E402
from cluster_util import Validators, roles, seeds, status  # noqa: E402

PW = "correct horse battery staple"


def token_routes(a):
    st = status(a)
    return st["routes"].get("token", []) if st else []


def routes_to(a, *nodes):
    r = token_routes(a)
    return all(any(("127.0.0.1:%d" % n.port) in x for x in r) for n in nodes)


def cpu_ticks(node):
    """User + system CPU time of the node's process in clock ticks."""
    with open("/proc/%d/stat" % node.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def longest_gap(results, t_from):
    """Longest time between consecutive successful answers (their ends) among
    the requests answered after t_from, counted from t_from."""
    ends = sorted(r[1] for r in results if r[2] == 200 and r[1] >= t_from)
    points = [t_from] + ends
    return max((b - a for a, b in zip(points, points[1:])), default=None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tries", type=int, default=10)
    ap.add_argument("--kinds", default="kill,stop")
    ap.add_argument("--after", type=float, default=6.0,
                    help="seconds the client goes on after success resumed")
    ap.add_argument("--request-timeout", type=float, default=20.0)
    args = ap.parse_args()
    kinds = args.kinds.split(",")

    with Database() as db:
        a = Node(db.name, gateway=True)
        base = ["--hasher.memory-kib=64", "--hasher.iterations=1",
                "--mail.public-base-url=" + a.url + "/"]
        a.args += base + [roles("gateway", "user")]
        a.start()
        b = Node(db.name, extra=base + [roles("token", "reset"), seeds(a)])
        c = Node(db.name, extra=base + [roles("token", "reset"), seeds(a)])
        b.start()
        c.start()
        nodes = [a, b, c]
        figures = {k: [] for k in kinds}
        try:
            if not wait_until(lambda: routes_to(a, b, c), timeout=30):
                raise RuntimeError("A does not route tokens to B and C: %r"
                                   % token_routes(a))
            res = call(a.url, "POST", "/v1/users",
                       body={"name": "Fay", "email": "fay@example.org",
                             "password": PW}, timeout=30)
            if res.status != 201:
                raise RuntimeError("sign-up -> %r" % res)
            res = call(a.url, "POST", "/v1/sessions",
                       body={"email": "fay@example.org", "password": PW},
                       timeout=30)
            if res.status != 200:
                raise RuntimeError("login -> %r" % res)
            token = res.json()["access_token"]

            for kind in kinds:
                for i in range(args.tries):
                    # B serving: A routes tokens to B and C, validations
                    # succeed (round robin: every other one is B's).
                    if not wait_until(lambda: routes_to(a, b, c), timeout=60):
                        raise RuntimeError("B did not rejoin A's routes: %r"
                                           % token_routes(a))
                    with Validators(a, token, clients=1,
                                    timeout=args.request_timeout) as cl:
                        t_ready = time.time()
                        if not wait_until(
                                lambda: sum(r[2] == 200 for r in
                                            cl.since(t_ready)) >= 20,
                                timeout=30, step=0.05):
                            raise RuntimeError("validations do not succeed")
                        # B serves: while the client runs it spends CPU
                        # like C (an idle node spends next to none).
                        for _ in range(5):
                            b0, c0 = cpu_ticks(b), cpu_ticks(c)
                            time.sleep(1.5)
                            db_, dc = cpu_ticks(b) - b0, cpu_ticks(c) - c0
                            if db_ >= 3 and db_ >= 0.3 * dc:
                                break
                        else:
                            raise RuntimeError(
                                "B does not serve (CPU ticks in 1.5 s: B %d, "
                                "C %d)" % (db_, dc))
                        t_fault = time.time()
                        b.proc.send_signal(signal.SIGKILL if kind == "kill"
                                           else signal.SIGSTOP)

                        def resumed():
                            rs = cl.since(t_fault)
                            ok = [r for r in rs if r[2] == 200]
                            return ok and ok[-1][1] - t_fault > 0.0 and len(
                                [r for r in ok if r[1] > ok[0][1]]) >= 5
                        wait_until(resumed, timeout=args.request_timeout + 15,
                                   step=0.1)
                        time.sleep(args.after)
                    rs = cl.since(t_fault - 1.0)
                    gap = longest_gap(rs, t_fault - 1.0)
                    bad = [r for r in rs if r[2] != 200]
                    figures[kind].append(gap)
                    print("%s try %d: longest gap %.3f s (%d requests, %d not "
                          "200: %s; before: B %d, C %d CPU ticks in 1.5 s)"
                          % (kind, i + 1, gap or -1, len(rs), len(bad),
                             sorted({str(r[2]) for r in bad}), db_, dc),
                          flush=True)
                    if kind == "kill":
                        b.proc.wait(timeout=10)
                        b.start()
                    else:
                        b.proc.send_signal(signal.SIGCONT)
        finally:
            for n in nodes:
                try:
                    if n.proc and n.proc.poll() is None:
                        n.proc.send_signal(signal.SIGCONT)
                    n.stop()
                except Exception as e:
                    print("stopping %d: %s" % (n.port, e), file=sys.stderr)

    print("failover: longest gap in successful validations at A "
          "(1 client, B serving every other validation), %d tries each"
          % args.tries)
    for kind, gaps in figures.items():
        gaps = [g for g in gaps if g is not None]
        if gaps:
            print("  B %-8s median %.3f s   max %.3f s   (tries: %s)"
                  % ({"kill": "SIGKILL", "stop": "SIGSTOP"}[kind],
                     statistics.median(gaps), max(gaps),
                     " ".join("%.2f" % g for g in gaps)))


if __name__ == "__main__":
    main()
