"""Mail path benchmarks, each against a raw baseline from the same run.

  reset  latency from a reset request (heraldctl) to the mail accepted by
         the SMTP server, at a fixed rate; baseline: a raw SMTP send of a
         mail of the same size to the same server (smtplib).
  events events/s from outbox rows to mails accepted (outbox -> bus ->
         mailer -> SMTP); baseline: single-row INSERT transactions/s on the
         same MariaDB (mariadb-slap, one client, autocommit), and the SMTP
         server's own acceptance rate (smtplib, one connection per mail).

Run through scripts/bench (it builds herald and starts MariaDB)."""

import os
import smtplib
import statistics
import subprocess
import sys
import time
from email.message import EmailMessage

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests",
                                "integration", "lib"))
from herald_harness import MYSQL_PORT, MYSQL_PASSWORD, Database, Node, SmtpSink, ctl, sql

RATE = float(os.environ.get("HERALD_BENCH_RATE", "10"))
COUNT = int(os.environ.get("HERALD_BENCH_COUNT", "200"))
# mail.in-flight of the node (0: as many as smtp.workers).
IN_FLIGHT = os.environ.get("HERALD_BENCH_MAIL_IN_FLIGHT", "0")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * (len(xs) - 1)))]


def add_users(db, n, prefix="bench"):
    values = ",".join("('bench %d','%s%d@example.org','user','x',0,0,0)"
                      % (i, prefix, i) for i in range(n))
    sql("INSERT INTO users (name,email,role,password_hash,token_version,"
        "created_at,updated_at) VALUES " + values, db.name)
    return [int(r[0]) for r in sql("SELECT id FROM users ORDER BY id",
                                   db.name)]


def raw_smtp_latency(sink, n=50):
    lat = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = "bench@herald.localhost"
        msg["To"] = "raw%d@example.org" % i
        msg["Subject"] = "Reset your password"
        msg.set_content("x" * 600)
        t0 = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", sink.port) as s:
            s.send_message(msg)
        lat.append(time.perf_counter() - t0)
    return lat


def wait_mails(sink, predicate, count, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        n = sum(1 for m in sink.mails() if predicate(m["To"]))
        if n >= count:
            return n
        time.sleep(0.05)
    return sum(1 for m in sink.mails() if predicate(m["To"]))


def bench_reset(db, sink, node):
    n = min(COUNT, 100)
    add_users(db, n)
    folder = os.path.join(sink.dir, "maildir", "new")
    seen = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    sent = {}
    arrived = {}
    start = time.perf_counter()
    procs = []
    for i in range(n):
        due = start + i / RATE
        while time.perf_counter() < due:
            poll_arrivals(folder, seen, arrived)
            time.sleep(0.001)
        email = "bench%d@example.org" % i
        sent[email] = time.perf_counter()
        procs.append(subprocess.Popen(
            [os.environ["HERALDCTL"], "--node", "127.0.0.1:%d" % node.port,
             "reset", "request", "--email", email],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        poll_arrivals(folder, seen, arrived)
    deadline = time.time() + 60
    while len(arrived) < n and time.time() < deadline:
        poll_arrivals(folder, seen, arrived)
        time.sleep(0.002)
    for p in procs:
        p.wait(timeout=30)
    lat = [arrived[e] - sent[e] for e in sent if e in arrived]
    raw = raw_smtp_latency(sink)
    print("%-44s p50 %6.1f ms  p99 %6.1f ms  (%d/%d mails, %.0f req/s)"
          % ("reset request -> mail accepted", 1000 * pct(lat, 0.5),
             1000 * pct(lat, 0.99), len(lat), n, RATE))
    print("%-44s p50 %6.1f ms  p99 %6.1f ms  ratio p50 %.1f"
          % ("raw SMTP send of one mail (smtplib)", 1000 * pct(raw, 0.5),
             1000 * pct(raw, 0.99), pct(lat, 0.5) / pct(raw, 0.5)))


def bench_reset_timing(db, node, n=60):
    """Reset requests for known and unknown emails, interleaved: the answer
    must not tell them apart, in content or in time."""
    add_users(db, n, prefix="known")
    cmd = [os.environ["HERALDCTL"], "--node", "127.0.0.1:%d" % node.port,
           "reset", "request", "--email"]
    known, unknown = [], []
    for i in range(n):
        for email, bucket in (("known%d@example.org" % i, known),
                              ("unknown%d@example.org" % i, unknown)):
            t0 = time.perf_counter()
            subprocess.run(cmd + [email], check=True, capture_output=True)
            bucket.append(time.perf_counter() - t0)
    print("%-44s known p50 %5.1f ms p90 %5.1f ms   unknown p50 %5.1f ms "
          "p90 %5.1f ms   ratio p50 %.3f"
          % ("reset request round trip (heraldctl)", 1000 * pct(known, 0.5),
             1000 * pct(known, 0.9), 1000 * pct(unknown, 0.5),
             1000 * pct(unknown, 0.9), pct(known, 0.5) / pct(unknown, 0.5)))


def poll_arrivals(folder, seen, arrived):
    import email
    if not os.path.isdir(folder):
        return
    now = time.perf_counter()
    for name in os.listdir(folder):
        if name in seen:
            continue
        seen.add(name)
        with open(os.path.join(folder, name), "rb") as f:
            to = email.message_from_binary_file(f)["To"]
        arrived.setdefault(to, now)


def raw_commit_rate(db, n):
    sql("CREATE TABLE commit_bench (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
        "v VARCHAR(64)) ENGINE=InnoDB", db.name)
    env = dict(os.environ, MYSQL_PWD=MYSQL_PASSWORD)
    t0 = time.perf_counter()
    subprocess.run(["mariadb-slap", "-h", "127.0.0.1", "-P", str(MYSQL_PORT),
                    "-u", "herald", "--create-schema=" + db.name,
                    "--concurrency=1", "--iterations=1",
                    "--number-of-queries=%d" % n,
                    "--query=INSERT INTO commit_bench (v) VALUES ('x')"],
                   env=env, check=True, capture_output=True)
    return n / (time.perf_counter() - t0)


def raw_smtp_rate(sink, n):
    t0 = time.perf_counter()
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = "bench@herald.localhost"
        msg["To"] = "rate%d@example.org" % i
        msg["Subject"] = "Welcome"
        msg.set_content("x" * 600)
        with smtplib.SMTP("127.0.0.1", sink.port) as s:
            s.send_message(msg)
    return n / (time.perf_counter() - t0)


def bench_events(db, sink, node):
    n = COUNT
    # One event per user: events of different users may go out in parallel.
    ids = add_users(db, n, prefix="events")[-n:]
    before = len(sink.mails())
    values = ",".join(
        "(UUID(),'user.created','user:%d','bench','{\"user_id\":%d,\"name\":"
        "\"b\",\"email\":\"x@example.org\",\"role\":\"user\"}',0,0)"
        % (uid, uid) for uid in ids)
    t0 = time.perf_counter()
    sql("INSERT INTO outbox (event_id,topic,event_key,source,data,"
        "created_at_ms,attempts) VALUES " + values, db.name)
    ctl(node, "outbox", "status")  # the relay also polls; this is no wake
    deadline = time.time() + 300
    while time.time() < deadline:
        if sql("SELECT COUNT(*) FROM outbox", db.name)[0][0] == "0":
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    mails = len(sink.mails()) - before
    rate = n / elapsed
    commits = raw_commit_rate(db, max(n, 500))
    smtp = raw_smtp_rate(sink, min(n, 200))
    print("%-44s herald %8.1f ev/s   raw %8.1f tx/s   ratio %.3f   (%d mails)"
          % ("outbox -> bus -> mailer -> SMTP", rate, commits,
             rate / commits, mails))
    print("%-44s %8.1f mails/s (one connection per mail)   herald/sink %.3f"
          % ("raw SMTP sink acceptance", smtp, rate / smtp))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    with Database() as db, SmtpSink() as sink:
        with Node(db.name, extra=["--smtp.url=" + sink.url(),
                                  "--reset.max-per-hour=100000",
                                  "--smtp.workers=4",
                                  "--mail.in-flight=" + IN_FLIGHT]) as node:
            if mode in ("reset", "all"):
                bench_reset(db, sink, node)
                bench_reset_timing(db, node)
            if mode in ("events", "all"):
                bench_events(db, sink, node)


main()
