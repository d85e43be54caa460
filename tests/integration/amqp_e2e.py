"""The RabbitMQ bridge end to end (needs: mysql, rabbitmq): real MariaDB,
RabbitMQ and aiosmtpd, herald nodes with the bridge role, pika as an
outside peer on both sides."""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import pika

from herald_harness import (wait_until, Database, Node, SmtpSink, check, ctl, ctl_json,
                            finish, sql)

PW = "correct horse battery staple"
AMQP_URL = os.environ.get("HERALD_TEST_AMQP_URL",
                          "amqp://guest:guest@127.0.0.1:5683/")
RABBIT_PORT = int(os.environ.get("HERALD_TEST_RABBITMQ_PORT", "5683"))
SOURCE = os.environ.get("HERALD_SOURCE_DIR", ".")
TAG = "t" + secrets.token_hex(3)
EXCHANGE = TAG + ".events"
QUEUE = TAG + ".mailer"


def bridge_node(db, sink, smtp_url=None, extra=()):
    return Node(db.name, extra=[
        "--herald.roles=[\"user\",\"token\",\"reset\",\"mailer\",\"bridge\"]",
        "--amqp.url=" + AMQP_URL,
        "--smtp.url=" + (smtp_url or sink.url()),
        "--smtp.timeout=5s",
        "--amqp.outbound=[\"topics=user.*,password.* exchange=%s\"]" % EXCHANGE,
        "--amqp.inbound=[\"queue=%s exchange=%s bind=user.created,"
        "password.reset_requested,user.password_changed handler=mailer\", "
        "\"queue=%s.micro exchange=micro durable=false bind=user.created "
        "handler=mailer format=micro\"]" % (QUEUE, EXCHANGE, TAG),
        "--amqp.retry-delay=200ms", "--amqp.max-attempts=4",
        "--amqp.outage-probe-min=100ms", "--amqp.outage-probe-max=1s",
        "--amqp.reconnect-max=1s", "--outbox.backoff-min=100ms",
        "--outbox.backoff-max=1s", "--hasher.memory-kib=64",
        "--hasher.iterations=1"] + list(extra))


def pika_channel():
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    return conn, conn.channel()


def queue_counts(name):
    """(ready, unacked) of a queue, from rabbitmqctl."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "-n", "herald-%d@localhost" % RABBIT_PORT,
         "list_queues", "name", "messages_ready", "messages_unacknowledged"],
        capture_output=True, text=True, timeout=60)
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == name:
            return int(parts[1]), int(parts[2])
    return None




def local_servers(*args):
    subprocess.run([os.path.join(SOURCE, "scripts", "local-servers")]
                   + list(args), check=True, capture_output=True, timeout=120)


def mails_to(sink, address):
    return sum(1 for m in sink.mails() if m["To"] == address)


def cloud_event(topic, data, ev_id=None):
    return json.dumps({"specversion": "1.0", "id": ev_id or secrets.token_hex(8),
                       "source": "pika-test", "type": topic,
                       "time": "2026-11-22T10:00:00.000Z",
                       "datacontenttype": "application/json", "data": data})


def dead_letters():
    """Takes every message off the mailer's dead-letter queue: [(headers,
    body)]."""
    conn, ch = pika_channel()
    result = []
    while True:
        m, p, b = ch.basic_get(QUEUE + ".dead", auto_ack=True)
        if m is None:
            break
        result.append((p.headers or {}, b))
    conn.close()
    return result


def route_stats(node):
    st = ctl_json(node, "bridge", "status")
    return next(r for r in st["routes"] if r["route"].startswith("in " + QUEUE + " "))


with Database() as db, SmtpSink(refusals=True) as sink:
    with bridge_node(db, sink) as node:
        # -- outbound: an outside consumer sees our CloudEvent ------------------
        conn, ch = pika_channel()
        probe = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(probe, EXCHANGE, "#")
        alice = ctl_json(node, "--request-id", TAG + "-alice", "user",
                         "create", "--name", "Alice", "--email",
                         "alice@example.org", "--password", PW)
        got = []
        for method, props, body in ch.consume(probe, inactivity_timeout=15):
            if method is None:
                break
            got.append((method, props, body))
            ch.basic_ack(method.delivery_tag)
            break
        check(len(got) == 1, "an outside consumer receives user.created")
        if got:
            method, props, body = got[0]
            ce = json.loads(body)
            check(method.routing_key == "user.created",
                  "routing key is the topic")
            check(props.delivery_mode == 2, "the message is persistent")
            check(props.content_type == "application/cloudevents+json",
                  "content type is application/cloudevents+json")
            check(ce.get("specversion") == "1.0" and ce.get("type")
                  == "user.created" and ce.get("id") == props.message_id
                  and ce.get("source", "").startswith("test-")
                  and ce.get("datacontenttype") == "application/json"
                  and isinstance(ce.get("data"), dict)
                  and ce["data"].get("user_id") == alice["id"]
                  and ce.get("time", "").endswith("Z"),
                  "body is a CloudEvents 1.0 document: %s" % body[:200])
            check(ce.get("requestid") == TAG + "-alice",
                  "the requestid extension attribute is the request id given "
                  "to heraldctl: %r" % ce.get("requestid"))
            check(all(re.fullmatch(r"[a-z0-9]{1,20}", k) for k in ce),
                  "attribute names are CloudEvents names: %s" % sorted(ce))
            check(b"password_hash" not in body and b"$argon2" not in body,
                  "no password hash in the event")
        conn.close()
        # -- the mailer's queue delivers it; acked --------------------------------
        check(wait_until(lambda: mails_to(sink, "alice@example.org") == 1),
              "welcome mail sent from the mailer queue")
        check(wait_until(lambda: queue_counts(QUEUE) == (0, 0)),
              "mailer queue empty, nothing unacked: %s" % (queue_counts(QUEUE),))
        time.sleep(1)
        check(mails_to(sink, "alice@example.org") == 1,
              "exactly one welcome mail (not also from the local bus)")

        # -- inbound from an outside publisher -------------------------------------
        conn, ch = pika_channel()
        bob = ctl_json(node, "user", "create", "--name", "Bob", "--email",
                       "bob@example.org", "--password", PW)
        wait_until(lambda: mails_to(sink, "bob@example.org") == 1)
        ch.basic_publish(EXCHANGE, "user.created",
                         cloud_event("user.created",
                                     {"user_id": bob["id"], "name": "Bob",
                                      "email": "bob@example.org",
                                      "role": "user"}),
                         pika.BasicProperties(
                             content_type="application/cloudevents+json",
                             delivery_mode=2))
        check(wait_until(lambda: mails_to(sink, "bob@example.org") == 2),
              "a CloudEvent from an outside publisher is handled")
        check(wait_until(lambda: queue_counts(QUEUE) == (0, 0)),
              "... and acked")
        ch.basic_publish(EXCHANGE, "user.created", b"{not json",
                         pika.BasicProperties(delivery_mode=2))
        dead = None

        def dead_message():
            global dead
            m, p, b = ch.basic_get(QUEUE + ".dead", auto_ack=True)
            if m is not None:
                dead = (p, b)
            return dead is not None
        check(wait_until(dead_message), "a malformed message goes to the dead-letter "
              "queue")
        if dead:
            check((dead[0].headers or {}).get("x-herald-reason"),
                  "with a reason: %s" % (dead[0].headers,))
        check(ctl_json(node, "status")["name"].startswith("test-"),
              "the node lives on after a malformed message")

        # -- a go-micro service publishes user.created its way ---------------------
        micro_user = ctl_json(node, "user", "create", "--name", "Micro",
                              "--email", "micro@example.org", "--password", PW)
        wait_until(lambda: mails_to(sink, "micro@example.org") == 1)
        ch.basic_publish("micro", "user.created",
                         json.dumps({"user_id": micro_user["id"],
                                     "name": "Micro",
                                     "email": "micro@example.org"}),
                         pika.BasicProperties(
                             content_type="application/json",
                             headers={"Content-Type": "application/json",
                                      "Micro-Topic": "user.created",
                                      "Micro-Id": secrets.token_hex(8)}))
        check(wait_until(lambda: mails_to(sink, "micro@example.org") == 2),
              "a go-micro style message (exchange micro, string headers, "
              "JSON body) is handled")
        check(wait_until(lambda: queue_counts(TAG + ".micro") == (0, 0)),
              "... and acked from its queue")

        # -- SMTP down longer than all retry delays together loses nothing --------
        # Retry delays 200 + 400 + 800 ms before the 4th attempt would be
        # dead: SMTP stays down 6 s. An outage counts no attempt; the
        # deliveries are held unacked and probed, and go out once SMTP is back.
        before = route_stats(node)
        sink.stop()
        down = ["carol%d@example.org" % i for i in range(5)]
        for i, email in enumerate(down):
            ctl_json(node, "user", "create", "--name", "Carol %d" % i,
                     "--email", email, "--password", PW)
        check(wait_until(lambda: (queue_counts(QUEUE) or (0, 0))[1] >= 1, 10),
              "while SMTP is down the deliveries are held unacked: %s"
              % (queue_counts(QUEUE),))
        time.sleep(6)
        during = route_stats(node)
        check(during["retried"] == before["retried"]
              and during["dead_lettered"] == before["dead_lettered"],
              "an outage is neither retried nor dead-lettered: %s -> %s"
              % (before, during))
        sink.start()
        check(wait_until(lambda: all(mails_to(sink, a) == 1 for a in down), 30),
              "every mail arrives once SMTP is back")
        check(wait_until(lambda: queue_counts(QUEUE) == (0, 0)),
              "... all acked: %s" % (queue_counts(QUEUE),))
        time.sleep(1)
        check(all(mails_to(sink, a) == 1 for a in down),
              "exactly one mail each: %s" % [mails_to(sink, a) for a in down])
        dead = dead_letters()
        check(not dead, "nothing dead-lettered: %s" % [h for h, _ in dead])
        after = route_stats(node)
        check(after["dead_lettered"] == before["dead_lettered"],
              "dead_lettered unchanged: %s" % after)
        human = ctl(node, "bridge", "status").stdout
        check("connected" in human and QUEUE in human,
              "bridge status prints state and routes")

        # -- 550 for one address dead-letters only that message ------------------
        sink.refuse("dora@example.org", "550 5.1.1 No such user *")
        before = route_stats(node)
        ctl_json(node, "user", "create", "--name", "Dora", "--email",
                 "dora@example.org", "--password", PW)
        others = ["erin%d@example.org" % i for i in range(3)]
        for i, email in enumerate(others):
            ctl_json(node, "user", "create", "--name", "Erin %d" % i,
                     "--email", email, "--password", PW)
        check(wait_until(lambda: all(mails_to(sink, a) == 1 for a in others)),
              "the others' mails are delivered")
        dead = []
        check(wait_until(lambda: dead.extend(dead_letters()) or len(dead) >= 1),
              "the refused message is dead-lettered")
        time.sleep(1)
        dead.extend(dead_letters())
        check(len(dead) == 1 and b"dora@example.org" in dead[0][1],
              "only the refused one: %s" % [b[:80] for _, b in dead])
        if dead:
            headers = dead[0][0]
            check("550" in str(headers.get("x-herald-reason", ""))
                  and headers.get("x-herald-attempts") == "1",
                  "dead at once with the server's reply and one attempt: %s"
                  % headers)
        check(mails_to(sink, "dora@example.org") == 0, "no mail for dora")
        check(wait_until(lambda: queue_counts(QUEUE) == (0, 0)),
              "... and nothing left unacked")
        after = route_stats(node)
        check(after["dead_lettered"] == before["dead_lettered"] + 1,
              "dead_lettered counts one: %s -> %s" % (before, after))

        # -- 451 then 250 delivers exactly once ------------------------------------
        sink.refuse("frank@example.org", "451 4.7.1 Greylisted, try later",
                    "451 4.7.1 Greylisted, try later")
        before = route_stats(node)
        ctl_json(node, "user", "create", "--name", "Frank", "--email",
                 "frank@example.org", "--password", PW)
        check(wait_until(lambda: mails_to(sink, "frank@example.org") == 1, 30),
              "a greylisted mail arrives after the deferrals")
        check(wait_until(lambda: queue_counts(QUEUE) == (0, 0)),
              "... and is acked")
        time.sleep(2)
        check(mails_to(sink, "frank@example.org") == 1,
              "exactly once: %d" % mails_to(sink, "frank@example.org"))
        after = route_stats(node)
        check(after["retried"] == before["retried"] + 2
              and after["dead_lettered"] == before["dead_lettered"],
              "two deferrals through the retry queue, nothing dead: %s -> %s"
              % (before, after))
        check(not dead_letters(), "nothing dead-lettered")
        conn.close()

    # -- RabbitMQ restarted while 1000 users register ------------------------------
    with bridge_node(db, sink) as node:
        n = int(os.environ.get("HERALD_AMQP_E2E_USERS", "1000"))

        def register(i):
            # A one-shot heraldctl connection occasionally gets no answer
            # (about 1 in 500 here, independent of the bridge; see the
            # closing note of issue 4). Like any client with an unknown
            # outcome, look before trying again.
            email = "load%d@example.org" % i
            for _ in range(3):
                out = ctl(node, "user", "create", "--name", "Load %d" % i,
                          "--email", email, "--password", PW, check_rc=None)
                if out.returncode != 3:
                    break
                print("register %d: %s" % (i, out.stderr.strip()), flush=True)
                if ctl(node, "user", "get", email, check_rc=None).returncode == 0:
                    return 0
            return out.returncode

        restarted = threading.Event()

        def restart_broker():
            time.sleep(2)
            local_servers("stop", "rabbitmq")
            local_servers("start", "rabbitmq")
            restarted.set()
        t = threading.Thread(target=restart_broker)
        t.start()
        started = time.time()
        with ThreadPoolExecutor(max_workers=6) as pool:
            codes = list(pool.map(register, range(n)))
        print("registered %d users in %.1fs" % (n, time.time() - started),
              flush=True)
        t.join(timeout=180)
        check(codes.count(0) == n, "all %d users registered (%d failed)"
              % (n, n - codes.count(0)))
        check(restarted.is_set(), "RabbitMQ was restarted during the load")

        def all_mailed():
            to = [m["To"] for m in sink.mails()]
            return sum(1 for a in to if a.startswith("load")) >= n
        check(wait_until(all_mailed, 240, 1), "every welcome mail arrived")
        time.sleep(2)
        to = [m["To"] for m in sink.mails() if m["To"].startswith("load")]
        check(len(to) == n and len(set(to)) == n,
              "exactly once per user: %d mails for %d users" % (len(to), n))
        check(wait_until(lambda: sql("SELECT COUNT(*) FROM outbox", db.name)[0][0]
                   == "0", 30), "no event left pending")

    # -- node SIGKILLed with deliveries in flight -----------------------------------
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(64)
    held = []
    stop_hang = threading.Event()

    def accept_and_hold():
        hang.settimeout(0.2)
        while not stop_hang.is_set():
            try:
                held.append(hang.accept()[0])
            except OSError:
                pass
    threading.Thread(target=accept_and_hold, daemon=True).start()
    node = bridge_node(db, sink, smtp_url="smtp://127.0.0.1:%d"
                       % hang.getsockname()[1],
                       extra=["--smtp.timeout=60s"]).start()
    ctl_json(node, "user", "create", "--name", "Eve", "--email",
             "eve@example.org", "--password", PW)
    check(wait_until(lambda: (queue_counts(QUEUE) or (0, 0))[1] >= 1, 15),
          "a delivery is in flight (unacked) while SMTP hangs")
    node.stop(sig=signal.SIGKILL)
    stop_hang.set()
    for c in held:
        c.close()
    hang.close()
    # The killed node's mailer had claimed the event: the restarted one (a
    # new instance) takes the claim over after mail.claim-timeout.
    with bridge_node(db, sink, extra=["--mail.claim-timeout=3s"]) as node:
        check(wait_until(lambda: mails_to(sink, "eve@example.org") == 1, 60),
              "the delivery is redelivered and handled after restart")
        check(wait_until(lambda: queue_counts(QUEUE) == (0, 0)),
              "and acked")

finish()
