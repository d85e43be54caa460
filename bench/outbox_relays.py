"""Outbox relay throughput with one and with two relays sharing one outbox
(issue 12). Writes --rows outbox rows (user.updated, --keys keys) straight
into a fresh database, starts one or two nodes with only the bridge role
(a relay each, publishing to RabbitMQ with confirms) and times how long the
outbox takes to empty. Prints rows/s per setup, the median of --runs runs.

Usage (run with /usr/bin/python3, with the test MariaDB and RabbitMQ up and
the environment ctest gives the integration tests: HERALD_NODE,
HERALD_TEST_MYSQL_PORT, HERALD_MYSQL_PASSWORD, HERALD_TEST_AMQP_URL, ...):

  bench/outbox_relays.py [--rows N] [--keys N] [--runs N]
"""

import argparse
import os
import secrets
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration", "lib"))
from herald_harness import Database, Node, sql, wait_until  # noqa: E402

AMQP_URL = os.environ.get("HERALD_TEST_AMQP_URL",
                          "amqp://guest:guest@127.0.0.1:5683/")


def node(db, exchange):
    return Node(db.name, extra=[
        '--herald.roles=["bridge"]', "--amqp.url=" + AMQP_URL,
        "--amqp.outbound=[\"topics=user.* exchange=%s\"]" % exchange,
        "--amqp.inbound=[]"])


def fill(db, rows, keys):
    for first in range(0, rows, 1000):
        values = ",".join(
            "(UUID(), 'user.updated', 'user:%d', 'bench', "
            "'{\"user_id\": %d}', 0)" % (i % keys + 1, i % keys + 1)
            for i in range(first, min(rows, first + 1000)))
        sql("INSERT INTO outbox (event_id, topic, event_key, source, data, "
            "created_at_ms) VALUES " + values, db.name)


def run(relays, rows, keys):
    with Database() as db:
        exchange = "bench" + secrets.token_hex(3) + ".events"
        # The first start migrates; then the outbox is filled while no relay
        # runs.
        first = node(db, exchange).start()
        first.stop()
        fill(db, rows, keys)
        # A queue behind the exchange: unroutable events would fail.
        import pika
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        ch = conn.channel()
        ch.exchange_declare(exchange, "topic", durable=True)
        queue = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(queue, exchange, "#")
        nodes = [node(db, exchange) for _ in range(relays)]
        for n in nodes:
            n.start(wait=False)
        # Timed by the broker: from the first event published (node starts
        # left out) to the last; then the outbox must empty.
        published = lambda: ch.queue_declare(
            queue, passive=True).method.message_count
        wait_until(lambda: published() > 0, timeout=120, step=0.01)
        started = time.time()
        wait_until(lambda: published() >= rows, timeout=600, step=0.01)
        took = time.time() - started
        empty = wait_until(lambda: sql("SELECT COUNT(*) FROM outbox",
                                       db.name)[0][0] == "0", timeout=120)
        for n in nodes:
            n.stop()
        conn.close()
        if not empty:
            raise RuntimeError("the outbox did not empty")
        return took


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--keys", type=int, default=5000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    for relays in (1, 2):
        times = [run(relays, a.rows, a.keys) for _ in range(a.runs)]
        t = statistics.median(times)
        print("%d relay(s): %d rows in %.2f s (median of %d): %.0f rows/s" % (relays, a.rows, t, a.runs,
                                          a.rows / t), flush=True)


if __name__ == "__main__":
    main()
