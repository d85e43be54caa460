"""Shutdown under load (issue 9; needs: mysql, rabbitmq).

A node with the roles user, token, reset, mailer and bridge (mail through
RabbitMQ, routed as config/herald.ini does: outbound topics to an exchange,
the mailer fed from an inbound queue) gets SIGTERM while 200 `heraldctl user
create` run against it, at most CONCURRENCY at once. Then:

- every registration has an outcome the caller can act on: success (exit 0),
  refused `unavailable` (exit 1), or not sent (exit 3, "nothing was sent": the
  node had already closed its port, so the request never left heraldctl and
  nothing can have been written; asking again later is safe). A lost answer
  (exit 3 otherwise: "the outcome of this change is unknown") or a heraldctl
  that hangs would mean the node took a request and never answered it: that
  must not happen;
- the node exits 0 within a bound, its log shows the components stopping in
  reverse order, none had to be killed;
- nothing is half-written: every success is a row in `users`, every row is a
  success or a request answered `unavailable` (its grace may have run out
  after the commit), nothing "not sent" is there; each user has exactly one
  user.created event, either pending in the outbox or already published
  (seen on a probe queue bound to the exchange); no event without its user;
- started again on the same database and queues, the node delivers every
  pending event: each user gets exactly one welcome mail, the outbox ends
  empty, nothing is dead-lettered, the queues end drained.

Every wait is bounded, every process is stopped in a finally block, all on
loopback."""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import pika

from herald_harness import (wait_until, CTL, Database, Node, SmtpSink, check, ctl_json,
                            finish, sql)

PW = "shutdown under load 1234"  # >= 15 characters
AMQP_URL = os.environ.get("HERALD_TEST_AMQP_URL",
                          "amqp://guest:guest@127.0.0.1:5683/")
RABBIT_PORT = int(os.environ.get("HERALD_TEST_RABBITMQ_PORT", "5683"))
# Names of this run only: other tests use the same broker.
TAG = "t" + secrets.token_hex(3)
EXCHANGE = TAG + ".events"
QUEUE = TAG + ".mailer"
PROBE = TAG + ".probe"

TOTAL = int(os.environ.get("HERALD_SHUTDOWN_USERS", "200"))
CONCURRENCY = 20
SIGTERM_AFTER = 60          # outcomes before the node gets SIGTERM
CTL_TIMEOUT = 75            # per heraldctl process (its connect budget is 20 s
                            # and its reply timeout 30 s)
STOP_TIMEOUT_S = 5          # --herald.stop-timeout: grace per component
EXIT_BOUND = 45             # node exit after SIGTERM, seconds
# The deliberate break for checking that this test can fail (see the commit):
# HERALD_SHUTDOWN_SIGNAL=KILL sends SIGKILL instead of SIGTERM.
STOP_SIGNAL = getattr(signal, "SIG" + os.environ.get("HERALD_SHUTDOWN_SIGNAL",
                                                     "TERM"))


def bridge_node(db, sink):
    return Node(db.name, extra=[
        '--herald.roles=["user","token","reset","mailer","bridge"]',
        "--herald.stop-timeout=%ds" % STOP_TIMEOUT_S,
        "--amqp.url=" + AMQP_URL,
        "--smtp.url=" + sink.url(),
        "--smtp.timeout=5s",
        # As config/herald.ini routes it, with this run's names.
        '--amqp.outbound=["topics=user.*,password.* exchange=%s"]' % EXCHANGE,
        '--amqp.inbound=["queue=%s exchange=%s bind=user.created,'
        'password.reset_requested,user.password_changed handler=mailer"]'
        % (QUEUE, EXCHANGE),
        "--amqp.retry-delay=200ms", "--amqp.max-attempts=4",
        "--amqp.reconnect-max=1s", "--outbox.backoff-min=100ms",
        "--outbox.backoff-max=1s",
        # argon2id at its default (OWASP minimum) cost keeps the two hasher
        # workers busy: creates queue up in the user service, so the signal
        # finds requests under way there and the drain is exercised.
        "--hasher.memory-kib=19456", "--hasher.iterations=2"])




# -- RabbitMQ, through pika (one short connection per use: a blocking
# connection left idle for minutes misses its heartbeats) ---------------------

def with_channel(f):
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        return f(conn.channel())
    finally:
        try:
            conn.close()
        except Exception:
            pass


def declare_probe():
    """A queue bound to user.created on the exchange: every event the node
    publishes lands there too, so 'delivered' can be checked per user.
    Declared before the node: same arguments as the node's declaration
    (durable topic exchange), so both are the same exchange."""
    def f(ch):
        ch.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
        ch.queue_declare(PROBE, durable=True,
                         arguments={"x-expires": 30 * 60 * 1000})
        ch.queue_bind(PROBE, EXCHANGE, routing_key="user.created")
    with_channel(f)


def drain_probe(limit=10 * TOTAL):
    """Every message on the probe queue (removed from it), as parsed
    CloudEvents; undecodable ones as {"undecodable": body}."""
    def f(ch):
        got = []
        while len(got) < limit:
            method, _props, body = ch.basic_get(PROBE, auto_ack=True)
            if method is None:
                break
            try:
                got.append(json.loads(body))
            except ValueError:
                got.append({"undecodable": body[:200]})
        return got
    return with_channel(f)


def message_count(queue):
    """Ready messages of a queue, or None if it does not exist."""
    def f(ch):
        return ch.queue_declare(queue, passive=True).method.message_count
    try:
        return with_channel(f)
    except pika.exceptions.ChannelClosedByBroker:
        return None


def queue_counts():
    """{name: (ready, unacked)} of this run's queues, from rabbitmqctl."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "-n", "herald-%d@localhost" % RABBIT_PORT,
         "list_queues", "name", "messages_ready", "messages_unacknowledged"],
        capture_output=True, text=True, timeout=60)
    result = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(TAG + "."):
            result[parts[0]] = (int(parts[1]), int(parts[2]))
    return result


def cleanup_broker():
    """Best effort: this run's queues and exchange."""
    try:
        names = list(queue_counts())
    except Exception:
        names = [PROBE, QUEUE, QUEUE + ".dead"]
    for name in names:
        try:
            with_channel(lambda ch: ch.queue_delete(name))
        except Exception:
            pass
    try:
        with_channel(lambda ch: ch.exchange_delete(EXCHANGE))
    except Exception:
        pass


# -- registrations --------------------------------------------------------------

SUCCESS, UNAVAILABLE, NOT_SENT, LOST = ("success", "unavailable", "not sent",
                                        "lost/unknown")


def email_of(i):
    return "%s-load%03d@example.org" % (TAG, i)


def clock(t):
    """A wall-clock time as the node's log writes it (to read both side by
    side)."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + ".%03d" % (
        int(t * 1000) % 1000)


def register(port, i):
    """One `heraldctl user create`; answers (i, kind, detail, user or None);
    the detail of a failure ends with when it started and ended."""
    cmd = [CTL, "--node", "127.0.0.1:%d" % port, "--json",
           "--request-id", "%s-load-%d" % (TAG, i),
           "user", "create", "--name", "Load %d" % i, "--email", email_of(i),
           "--password", PW]
    began = time.time()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=CTL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return i, LOST, "heraldctl did not finish within %ds [%s]" % (
            CTL_TIMEOUT, clock(began)), None
    err = "%s [%s-%s]" % (out.stderr.strip(), clock(began), clock(time.time()))
    if out.returncode == 0:
        try:
            return i, SUCCESS, "", json.loads(out.stdout)
        except ValueError:
            return i, LOST, "exit 0 without a user: %r" % out.stdout[:200], None
    if out.returncode == 1 and "unavailable" in err:
        return i, UNAVAILABLE, err, None
    if out.returncode == 3 and "nothing was sent" in err:
        return i, NOT_SENT, err, None
    # Exit 3 otherwise: the connection was lost or the node did not answer
    # in time after the request went out; exit 1 with another error: the
    # node refused for a reason a shutdown does not explain.
    return i, LOST, "exit %d: %s" % (out.returncode, err), None


def stop_lines(log):
    """Component names in the order the log says they were stopped."""
    return re.findall(r"stopping ([a-z-]+)", log)


def in_order(names, first, then):
    return (first in names and then in names
            and names.index(first) < names.index(then))


def terminate(node):
    """finally: a node still running is stopped (SIGTERM, then SIGKILL)."""
    if node is None or node.proc is None or node.proc.poll() is not None:
        return
    node.proc.terminate()
    try:
        node.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        node.proc.kill()
        node.proc.wait(timeout=10)


def users_by_email(db):
    return {row[1]: int(row[0])
            for row in sql("SELECT id, email FROM users", db.name)}


def outbox_rows(db):
    """(seq, event_id, topic, event_key, dead_at) of every outbox row."""
    return sql("SELECT seq, event_id, topic, event_key, "
               "COALESCE(dead_at, '') FROM outbox", db.name)


def pending_created(db):
    """{user_id: {event_id}} of user.created rows still pending."""
    result = {}
    for _seq, ev_id, topic, key, dead in outbox_rows(db):
        if topic == "user.created" and not dead and key.startswith("user:"):
            result.setdefault(int(key[5:]), set()).add(ev_id)
    return result


def published_created(events):
    """{user_id: {event_id}} of user.created CloudEvents seen on the probe."""
    result = {}
    for ev in events:
        if ev.get("type") != "user.created":
            continue
        uid = (ev.get("data") or {}).get("user_id")
        result.setdefault(uid, set()).add(ev.get("id"))
    return result


def count_mails(sink):
    counts = {}
    welcome = {}
    for m in sink.mails():
        to = str(m["To"])
        counts[to] = counts.get(to, 0) + 1
        if str(m["Subject"]).startswith("Welcome"):
            welcome[to] = welcome.get(to, 0) + 1
    return counts, welcome


def main():
    node = node2 = None
    try:
        declare_probe()
        with Database() as db, SmtpSink() as sink:
            node = bridge_node(db, sink)
            try:
                node.start()
                # -- the load, and SIGTERM in the middle of it ----------------
                outcomes = {}
                lock = threading.Lock()
                signalled = {}

                def note(result):
                    with lock:
                        outcomes[result[0]] = result
                        if len(outcomes) == SIGTERM_AFTER and not signalled:
                            signalled["at"] = time.time()
                            signalled["done"] = len(outcomes)
                            node.proc.send_signal(STOP_SIGNAL)

                started = time.time()
                with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                    futures = [pool.submit(register, node.port, i)
                               for i in range(TOTAL)]
                    for f in as_completed(futures):
                        note(f.result())
                print("%d registrations had an outcome after %.1fs"
                      % (len(outcomes), time.time() - started), flush=True)
                check(signalled.get("done") == SIGTERM_AFTER,
                      "the node got its signal after %d outcomes"
                      % SIGTERM_AFTER)

                # -- the node exits, in order ---------------------------------
                remaining = max(1.0, signalled.get("at", time.time())
                                + EXIT_BOUND - time.time())
                try:
                    rc = node.proc.wait(timeout=remaining)
                except subprocess.TimeoutExpired:
                    rc = None
                took = time.time() - signalled.get("at", time.time())
                log = node.read_log()
                check(rc == 0, "the node exits 0 within %ds of the signal "
                      "(exit %s after %.1fs)" % (EXIT_BOUND, rc, took))
                names = stop_lines(log)
                print("stop order: " + ", ".join(names), flush=True)
                check(in_order(names, "amqp-bridge", "mailer"),
                      "the log shows amqp-bridge stopping before mailer")
                check(in_order(names, "outbox-relay", "storage"),
                      "the log shows outbox-relay stopping before storage")
                check(in_order(names, "user", "outbox-relay"),
                      "the log shows user stopping before outbox-relay")
                check("did not stop within" not in log,
                      "no component had to be killed: %s" % "; ".join(
                          l for l in log.splitlines()
                          if "did not stop within" in l))
                check("every component stopped" in log,
                      "the log says every component stopped")
                after = log.split("received SIG", 1)[1] if "received SIG" \
                    in log else ""
                drained = len(re.findall(r"created user", after))
                print("creates the user service finished after the signal: "
                      "%d" % drained, flush=True)
                check(drained > 0, "the signal found creates under way (the "
                      "drain was exercised)")
            finally:
                terminate(node)

            # -- every request answered ---------------------------------------
            kinds = {k: [o for o in outcomes.values() if o[1] == k]
                     for k in (SUCCESS, UNAVAILABLE, NOT_SENT, LOST)}
            print("outcomes: " + ", ".join("%s %d" % (k, len(v))
                                           for k, v in kinds.items()),
                  flush=True)
            written = set(users_by_email(db))
            for i, kind, detail, _ in sorted(outcomes.values()):
                if kind == LOST:
                    print("  lost: #%d (%s, %s in users): %s"
                          % (i, email_of(i), "is" if email_of(i) in written
                             else "not", detail), flush=True)
            examples = {}
            for _i, kind, detail, _ in sorted(outcomes.values()):
                if kind in (UNAVAILABLE, NOT_SENT):
                    key = (kind, re.sub(r"\(request .*$", "", detail))
                    examples[key] = examples.get(key, 0) + 1
            for (kind, text), n in sorted(examples.items()):
                print("  %s x%d: %s" % (kind, n, text), flush=True)
            check(len(outcomes) == TOTAL, "all %d registrations have an "
                  "outcome (%d)" % (TOTAL, len(outcomes)))
            check(not kinds[LOST], "no request lost or left unanswered "
                  "(%d)" % len(kinds[LOST]))
            check(len(kinds[SUCCESS]) >= SIGTERM_AFTER // 2,
                  "a good part succeeded before the stop (%d)"
                  % len(kinds[SUCCESS]))
            check(kinds[UNAVAILABLE] or kinds[NOT_SENT],
                  "the stop came while registrations still ran (some were "
                  "refused or not sent)")

            # -- nothing half-written -----------------------------------------
            users = users_by_email(db)
            ok_emails = {email_of(o[0]) for o in kinds[SUCCESS]}
            unavailable_emails = {email_of(o[0]) for o in kinds[UNAVAILABLE]}
            not_sent_emails = {email_of(o[0]) for o in kinds[NOT_SENT]}
            check(ok_emails <= set(users), "every success is a row in users "
                  "(missing: %s)" % sorted(ok_emails - set(users))[:5])
            ids_match = all(users.get(o[3]["email"]) == o[3]["id"]
                            for o in kinds[SUCCESS] if o[3])
            check(ids_match, "... with the id heraldctl printed")
            extra = set(users) - ok_emails - unavailable_emails
            check(not extra, "every row is a success or a request answered "
                  "unavailable (others: %s)" % sorted(extra)[:5])
            check(not (not_sent_emails & set(users)),
                  "nothing 'not sent' was written")
            # Only a request the service gave up waiting for may have been
            # applied; every other refusal says nothing was done.
            refused_clean = {email_of(o[0]) for o in kinds[UNAVAILABLE]
                             if "may still have been applied" not in o[2]}
            check(not (refused_clean & set(users)),
                  "no refusal that says nothing was done wrote a row (%s)"
                  % sorted(refused_clean & set(users))[:5])
            print("rows in users: %d (%d successes, %d answered unavailable "
                  "whose change was applied)"
                  % (len(users), len(ok_emails & set(users)),
                     len(unavailable_emails & set(users))), flush=True)
            rows = outbox_rows(db)
            pending = pending_created(db)
            delivered = published_created(drain_probe())
            ids = set(users.values())
            per_user = {u: pending.get(u, set()) | delivered.get(u, set())
                        for u in ids}
            bad = {u: sorted(e) for u, e in per_user.items() if len(e) != 1}
            check(not bad, "each user has exactly one user.created, pending "
                  "or published (not so: %s)" % list(bad.items())[:5])
            orphans = (set(pending) | set(delivered)) - ids
            check(not orphans, "no event without its user (%s)"
                  % sorted(orphans, key=str)[:5])
            check(all(r[4] == "" for r in rows), "no outbox row is dead")
            check(all(r[2] == "user.created" for r in rows),
                  "the outbox holds only user.created events")
            both = {u for u in ids if pending.get(u) and delivered.get(u)}
            print("after the stop: of %d users' user.created events %d are "
                  "pending only, %d published only, %d published and still "
                  "pending (confirmed, not yet deleted: published again after "
                  "the restart, the mailer knows them by id)"
                  % (len(ids), len(set(pending) - set(delivered)),
                     len(set(delivered) - set(pending)), len(both)),
                  flush=True)

            # -- started again: every event delivered, one mail each ---------
            node2 = bridge_node(db, sink)
            try:
                node2.start()

                def outbox_empty():
                    return sql("SELECT COUNT(*) FROM outbox WHERE dead_at IS "
                               "NULL", db.name)[0][0] == "0"

                def all_mailed():
                    counts, _ = count_mails(sink)
                    return all(counts.get(e, 0) >= 1 for e in users)
                check(wait_until(outbox_empty, 60), "the outbox ends empty after "
                      "the restart")
                check(wait_until(all_mailed, 90), "every user got a welcome mail "
                      "after the restart")
                # Give a duplicate time to arrive before counting.
                time.sleep(3)
                check(wait_until(lambda: all(v == (0, 0) for k, v
                                       in queue_counts().items()
                                       if k != PROBE), 30),
                      "this run's queues are drained, nothing unacked: %s"
                      % queue_counts())
                counts, welcome = count_mails(sink)
                dups = {e: n for e, n in counts.items() if n > 1}
                check(all(welcome.get(e, 0) == 1 for e in users) and not dups,
                      "exactly one welcome mail per user (%d users, %d mails,"
                      " duplicates: %s)" % (len(users), sum(counts.values()),
                                            list(dups.items())[:5]))
                strangers = set(counts) - set(users)
                check(not strangers, "no mail to an address without a user "
                      "(%s)" % sorted(strangers)[:5])
                check(message_count(QUEUE + ".dead") in (0, None),
                      "nothing dead-lettered (%s.dead: %s)"
                      % (QUEUE, message_count(QUEUE + ".dead")))
                bridge = ctl_json(node2, "bridge", "status")
                dead = sum(r.get("dead_lettered", 0)
                           for r in bridge.get("routes", []))
                check(dead == 0, "bridge status: nothing dead-lettered "
                      "since the restart: %s" % bridge)
                check(sql("SELECT COUNT(*) FROM outbox", db.name)[0][0] == "0",
                      "no outbox row left at all (none dead)")
                later = published_created(drain_probe())
                for u, e in later.items():
                    delivered.setdefault(u, set()).update(e)
                bad = {u: sorted(delivered.get(u, set())) for u in ids
                       if len(delivered.get(u, set())) != 1}
                check(not bad, "each user's one user.created is published "
                      "(not so: %s)" % list(bad.items())[:5])
                print("after the restart: %d users, %d welcome mails, %d "
                      "published user.created"
                      % (len(users), sum(welcome.values()),
                         sum(map(len, delivered.values()))), flush=True)
                rc2 = node2.stop(timeout=EXIT_BOUND)
                check(rc2 == 0, "the restarted node stops cleanly (%s)" % rc2)
            finally:
                terminate(node2)
    finally:
        cleanup_broker()


try:
    main()
except Exception as e:  # noqa: a crash is a failure, reported like one
    import traceback
    traceback.print_exc()
    check(False, "the test ran to its end: %r" % e)
finish()
