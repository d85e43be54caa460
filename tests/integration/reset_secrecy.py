"""No usable reset token at rest or in transit inside herald
(needs: mysql, rabbitmq): a reset request with mail through RabbitMQ; the outbox, the reset
table, the CloudEvent an outside consumer bound to password.* receives, the
node's log and its status answers hold neither the mailed token nor its
first characters; the mailed link works once; a redelivered event mailed
again voids the first link; an event of an older herald that carries a token
gets a fresh one. The token is compared, never printed."""

import hashlib
import json
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import pika

from herald_harness import (Database, Node, SmtpSink, body_text, check, ctl,
                            ctl_json, finish, sql, wait_until)

PW = "correct horse battery staple"
NEW_PW = "a brand new passphrase"
BASE = "https://accounts.example.test"
AMQP_URL = os.environ.get("HERALD_TEST_AMQP_URL",
                          "amqp://guest:guest@127.0.0.1:5683/")
TAG = "r" + secrets.token_hex(3)
EXCHANGE = TAG + ".events"
QUEUE = TAG + ".mailer"
# A token's first characters: anything that long from it counts as leaked.
PREFIX = 8


def node(db, sink, roles):
    extra = ["--herald.roles=" + roles, "--smtp.url=" + sink.url(),
             "--mail.public-base-url=" + BASE + "/",
             "--outbox.backoff-min=100ms", "--outbox.backoff-max=1s",
             "--hasher.memory-kib=64", "--hasher.iterations=1"]
    if "bridge" in roles:
        extra += [
            "--amqp.url=" + AMQP_URL,
            "--amqp.outbound=[\"topics=user.*,password.* exchange=%s\"]"
            % EXCHANGE,
            "--amqp.inbound=[\"queue=%s exchange=%s bind=user.created,"
            "password.reset_requested,user.password_changed handler=mailer\"]"
            % (QUEUE, EXCHANGE),
            "--amqp.retry-delay=200ms", "--amqp.reconnect-max=1s"]
    return Node(db.name, extra=extra)


def reset_tokens(sink):
    """The tokens of every reset link mailed so far, in order."""
    out = []
    for m in sink.mails():
        text = body_text(m)
        marker = "/reset-password?token="
        if marker in text:
            rest = text.split(marker, 1)[1]
            out.append(rest.split()[0].strip())
    return out


def leaks(token, text):
    """Whether `text` holds the token or its first PREFIX characters."""
    return token[:PREFIX] in text


def table_text(db, statement):
    return json.dumps(sql(statement, db.name))


def confirm(n, token, password=NEW_PW):
    """Answers (exit code, first stderr line) without echoing anything."""
    out = ctl(n, "reset", "confirm", "--token", token, stdin=password + "\n",
              check_rc=None)
    return out.returncode, (out.stderr.strip().splitlines() or [""])[0]


def consume(ch, queue, timeout=15):
    """The bodies the queue delivers until it is quiet for `timeout` s."""
    bodies = []
    for method, props, body in ch.consume(queue, inactivity_timeout=timeout):
        if method is None:
            break
        bodies.append((method.routing_key, body))
        ch.basic_ack(method.delivery_tag)
    ch.cancel()
    return bodies


with Database() as db, SmtpSink() as sink:
    conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    ch = conn.channel()
    ch.exchange_declare(EXCHANGE, "topic", durable=True)
    probe = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(probe, EXCHANGE, "password.*")

    # -- the request, with no mailer anywhere: what rests in the outbox -------
    with node(db, sink, '["user","token","reset"]') as writer:
        alice = ctl_json(writer, "user", "create", "--name", "Alice",
                         "--email", "alice@example.org", "--password", PW)
        ctl(writer, "reset", "request", "--email", "alice@example.org")
        rows = sql("SELECT data FROM outbox WHERE topic = "
                   "'password.reset_requested'", db.name)
        check(len(rows) == 1, "the reset event is pending in the outbox")
        data = json.loads(rows[0][0]) if rows else {}
        check(sorted(data) == ["email", "expires_at", "name", "user_id"],
              "the pending event has user, address and expiry, and no "
              "token: %s" % sorted(data))
        resets = sql("SELECT token_hash, event_id FROM password_resets",
                     db.name)
        ev_id = sql("SELECT event_id FROM outbox WHERE topic = "
                    "'password.reset_requested'", db.name)[0][0]
        check(resets == [["NULL", ev_id]],
              "the reset table holds the request, bound to the event, "
              "and no token hash yet")

    # -- the bridge publishes it and the mailer mails it from RabbitMQ ---------
    with node(db, sink, '["user","token","reset","mailer","bridge"]') as n:
        check(wait_until(lambda: len(reset_tokens(sink)) == 1),
              "the reset link is mailed (through RabbitMQ)")
        tokens = reset_tokens(sink)
        token = tokens[0] if tokens else "x" * 43
        check(len(token) == 43, "the mailed token has 43 characters")
        published = consume(ch, probe, timeout=3)
        check(len(published) == 1
              and published[0][0] == "password.reset_requested",
              "a consumer bound to password.* gets the event")
        body = published[0][1].decode() if published else ""
        ce = json.loads(body) if body else {}
        check(ce.get("id") == ev_id and sorted(ce.get("data", {}))
              == ["email", "expires_at", "name", "user_id"],
              "the CloudEvent's data has no token field: %s"
              % sorted(ce.get("data", {})))
        check(not leaks(token, body),
              "the CloudEvent holds nothing of the mailed token")
        outbox = table_text(db, "SELECT * FROM outbox")
        check(not leaks(token, outbox), "the outbox holds nothing of it")
        stored = sql("SELECT * FROM password_resets", db.name)
        check(not leaks(token, json.dumps(stored)),
              "the reset table holds nothing of it")
        digest = hashlib.sha256(token.encode()).hexdigest()
        check(sum(1 for r in stored if r[1] == digest) == 1,
              "the reset table holds the token's SHA-256, bound to the event")
        for args in (["outbox", "status"], ["bridge", "status"], ["status"]):
            out = ctl(n, *args, as_json=True, check_rc=None)
            check(not leaks(token, out.stdout + out.stderr),
                  "heraldctl %s shows nothing of it" % " ".join(args))

        # -- the link works once ---------------------------------------------------
        rc, err = confirm(n, token)
        check(rc == 0, "the mailed link sets the new password: %s" % err)
        rc, err = confirm(n, token, "yet another passphrase")
        check(rc == 1 and "already_used" in err,
              "the link works only once: %s" % err)
        ctl_json(n, "login", "--email", "alice@example.org", "--password",
                 NEW_PW)

        # -- a redelivered event mailed again: only the latest link works ---------
        ctl(n, "reset", "request", "--email", "alice@example.org")
        check(wait_until(lambda: len(reset_tokens(sink)) == 2),
              "a second request is mailed")
        first = reset_tokens(sink)[1]
        redelivered = consume(ch, probe, timeout=3)
        check(len(redelivered) == 1, "its event reached the consumer")
        ev2 = json.loads(redelivered[0][1])["id"] if redelivered else ""
        # The mail went out but its record was lost (a node died after the
        # send): the redelivery mails again.
        sql("DELETE FROM processed_events WHERE event_id = '%s'" % ev2,
            db.name)
        if redelivered:
            ch.basic_publish(EXCHANGE, "password.reset_requested",
                             redelivered[0][1],
                             pika.BasicProperties(
                                 content_type="application/cloudevents+json",
                                 delivery_mode=2))
        check(wait_until(lambda: len(reset_tokens(sink)) == 3),
              "the redelivered event is mailed again")
        second = reset_tokens(sink)[2] if len(reset_tokens(sink)) > 2 else ""
        check(second and second != first,
              "with a new token (never the first one again)")
        rc, err = confirm(n, first)
        check(rc == 1 and "revoked" in err,
              "the first link of the request no longer works: %s" % err)
        rc, err = confirm(n, second, "the third passphrase here")
        check(rc == 0, "the link mailed last works: %s" % err)

        # -- an event of an older herald, with its token ---------------------------
        legacy = secrets.token_urlsafe(32)
        sql("INSERT INTO password_resets (token_hash, user_id, created_at, "
            "expires_at) VALUES ('%s', %d, UNIX_TIMESTAMP(), "
            "UNIX_TIMESTAMP() + 900)"
            % (hashlib.sha256(legacy.encode()).hexdigest(), alice["id"]),
            db.name)
        old = {"specversion": "1.0", "id": "old-" + secrets.token_hex(8),
               "source": "older-herald", "type": "password.reset_requested",
               "time": "2026-11-22T10:00:00.000Z",
               "datacontenttype": "application/json",
               "data": {"user_id": alice["id"], "name": "Alice",
                        "email": "alice@example.org", "token": legacy,
                        "expires_at": int(time.time()) + 900}}
        ch.basic_publish(EXCHANGE, "password.reset_requested",
                         json.dumps(old),
                         pika.BasicProperties(
                             content_type="application/cloudevents+json",
                             delivery_mode=2))
        check(wait_until(lambda: len(reset_tokens(sink)) == 4),
              "an old event with a token is mailed")
        mailed = reset_tokens(sink)[3] if len(reset_tokens(sink)) > 3 else ""
        check(mailed and not leaks(legacy, mailed)
              and not any(leaks(legacy, body_text(m)) for m in sink.mails()),
              "with a fresh token, never the one the event carried")
        rc, err = confirm(n, legacy, "a fourth passphrase here")
        check(rc == 1 and "revoked" in err,
              "the token the event carried is void: %s" % err)
        rc, err = confirm(n, mailed, "a fifth passphrase here")
        check(rc == 0, "the fresh link works: %s" % err)

        # -- nothing of any mailed token in the log or the tables ----------------
        log = n.read_log() + writer.read_log()
        every = reset_tokens(sink) + [legacy]
        check(not any(leaks(t, log) for t in every),
              "the nodes' logs hold nothing of any token")
        check(not any(leaks(t, table_text(db, "SELECT * FROM outbox")
                            + table_text(db, "SELECT * FROM password_resets"))
                      for t in every),
              "the tables hold nothing of any token")
    conn.close()

finish()
