"""The fault suite (needs: mysql, rabbitmq): real MariaDB, RabbitMQ and an
aiosmtpd sink, one herald node with the bridge role (mail through RabbitMQ,
as scripts/run sets it up), and one fault per scenario while users register.

A Jepsen-style checker records every operation and its answer (ok, error,
or unknown: no answer, or `unavailable`, after which a change may or may not
have happened) and, after the fault healed and the node went quiet, reads
the truth from outside: the users table (mariadb client), the welcome mails
(the sink's Maildir) and the user.created CloudEvents (a pika queue bound to
the node's exchange). It counts
  lost        answered ok, but no row, no event or no mail
  duplicate   more than one welcome mail for an address
  unexpected  answered error but a row, event or mail exists; or a mail or
              row for an address nobody registered; or an unknown one that
              is half there (a row without its mail, ...)
  pending     outbox rows still waiting at the end
  dead        outbox rows given up on (only where the scenario expects them)
and every scenario wants zero of each. The retry and probe delays are
scaled down by configuration so that a fault outlasts all of them.

A broker that nacks (a queue at x-max-length with reject-publish) has its
own script: amqp_nack.py."""

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import pika

from herald_harness import (RUN_DIR, Database, Node, SmtpSink, check, ctl,
                            ctl_json, finish, sql, wait_until)

PW = "correct horse battery staple"
AMQP_URL = os.environ.get("HERALD_TEST_AMQP_URL",
                          "amqp://guest:guest@127.0.0.1:5683/")
SOURCE = os.environ.get("HERALD_SOURCE_DIR", ".")
USERS = int(os.environ.get("HERALD_FAULT_USERS", "40"))
SCENARIOS = sys.argv[1:]  # none: all


def local_servers(*args):
    subprocess.run([os.path.join(SOURCE, "scripts", "local-servers")]
                   + list(args), check=True, capture_output=True, timeout=180)


def server_pid(kind):
    """The PID of the test MariaDB or RabbitMQ, from its pid file."""
    if kind == "mysql":
        path = os.path.join(RUN_DIR, "mysql", "mysqld.pid")
    else:
        folder = os.path.join(RUN_DIR, "rabbitmq")
        location = os.path.join(folder, "location")
        if os.path.exists(location):
            with open(location) as f:
                folder = f.read().strip()
        path = os.path.join(folder, "rabbitmq.pid")
    with open(path) as f:
        return int(f.read().strip())


class Scenario:
    """One node, database, exchange, queues and SMTP sink of its own."""

    def __init__(self, name, db, smtp_down_ok=False, inbound_bind=None,
                 extra=()):
        self.name = name
        self.db = db
        self.tag = "f" + secrets.token_hex(3)
        self.exchange = self.tag + ".events"
        self.queue = self.tag + ".mailer"
        self.sink = SmtpSink(refusals=True).start()
        self.ops = []  # {"email", "outcome": ok|error|unknown, "detail", ...}
        self.pace = 0
        self.lock = threading.Lock()
        bind = inbound_bind or "user.created"
        self.args = [
            "--herald.roles=[\"user\",\"token\",\"reset\",\"mailer\",\"bridge\"]",
            "--amqp.url=" + AMQP_URL,
            "--smtp.url=" + self.sink.url(), "--smtp.timeout=3s",
            "--amqp.outbound=[\"topics=user.* exchange=%s\"]" % self.exchange,
            "--amqp.inbound=[\"queue=%s exchange=%s bind=%s handler=mailer\"]"
            % (self.queue, self.exchange, bind),
            "--amqp.heartbeat=2s", "--amqp.retry-delay=100ms",
            "--amqp.max-attempts=3", "--amqp.outage-probe-min=200ms",
            "--amqp.outage-probe-max=1s", "--amqp.reconnect-max=1s",
            "--amqp.confirm-timeout=3s", "--outbox.backoff-min=100ms",
            "--outbox.backoff-max=1s", "--outbox.max-attempts=4",
            # A node killed mid-send leaves its mailer's claim: the next
            # node takes it over after this (default 5 min).
            "--mail.claim-timeout=3s",
            "--hasher.memory-kib=64", "--hasher.iterations=1"] + list(extra)
        self.node = Node(db.name, extra=self.args)
        self.node.start()
        self.observer = self.tag + ".observer"
        self.observe()

    def observe(self):
        """Declares the observer: a queue for every user.created the node
        publishes. Again after RabbitMQ was killed: a binding declared a
        moment before a kill -9 can be gone after the restart (seen when
        the kill came 1.3 s after it; the node declares its own again when
        it reconnects, the observer must too)."""
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        ch = conn.channel()
        ch.exchange_declare(self.exchange, "topic", durable=True)
        ch.queue_declare(self.observer, durable=True)
        ch.queue_bind(self.observer, self.exchange, "user.created")
        conn.close()

    # -- operations -------------------------------------------------------------
    def create(self, i):
        email = "%s-%d@example.org" % (self.tag, i)
        started = time.time()
        try:
            out = ctl(self.node, "--json", "user", "create", "--name",
                      "User %d" % i, "--email", email, "--password", PW,
                      check_rc=None, timeout=90)
            rc, text = out.returncode, out.stdout + out.stderr
        except subprocess.TimeoutExpired:
            rc, text = 3, "heraldctl timed out"
        if rc == 0:
            outcome = "ok"
        elif rc == 3 or '"unavailable"' in text or "unavailable" in text:
            # No answer, or a dependency failed mid-way: it may have
            # happened or not.
            outcome = "unknown"
        else:
            outcome = "error"
        with self.lock:
            self.ops.append({"email": email, "outcome": outcome,
                             "detail": text.strip()[:200],
                             "start": started, "end": time.time()})
        time.sleep(self.pace)
        return outcome

    def load(self, fault, n=USERS, workers=2, fault_after=1.0, pace=0.1):
        """Registers n users (paced, so that the load outlasts the start
        of the fault) while `fault` runs in a thread `fault_after` seconds
        in; answers when both are done."""
        done = threading.Event()
        window = []
        self.pace = pace

        def run_fault():
            time.sleep(fault_after)
            window.append(time.time())
            try:
                fault()
            finally:
                window.append(time.time())
                done.set()
        t = threading.Thread(target=run_fault)
        t.start()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(self.create, range(n)))
        t.join(timeout=240)
        check(done.is_set(), "%s: the fault ran and healed" % self.name)
        if len(window) == 2 and fault_after > 0:
            before = sum(1 for op in self.ops if op["end"] < window[0])
            during = sum(1 for op in self.ops if op["end"] >= window[0])
            check(before > 0 and during > 0,
                  "%s: the fault hit mid-stream (%d answered before it, %d "
                  "after it began)" % (self.name, before, during))

    # -- the truth, read from outside ------------------------------------------------
    def rows(self):
        return [r[0] for r in sql("SELECT email FROM users", self.db.name)]

    def outbox(self):
        pending = int(sql("SELECT COUNT(*) FROM outbox WHERE dead_at IS NULL",
                          self.db.name)[0][0])
        dead = sql("SELECT topic, attempts, last_error FROM outbox "
                   "WHERE dead_at IS NOT NULL", self.db.name)
        return pending, dead

    def mails(self):
        return [m["To"] for m in self.sink.mails()]

    def events(self):
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        ch = conn.channel()
        seen = []
        while True:
            m, p, body = ch.basic_get(self.observer, auto_ack=False)
            if m is None:
                break
            seen.append(json.loads(body)["data"]["email"])
        conn.close()  # unacked: they stay for the next look
        return seen

    def quiet(self, timeout=120):
        """Waits until nothing is pending and the mails stopped coming."""
        last = [None]

        def settled():
            now = (self.outbox()[0], len(self.mails()))
            same = now == last[0] and now[0] == 0
            last[0] = now
            return same
        return wait_until(settled, timeout, 2)

    def verdict(self, expect_dead=0, expect_missing=()):
        check(self.quiet(), "%s: the node went quiet (nothing pending)"
              % self.name)
        rows, mails, events = self.rows(), self.mails(), self.events()
        pending, dead = self.outbox()
        known = {op["email"] for op in self.ops}
        lost, dup, unexpected = [], [], []
        for op in self.ops:
            e = op["email"]
            have = (e in rows, events.count(e) > 0, mails.count(e) > 0)
            if mails.count(e) > 1:
                dup.append(e)
            if e in expect_missing:
                continue
            if op["outcome"] == "ok" and not all(have):
                lost.append((e, have))
            elif op["outcome"] == "error" and any(have):
                unexpected.append((e, have, op["detail"]))
            elif op["outcome"] == "unknown" and any(have) and not all(have):
                unexpected.append((e, have, op["detail"]))
        for e in set(mails) | set(rows):
            if e not in known:
                unexpected.append((e, "never registered", ""))
        counts = {o: sum(1 for op in self.ops if op["outcome"] == o)
                  for o in ("ok", "error", "unknown")}
        print("%s: %s; lost %d, duplicate %d, unexpected %d, pending %d, "
              "dead %d" % (self.name, counts, len(lost), len(dup),
                           len(unexpected), pending, len(dead)), flush=True)
        check(not lost, "%s: nothing lost %s" % (self.name, lost[:5]))
        check(not dup, "%s: no duplicate mail %s" % (self.name, dup[:5]))
        check(not unexpected, "%s: nothing unexpected %s"
              % (self.name, unexpected[:5]))
        check(pending == 0, "%s: nothing pending" % self.name)
        check(len(dead) == expect_dead, "%s: %d dead outbox rows, want %d: %s"
              % (self.name, len(dead), expect_dead, dead[:3]))
        check(counts["ok"] > 0, "%s: some registrations succeeded"
              % self.name)
        return counts

    def close(self):
        try:
            self.node.stop()
        except RuntimeError as e:
            check(False, "%s: the node stops: %s" % (self.name, e))
        self.sink.stop()
        try:
            conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
            ch = conn.channel()
            for q in (self.observer, self.queue, self.queue + ".dead"):
                ch.queue_delete(q)
            conn.close()
        except Exception:  # cleanup only
            pass


def scenario(name):
    return not SCENARIOS or name in SCENARIOS


def kill_and_restart(kind):
    """kill -9 the test server of `kind` (mysql or rabbitmq), start it
    again."""
    def fault():
        os.kill(server_pid(kind), signal.SIGKILL)
        time.sleep(2)
        local_servers("start", kind)
    return fault


def freeze(kind, seconds=8):
    """SIGSTOP the test server of `kind` for longer than the node's
    heartbeat (2 s) and connection timeouts, then SIGCONT."""
    def fault():
        pid = server_pid(kind)
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
    return fault


@contextlib.contextmanager
def running(name, db, extra=()):
    """A scenario from start to clean-up: its node stopped, its queues gone,
    the users it made deleted (the next scenario counts rows from zero)."""
    s = Scenario(name, db, extra=extra)
    try:
        yield s
    finally:
        s.close()
        sql("DELETE FROM users", db.name)


with Database() as db:
    for name, fault in [("rabbitmq-kill-9", kill_and_restart("rabbitmq")),
                        ("rabbitmq-sigstop", freeze("rabbitmq")),
                        ("mariadb-kill-9", kill_and_restart("mysql")),
                        ("mariadb-sigstop", freeze("mysql"))]:
        if not scenario(name):
            continue
        with running(name, db) as s:
            if name == "rabbitmq-kill-9":
                # The broker is back before the node's next reconnect try
                # (1 s apart by then): the observer's binding is in place
                # before anything is published again.
                s.load(lambda: (fault(), s.observe()))
            else:
                s.load(fault)
            s.verdict()

    if scenario("node-sigkill"):
        # Killed while registrations, relay deliveries and mails are in
        # flight; a new node on the same database and queues takes over.
        with running("node-sigkill", db) as s:
            def kill_node():
                s.node.proc.kill()
                s.node.proc.wait(timeout=10)
                time.sleep(1)
                s.node.start()
            s.load(kill_node, fault_after=1.5)
            s.verdict()

    if scenario("node-sigterm-broker-frozen"):
        # An orderly stop while the broker hangs: the relay's events are
        # with the bus (the bridge waits for confirms). The relay waits for
        # them at most half the stop timeout, then deletes what was
        # delivered and releases the rest; the node stops in time, and the
        # next node delivers everything once the broker is back.
        with running("node-sigterm-broker-frozen", db,
                     extra=["--herald.stop-timeout=4s"]) as s:
            stop = {}

            def stop_while_frozen():
                pid = server_pid("rabbitmq")
                os.kill(pid, signal.SIGSTOP)
                try:
                    time.sleep(1)
                    began = time.time()
                    stop["rc"] = s.node.stop(timeout=60)
                    stop["seconds"] = time.time() - began
                    stop["log"] = s.node.output
                finally:
                    os.kill(pid, signal.SIGCONT)
                s.node.start()
            s.load(stop_while_frozen, fault_after=1.0)
            check(stop.get("rc") == 0 and stop.get("seconds", 99) < 14,
                  "node-sigterm-broker-frozen: the node stopped in order "
                  "within the stop budget (rc %s, %.1f s)"
                  % (stop.get("rc"), stop.get("seconds", -1)))
            log = stop.get("log", "")
            check("outbox: stopping once the" in log,
                  "node-sigterm-broker-frozen: the relay had events with the "
                  "bus at the stop and waited for them: %s"
                  % [ln for ln in log.splitlines() if "outbox" in ln][-3:])
            s.verdict()

    if scenario("smtp-down"):
        # Longer than every retry and probe delay together (0.1+0.2+0.4 s
        # retries, probes up to 1 s): nothing may be dead-lettered.
        with running("smtp-down", db) as s:
            held = []

            def smtp_outage():
                s.sink.stop()
                time.sleep(12)
                held.append(sum(1 for op in s.ops if op["outcome"] == "ok")
                            - len(s.mails()))
                s.sink.start()
            s.load(smtp_outage, fault_after=0.5)
            check(held and held[0] > 0,
                  "smtp-down: mail was held while SMTP was down (%s)" % held)
            s.verdict()
            dead_letters = ctl_json(s.node, "bridge", "status")
            route = next(r for r in dead_letters["routes"]
                         if r["route"].startswith("in " + s.queue + " "))
            check(route["dead_lettered"] == 0,
                  "smtp-down: nothing dead-lettered: %s" % route)

    if scenario("smtp-refusals"):
        # 451 then 250 for one address: mailed once; 550 for another: that
        # one message is dead-lettered, every other goes out.
        with running("smtp-refusals", db) as s:
            later = "%s-3@example.org" % s.tag
            never = "%s-5@example.org" % s.tag
            s.sink.refuse(later, "451 4.7.1 Try again later",
                          "451 4.7.1 Try again later")
            s.sink.refuse(never, "550 5.1.1 No such mailbox *")
            s.load(lambda: None, n=12, fault_after=0)
            s.verdict(expect_missing={never})
            check(s.mails().count(later) == 1,
                  "smtp-refusals: a 451-then-250 address is mailed once")
            check(s.mails().count(never) == 0,
                  "smtp-refusals: a 550 address is not mailed")
            conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
            ch = conn.channel()
            dead = []
            while True:
                m, p, body = ch.basic_get(s.queue + ".dead", auto_ack=True)
                if m is None:
                    break
                dead.append((json.loads(body)["data"]["email"],
                             (p.headers or {}).get("x-herald-reason", "")))
            conn.close()
            check([d[0] for d in dead] == [never],
                  "smtp-refusals: exactly the 550 message is dead-lettered: %s"
                  % dead)
            check(dead and "550" in dead[0][1],
                  "smtp-refusals: with the server's reason: %s" % dead)

    if scenario("unroutable"):
        # user.* is published (mandatory), only user.created has queues (the
        # mailer's and the observer's): a rename is unroutable. Its row goes
        # dead on its own; registrations keep being mailed meanwhile.
        with running("unroutable", db) as s:
            first = ctl_json(s.node, "user", "create", "--name", "Victim",
                             "--email", "victim-%s@example.org" % s.tag,
                             "--password", PW)
            s.ops.append({"email": first["email"], "outcome": "ok",
                          "detail": ""})
            ctl(s.node, "user", "update", str(first["id"]), "--name", "Renamed")
            s.load(lambda: None, n=20, fault_after=0)
            check(wait_until(lambda: len(s.outbox()[1]) == 1, 60),
                  "unroutable: the unroutable rename goes dead on its own")
            dead = s.outbox()[1]
            check(dead and dead[0][0] == "user.updated"
                  and "unroutable" in dead[0][2].lower(),
                  "unroutable: the dead row says why: %s" % dead)
            st = ctl(s.node, "outbox", "status").stdout
            check("user.updated" in st and "dead events" in st,
                  "unroutable: outbox status lists it: %s" % st)
            s.verdict(expect_dead=1)

finish()
