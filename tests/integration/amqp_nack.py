# needs: mysql, rabbitmq
"""What a node does when RabbitMQ refuses an event or cannot route it.

A herald node with the bridge role publishes user events to an exchange of
the test; pika plays the outside consumers and sets the broker's mood:

1. nack: the only queue bound for user.created holds at most one message
   (x-max-length=1, x-overflow=reject-publish) and is full. RabbitMQ nacks
   the next user.created: its outbox row stays pending (not dead, no attempt
   counted) as long as the queue is full, and once pika drains the queue the
   event arrives exactly once.
2. unroutable among routable: nothing is bound for user.updated (a mandatory
   route): RabbitMQ returns it (312 NO_ROUTE). That event is retried and goes
   dead on its own, with the reason; user.created events of other users are
   delivered meanwhile, without waiting for it.
3. a route with mandatory=false (user.deleted) and no queue: delivered (the
   broker drops it), nothing dead.
"""

import json
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import pika

from herald_harness import (wait_until, Database, Node, check, ctl, ctl_json,
                            finish, sql)

PW = "correct horse battery staple"
AMQP_URL = os.environ.get("HERALD_TEST_AMQP_URL",
                          "amqp://guest:guest@127.0.0.1:5683/")
TAG = "n" + secrets.token_hex(3)
EXCHANGE = TAG + ".events"
FULL = TAG + ".created.full"
OPEN = TAG + ".created.open"
MAX_ATTEMPTS = 8
ROUTE_MANDATORY = "out user.created,user.updated -> " + EXCHANGE
ROUTE_OBSERVER = "out user.deleted -> " + EXCHANGE


def bridge_node(db):
    return Node(db.name, extra=[
        '--herald.roles=["user","token","bridge"]',
        "--amqp.url=" + AMQP_URL,
        '--amqp.outbound=["topics=user.created,user.updated exchange=%s", '
        '"topics=user.deleted exchange=%s mandatory=false"]'
        % (EXCHANGE, EXCHANGE),
        "--amqp.inbound=[]",
        "--amqp.reconnect-max=1s",
        "--outbox.max-attempts=%d" % MAX_ATTEMPTS,
        "--outbox.backoff-min=300ms", "--outbox.backoff-max=2s",
        "--hasher.memory-kib=64", "--hasher.iterations=1"])


def pika_channel():
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    ch.confirm_delivery()
    return conn, ch


def queue_depth(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def take_all(ch, queue):
    """Every message on `queue`, taken off it: [(props, body)]."""
    result = []
    while True:
        m, p, b = ch.basic_get(queue, auto_ack=True)
        if m is None:
            return result
        result.append((p, b))


def outbox_row(db, topic, user_id):
    """(event_id, attempts, dead_at, last_error) of a user's event, or
    None once it was delivered (the row is deleted)."""
    rows = sql("SELECT event_id, attempts, COALESCE(dead_at, ''), "
               "COALESCE(last_error, '') FROM outbox WHERE topic = '%s' AND "
               "event_key = 'user:%d'" % (topic, user_id), db.name)
    if not rows:
        return None
    r = rows[0]
    return r[0], int(r[1]), r[2], r[3]


def route(node, name):
    st = ctl_json(node, "bridge", "status")
    return next((r for r in st["routes"] if r["route"] == name), {})


def create(node, name):
    return ctl_json(node, "user", "create", "--name", name, "--email",
                    "%s.%s@example.org" % (name.lower(), TAG), "--password",
                    PW)


with Database() as db:
    conn, ch = pika_channel()
    ch.exchange_declare(EXCHANGE, "topic", durable=True)
    ch.queue_declare(FULL, durable=True, arguments={
        "x-max-length": 1, "x-overflow": "reject-publish",
        "x-expires": 600000})
    ch.queue_bind(FULL, EXCHANGE, "user.created")
    # Full from the start: one message of ours.
    ch.basic_publish("", FULL, b"filler",
                     pika.BasicProperties(message_id="filler"))
    check(queue_depth(ch, FULL) == 1, "the bounded queue is full")
    try:
        with bridge_node(db) as node:
            wait_until(lambda: ctl_json(node, "bridge", "status")["state"]
                       == "connected", 20)

            # -- 1. a full queue nacks: the row stays pending ----------------
            alice = create(node, "Alice")
            row = wait_until(lambda: outbox_row(db, "user.created",
                                                alice["id"]), 10)
            check(row is not None, "alice's user.created is in the outbox")
            nacked = wait_until(
                lambda: route(node, ROUTE_MANDATORY).get("nacked", 0) >= 2, 20)
            check(nacked, "the broker nacked it, more than once (bridge "
                  "status: %s)" % route(node, ROUTE_MANDATORY))
            time.sleep(2)
            row = outbox_row(db, "user.created", alice["id"])
            check(row is not None and row[2] == "" and row[1] == 0,
                  "while the queue is full the row stays pending, not dead, "
                  "no attempt counted: %s" % (row,))
            r = route(node, ROUTE_MANDATORY)
            check(r.get("confirmed") == 0 and r.get("returned") == 0,
                  "a nack is never counted as a confirm: %s" % r)
            check(queue_depth(ch, FULL) == 1, "the queue holds only the filler")
            status = ctl_json(node, "outbox", "status")
            check(status["pending"] >= 1 and status["dead"] == 0,
                  "outbox status: pending, nothing dead: %s" % status)

            # Drained, the event arrives once.
            first = take_all(ch, FULL)
            check([p.message_id for p, _ in first] == ["filler"],
                  "pika drains the filler")
            delivered = wait_until(
                lambda: outbox_row(db, "user.created", alice["id"]) is None,
                15)
            check(delivered, "after the drain alice's row is delivered")
            time.sleep(2)  # a second copy would be here by now
            got = take_all(ch, FULL)
            ids = [p.message_id for p, _ in got]
            check(len(got) == 1 and row is not None and ids == [row[0]],
                  "the event arrived exactly once: %s" % ids)
            if got:
                ce = json.loads(got[0][1])
                check(ce.get("type") == "user.created"
                      and ce.get("data", {}).get("user_id") == alice["id"],
                      "as alice's user.created CloudEvent")
            r = route(node, ROUTE_MANDATORY)
            check(r.get("confirmed") == 1, "confirmed once: %s" % r)

            # -- 2. unroutable among routable --------------------------------
            ch.queue_delete(FULL)
            ch.queue_declare(OPEN, durable=True,
                             arguments={"x-expires": 600000})
            ch.queue_bind(OPEN, EXCHANGE, "user.created")
            ctl_json(node, "user", "update", str(alice["id"]), "--name",
                     "Alice Two")
            started = time.monotonic()
            others = [create(node, n) for n in ("Bob", "Carol", "Dave")]
            arrived = []

            def all_arrived():
                arrived.extend(take_all(ch, OPEN))
                return len(arrived) >= len(others)
            check(wait_until(all_arrived, 10),
                  "the others' user.created events are delivered")
            took = time.monotonic() - started
            upd = outbox_row(db, "user.updated", alice["id"])
            check(upd is not None and upd[2] == "",
                  "... in %.1f s, while alice's unroutable user.updated is "
                  "still being retried: %s" % (took, upd))
            want = sorted(str(u["id"]) for u in others)
            have = sorted(str(json.loads(b)["data"]["user_id"])
                          for _, b in arrived)
            check(have == want, "each of them once: %s" % have)

            def dead():
                x = outbox_row(db, "user.updated", alice["id"])
                return x if x and x[2] != "" else None
            gone = wait_until(dead, 60, 0.5)
            # Exactly max-attempts: a row given up on is not fetched again
            # before storage has marked it dead.
            check(gone is not None and gone[1] == MAX_ATTEMPTS,
                  "alice's user.updated goes dead after %d attempts: %s"
                  % (MAX_ATTEMPTS, gone))
            check(gone is not None and "unroutable" in gone[3]
                  and "312" in gone[3],
                  "with the reason: %s" % (gone[3] if gone else None))
            r = route(node, ROUTE_MANDATORY)
            check(gone is not None and r.get("returned") == gone[1]
                  and r.get("confirmed") == 1 + len(others),
                  "bridge status counts a return per attempt: %s" % r)
            status = ctl_json(node, "outbox", "status")
            check(status["dead"] == 1, "outbox status: one dead: %s" % status)
            check(gone is not None
                  and any(d.get("id") == gone[0] and d.get("topic")
                          == "user.updated" and "unroutable" in d.get("error", "")
                          and d.get("attempts") == MAX_ATTEMPTS
                          for d in status.get("dead_events", [])),
                  "outbox status lists the dead event with its reason: %s"
                  % status.get("dead_events"))

            # -- 3. not mandatory: nobody consumes user.deleted --------------
            ctl(node, "user", "delete", str(others[0]["id"]))
            ctl(node, "user", "delete", str(alice["id"]))
            check(wait_until(lambda: sql("SELECT COUNT(*) FROM outbox WHERE "
                                         "dead_at IS NULL", db.name)[0][0]
                             == "0", 15),
                  "user.deleted with no queue is delivered (mandatory=false); "
                  "nothing pending at the end")
            r = route(node, ROUTE_OBSERVER)
            check(r.get("confirmed") == 2 and r.get("returned") == 0,
                  "the observer route: confirmed, not returned: %s" % r)
            status = ctl_json(node, "outbox", "status")
            check(status["pending"] == 0 and status["dead"] == 1,
                  "in the end: 0 pending, 1 dead: %s" % status)
            log = node.read_log()
            check("within 10 ms" not in log, "no timeout in the wrong unit")
    finally:
        for q in (FULL, OPEN):
            try:
                ch.queue_delete(q)
            except Exception:
                pass
        try:
            ch.exchange_delete(EXCHANGE)
            conn.close()
        except Exception:
            pass

finish()
