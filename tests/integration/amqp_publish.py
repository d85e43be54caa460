#!/usr/bin/python3
"""Checks what herald's AMQP publisher puts on the wire, as an outside
consumer (pika) sees it.

needs: rabbitmq

An outside consumer declares and binds its own queues first, then the test
`outside consumer` of the suite amqp_live_publish (tests/unit/
amqp_live_publish.cpp) publishes one user.created event through
HERALD_AMQP_TEST_* variables:

  (a) to a durable topic exchange in CloudEvents 1.0 structured mode: the
      body is a valid CloudEvent (required attributes, attribute names, RFC
      3339 time, data embedded as a JSON object), routing key = topic,
      persistent (delivery_mode 2), content type application/cloudevents+json,
      message_id = event id, timestamp set;
  (b) to go-micro's exchange `micro` (non-durable, as go-micro declares it):
      the headers Content-Type: application/json and Micro-Topic: <topic> as
      strings, the event's JSON as the body, routing key = topic.

Exits non-zero and names every failed check.
"""

import datetime
import json
import os
import re
import subprocess
import sys
import time
import uuid

import pika

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import check, finish  # noqa: E402

URL = os.environ.get("HERALD_TEST_AMQP_URL",
                     "amqp://guest:guest@127.0.0.1:5683/")
TEST = os.environ.get("HERALD_TEST", "build/tests/herald-test")
TOPIC = "user.created"
DATA = {"user_id": 42, "name": "Zoë", "email": "zoe@example.org",
        "role": "user"}
TIME = "2023-11-14T22:13:20.123Z"  # the event's time, 1700000000123 ms
CE_ATTRIBUTES = {"specversion", "id", "source", "type", "time",
                 "datacontenttype", "data"}


def connect(deadline_s=60.0):
    """A pika connection; the test RabbitMQ may still be booting."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            return pika.BlockingConnection(pika.URLParameters(URL))
        except pika.exceptions.AMQPConnectionError:
            if time.monotonic() >= end:
                raise
            time.sleep(0.25)


def fetch(channel, queue, deadline_s=10.0):
    """One message from `queue` (auto-acked), waiting up to `deadline_s`."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return method, props, body
        channel.connection.sleep(0.1)
    return None, None, None


def check_cloudevent(exchange, event_id, method, props, body):
    if not check(method is not None, "cloudevents: a message arrived"):
        return
    check(method.exchange == exchange,
          f"cloudevents: exchange {method.exchange!r}")
    check(method.routing_key == TOPIC,
          f"cloudevents: routing key {method.routing_key!r} = topic")
    check(props.delivery_mode == 2,
          f"cloudevents: persistent (delivery_mode {props.delivery_mode})")
    check(props.content_type == "application/cloudevents+json",
          f"cloudevents: content type {props.content_type!r}")
    check(props.message_id == event_id,
          f"cloudevents: message_id {props.message_id!r} = event id")
    check(props.timestamp == 1700000000,
          f"cloudevents: timestamp {props.timestamp!r}")
    try:
        ce = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        check(False, f"cloudevents: body is UTF-8 JSON ({e})")
        return
    if not check(isinstance(ce, dict), "cloudevents: body is a JSON object"):
        return
    check(set(ce) == CE_ATTRIBUTES,
          f"cloudevents: attributes {sorted(ce)}")
    # CloudEvents 1.0: attribute names are lower-case letters and digits.
    check(all(re.fullmatch(r"[a-z0-9]{1,20}", k) for k in ce),
          "cloudevents: attribute names are valid")
    check(ce.get("specversion") == "1.0",
          f"cloudevents: specversion {ce.get('specversion')!r}")
    check(ce.get("id") == event_id, f"cloudevents: id {ce.get('id')!r}")
    for name in ("id", "source", "type"):
        value = ce.get(name)
        check(isinstance(value, str) and value != "",
              f"cloudevents: {name} is a non-empty string ({value!r})")
    check(ce.get("type") == TOPIC, f"cloudevents: type {ce.get('type')!r}")
    check(ce.get("source") == "herald-it",
          f"cloudevents: source {ce.get('source')!r}")
    ce_time = ce.get("time")
    rfc3339 = (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?"
               r"(Z|[+-]\d{2}:\d{2})")
    ok = (isinstance(ce_time, str)
          and re.fullmatch(rfc3339, ce_time) is not None)
    check(ok, f"cloudevents: time {ce_time!r} is RFC 3339")
    if ok:
        parsed = datetime.datetime.fromisoformat(
            ce_time.replace("Z", "+00:00"))
        check(parsed == datetime.datetime(2023, 11, 14, 22, 13, 20, 123000,
                                          tzinfo=datetime.timezone.utc),
              f"cloudevents: time {ce_time!r} is the event's ({TIME})")
    check(ce.get("datacontenttype") == "application/json",
          f"cloudevents: datacontenttype {ce.get('datacontenttype')!r}")
    check(isinstance(ce.get("data"), dict),
          "cloudevents: data is embedded as a JSON object")
    check(ce.get("data") == DATA, f"cloudevents: data {ce.get('data')!r}")


def check_micro(event_id, method, props, body):
    if not check(method is not None, "micro: a message arrived"):
        return
    check(method.exchange == "micro", f"micro: exchange {method.exchange!r}")
    check(method.routing_key == TOPIC,
          f"micro: routing key {method.routing_key!r} = topic")
    headers = props.headers or {}
    check(headers.get("Content-Type") == "application/json",
          f"micro: header Content-Type {headers.get('Content-Type')!r}")
    check(headers.get("Micro-Topic") == TOPIC,
          f"micro: header Micro-Topic {headers.get('Micro-Topic')!r}")
    check(all(isinstance(v, str) for v in headers.values()),
          f"micro: header values are strings {headers!r}")
    check(props.content_type == "application/json",
          f"micro: content type {props.content_type!r}")
    check(props.message_id == event_id,
          f"micro: message_id {props.message_id!r}")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        check(False, f"micro: body is UTF-8 JSON ({e})")
        return
    check(data == DATA, f"micro: body is the event's JSON ({data!r})")


def main():
    event_id = str(uuid.uuid4())
    exchange = "herald.it.publish." + uuid.uuid4().hex[:12]
    conn = connect()
    ch = conn.channel()
    # The outside consumer is there first, as a subscriber would be.
    ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    ce_queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(ce_queue, exchange, routing_key="user.*")
    # go-micro declares its exchange non-durable and binds per topic.
    ch.exchange_declare("micro", exchange_type="topic", durable=False)
    micro_queue = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(micro_queue, "micro", routing_key=TOPIC)

    env = dict(os.environ,
               HERALD_TEST_AMQP_URL=URL,
               HERALD_AMQP_TEST_EXCHANGE=exchange,
               HERALD_AMQP_TEST_MICRO_EXCHANGE="micro",
               HERALD_AMQP_TEST_EVENT_ID=event_id)
    run = subprocess.run(
        [TEST, "-r120", "-n", "-v3", "-s", "^amqp_live_publish$",
         "-t", "^outside consumer$"],
        env=env, capture_output=True, text=True, timeout=180)
    # CAF's test runner prints its summary to stderr.
    output = run.stdout + run.stderr
    print(output[-4000:], flush=True)
    check(run.returncode == 0 and re.search(r"tests:\s+1\n", output)
          and "success: 100%" in output,
          f"herald-test published both events (exit {run.returncode})")

    check_cloudevent(exchange, event_id, *fetch(ch, ce_queue))
    check_micro(event_id, *fetch(ch, micro_queue))
    for queue in (ce_queue, micro_queue):
        method, _, _ = ch.basic_get(queue, auto_ack=True)
        check(method is None, f"nothing else arrived in {queue}")
    ch.exchange_delete(exchange)
    conn.close()
    finish()


if __name__ == "__main__":
    main()
