#!/usr/bin/python3
"""Checks the inbound side of the AMQP bridge against an outside publisher.

needs: rabbitmq

An outside pika publisher (python3-pika), not herald's own code, writes to
an exchange the bridge's consumer is bound to. The consumer runs in the test
`a consumer driven from outside` of the suite `amqp_live_consume` of
herald-test (tests/unit/amqp_live_consume.cpp), steered through
HERALD_AMQP_CONSUME_* variables; it hands what it decodes to a recording
handler and writes a verdict file when it is done.

  (a) a well-formed CloudEvent 1.0 (structured JSON) on a bound topic reaches
      the handler with its id, type, source, time and data, and is acked:
      once the consumer has stopped, the queue is empty (an unacked message
      would be back in it);
  (b) a malformed message on another bound topic goes to `<queue>.dead` with
      its body and properties, the reason, the attempt count and the
      original routing key in headers; the handler never sees it and the
      consumer goes on (the suite passes, the counters add up);
  (c) the topology is declared: the durable queue, its retry queues with
      their TTLs, the dead-letter queue.

Exits non-zero and names every failed check.
"""

import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import pika

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import check, finish  # noqa: E402

URL = os.environ.get("HERALD_TEST_AMQP_URL",
                     "amqp://guest:guest@127.0.0.1:5683/")
TEST = "a consumer driven from outside"
# What the suite's fixture configures (tests/unit/amqp_live_consume.cpp).
MAX_ATTEMPTS = 3
RETRY_DELAY_MS = 200

GOOD_ID = "it-" + os.urandom(6).hex()
GOOD_DATA = {"user_id": 42, "name": "Zoë Outside", "email": "zoe@example.org",
             "role": "user"}
GOOD_TIME = "2026-03-04T05:06:07.890Z"
BAD_BODY = b'{"specversion": "1.0", "id": "broken", "type": '


def connect(timeout=60):
    """A pika connection; the broker may still be starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return pika.BlockingConnection(pika.URLParameters(URL))
        except pika.exceptions.AMQPConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def passive_count(conn, queue):
    """The queue's ready message count, or None if it does not exist."""
    ch = conn.channel()
    try:
        return ch.queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return None
    finally:
        if ch.is_open:
            ch.close()


def publish(ch, exchange, key, body, content_type, message_id):
    try:
        ch.basic_publish(
            exchange, key, body, mandatory=True,
            properties=pika.BasicProperties(
                content_type=content_type, delivery_mode=2,
                message_id=message_id, timestamp=int(time.time())))
        return True
    except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as e:
        check(False, f"broker took the message for {key}: {e!r}")
        return False


def run_suite(work, queue, exchange):
    ready = os.path.join(work, "ready")
    verdict_file = os.path.join(work, "verdict.json")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HERALD_AMQP_CONSUME_")}
    env.update({
        "HERALD_TEST_AMQP_URL": URL,
        "HERALD_AMQP_CONSUME_QUEUE": queue,
        "HERALD_AMQP_CONSUME_EXCHANGE": exchange,
        "HERALD_AMQP_CONSUME_BIND": "user.created,password.reset_requested",
        "HERALD_AMQP_CONSUME_EXPECT": "2",
        "HERALD_AMQP_CONSUME_READY": ready,
        "HERALD_AMQP_CONSUME_VERDICT": verdict_file,
    })
    proc = subprocess.Popen(
        [os.environ["HERALD_TEST"], "-n", "-v5", "-s", "^amqp_live_consume$",
         "-t", f"^{TEST}$"],
        env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    return proc, ready, verdict_file


def check_good(verdict):
    events = verdict.get("events", [])
    check(len(events) == 1, f"(a) the handler got one event: {events}")
    if not events:
        return
    ev = events[0]
    check(ev["id"] == GOOD_ID, f"(a) id {ev['id']}")
    check(ev["topic"] == "user.created", f"(a) topic {ev['topic']}")
    check(ev["source"] == "outside-pika", f"(a) source {ev['source']}")
    check(ev["attempts"] == 0, f"(a) attempts {ev['attempts']}")
    expected_ms = int(datetime.datetime.fromisoformat(
        GOOD_TIME.replace("Z", "+00:00")).timestamp() * 1000)
    check(ev["time"] == expected_ms, f"(a) time {ev['time']} == {expected_ms}")
    check(json.loads(ev["data"]) == GOOD_DATA, f"(a) data {ev['data']}")


def check_dead(conn, queue):
    ch = conn.channel()
    method, props, body = ch.basic_get(queue + ".dead", auto_ack=True)
    if not check(method is not None, "(b) the malformed message is in "
                 f"{queue}.dead"):
        return
    headers = props.headers or {}
    text = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa
    reason = text(headers.get("x-herald-reason", ""))
    check(body == BAD_BODY, f"(b) body kept: {body!r}")
    check(props.message_id == "it-bad", f"(b) message_id {props.message_id}")
    check(props.content_type == "application/cloudevents+json",
          f"(b) content type {props.content_type}")
    check(reason.startswith("undecodable"), f"(b) reason header: {reason!r}")
    check(text(headers.get("x-herald-attempts")) == "0",
          f"(b) attempts header: {headers.get('x-herald-attempts')!r}")
    check(text(headers.get("x-herald-original-routing-key"))
          == "password.reset_requested",
          "(b) original routing key header: "
          f"{headers.get('x-herald-original-routing-key')!r}")
    check(props.delivery_mode == 2, f"(b) persistent ({props.delivery_mode})")
    method, _, _ = ch.basic_get(queue + ".dead", auto_ack=True)
    check(method is None, "(b) nothing else in the dead-letter queue")
    ch.close()


def check_topology(conn, queue):
    check(passive_count(conn, queue) == 0,
          f"(a) {queue} is empty: the event was acked")
    for n in range(1, MAX_ATTEMPTS):
        retry = f"{queue}.retry.{n}"
        check(passive_count(conn, retry) == 0, f"(c) {retry} exists, empty")
        # Redeclaring with the same arguments succeeds only if they match.
        ch = conn.channel()
        try:
            ch.queue_declare(retry, durable=True, arguments={
                "x-dead-letter-exchange": "amq.direct",
                "x-dead-letter-routing-key": queue,
                "x-message-ttl": RETRY_DELAY_MS * 2 ** (n - 1)})
            check(True, f"(c) {retry}: durable, TTL "
                  f"{RETRY_DELAY_MS * 2 ** (n - 1)} ms, back to {queue}")
            ch.close()
        except pika.exceptions.ChannelClosedByBroker as e:
            check(False, f"(c) {retry} has the expected arguments: {e}")
    check(passive_count(conn, f"{queue}.retry.{MAX_ATTEMPTS}") is None,
          f"(c) no retry queue beyond {MAX_ATTEMPTS - 1}")


def main():
    if not os.environ.get("HERALD_TEST"):
        print("HERALD_TEST must name the herald-test binary", file=sys.stderr)
        return 2
    prefix = f"herald.it.consume.{os.getpid()}"
    queue, exchange = prefix + ".in", prefix + ".events"
    conn = connect()
    try:
        with tempfile.TemporaryDirectory(prefix="herald-amqp-") as work:
            proc, ready, verdict_file = run_suite(work, queue, exchange)
            deadline = time.monotonic() + 60
            while not os.path.exists(ready) and proc.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            if check(os.path.exists(ready), "the consumer started"):
                ch = conn.channel()
                ch.confirm_delivery()
                good = {"specversion": "1.0", "id": GOOD_ID,
                        "source": "outside-pika", "type": "user.created",
                        "time": GOOD_TIME, "datacontenttype": "application/json",
                        "data": GOOD_DATA}
                publish(ch, exchange, "user.created",
                        json.dumps(good).encode(),
                        "application/cloudevents+json", GOOD_ID)
                publish(ch, exchange, "password.reset_requested", BAD_BODY,
                        "application/cloudevents+json", "it-bad")
                ch.close()
            try:
                out, _ = proc.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            passed = proc.returncode == 0 and re.search(r"tests:\s+1\n", out)
            check(bool(passed), "the suite passed (no crash)"
                  + ("" if passed else "\n" + out[-3000:]))
            verdict = {}
            if check(os.path.exists(verdict_file), "the suite wrote a verdict"):
                with open(verdict_file) as f:
                    verdict = json.load(f)
            check(verdict.get("done") is True, f"(a)(b) both handled: {verdict}")
            for key, want in (("consumed", 2), ("acked", 1),
                              ("dead_lettered", 1), ("retried", 0)):
                check(verdict.get(key) == want,
                      f"counter {key} = {verdict.get(key)} (want {want})")
            check(verdict.get("state") == "connected",
                  f"state while running: {verdict.get('state')}")
            check_good(verdict)
            check_dead(conn, queue)
            check_topology(conn, queue)
    finally:
        ch = conn.channel()
        for q in [queue, queue + ".dead"] + [f"{queue}.retry.{n}"
                                            for n in range(1, MAX_ATTEMPTS)]:
            ch.queue_delete(q)
        ch.exchange_delete(exchange)
        conn.close()
    finish()


if __name__ == "__main__":
    sys.exit(main())
