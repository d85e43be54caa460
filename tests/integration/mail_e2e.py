"""Events, outbox, password reset and mail end to end (needs: mysql): a real
MariaDB, a real aiosmtpd SMTP server, herald nodes, heraldctl."""

import hashlib
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import (Database, Node, SmtpSink, body_text, check, ctl,
                            ctl_json, finish, sql)

PW = "correct horse battery staple"
BASE = "https://accounts.example.test"


def mail_node(db, sink, roles='["user","token","reset","mailer"]', extra=()):
    return Node(db.name, extra=["--smtp.url=" + sink.url(),
                                "--herald.roles=" + roles,
                                "--mail.public-base-url=" + BASE + "/",
                                "--outbox.backoff-min=200ms",
                                "--outbox.backoff-max=1s"] + list(extra))


def expect_error(node, args, code, stdin=None, what=""):
    out = ctl(node, *args, stdin=stdin, check_rc=None)
    check(out.returncode == 1 and code in out.stderr
          and len(out.stderr.strip().splitlines()) == 1,
          "%s -> %s (got %d: %r)" % (what or " ".join(args), code,
                                     out.returncode, out.stderr))


def reset_link(msg):
    m = re.search(r"(\S+/reset-password\?token=([A-Za-z0-9_-]+))",
                  body_text(msg))
    return (m.group(1), m.group(2)) if m else (None, None)


def wait_outbox_empty(node, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = ctl_json(node, "outbox", "status")
        if st["pending"] == 0:
            return st
        time.sleep(0.2)
    return ctl_json(node, "outbox", "status")


with Database() as db, SmtpSink() as sink:
    with mail_node(db, sink) as node:
        # -- welcome mail --------------------------------------------------------
        alice = ctl_json(node, "user", "create", "--name", "Alice Ünal",
                         "--email", "Alice@Example.org", "--password", PW)
        mails = sink.wait_for(1)
        check(len(mails) == 1 and mails[0]["To"] == "alice@example.org",
              "welcome mail arrives at the stored address")
        check("Alice Ünal" in body_text(mails[0]),
              "welcome mail greets the user by name (UTF-8 intact)")
        check(mails[0].get_body(preferencelist=("html",)) is not None,
              "welcome mail has an HTML part")

        # -- reset --------------------------------------------------------------
        token_before = ctl_json(node, "login", "--email", "alice@example.org",
                                "--password", PW)["token"]
        out = ctl(node, "reset", "request", "--email", "ALICE@example.org")
        out2 = ctl(node, "reset", "request", "--email", "nobody@example.org")
        check(out.stdout.replace("ALICE@example.org", "X")
              == out2.stdout.replace("nobody@example.org", "X"),
              "reset request answers the same for known and unknown emails")
        mails = sink.wait_for(2)
        check(len(mails) == 2, "exactly one reset mail (none for the unknown "
              "email): %d mails" % len(mails))
        link, token = reset_link(mails[-1])
        # The link is compared, never printed: it works for 15 minutes.
        check(link is not None and link.startswith(BASE + "/reset-password?token="),
              "reset link uses the configured base URL: %s..."
              % (link or "")[:len(BASE) + 22])
        check(mails[-1]["To"] == "alice@example.org",
              "reset mail goes to the stored address, not the typed one")
        rows = sql("SELECT token_hash FROM password_resets WHERE token_hash "
                   "IS NOT NULL", db.name)
        check(len(rows) == 1 and token[:8] not in str(rows)
              and rows[0][0] == hashlib.sha256(token.encode()).hexdigest(),
              "only the token's hash is stored")
        expect_error(node, ["reset", "confirm", "--token", token, "--password",
                            "short"], "invalid_argument",
                     what="weak new password")
        confirmed = ctl(node, "reset", "confirm", "--token", token,
                        stdin="a brand new passphrase\n", check_rc=None)
        check(confirmed.returncode == 0,
              "the mailed link sets a new password: %s" % confirmed.stderr)
        expect_error(node, ["reset", "confirm", "--token", token, "--password",
                            "another new passphrase"], "already_used",
                     what="second confirm with the same token")
        expect_error(node, ["login", "--email", "alice@example.org",
                            "--password", PW], "unauthenticated",
                     what="old password after reset")
        ctl_json(node, "login", "--email", "alice@example.org", "--password",
                 "a brand new passphrase")
        expect_error(node, ["token", "validate", token_before],
                     "unauthenticated", what="old JWT after reset")
        mails = sink.wait_for(3)
        check(len(mails) == 3 and "password" in mails[-1]["Subject"].lower(),
              "password-changed notice arrives")

        # -- bad input ------------------------------------------------------------
        expect_error(node, ["reset", "request", "--email", "not-an-email"],
                     "invalid_argument", what="reset request, malformed email")
        for bad in ["", "x" * 42, "x" * 44, "*" * 43, "x" * 5000,
                    "x" * 42 + "="]:
            expect_error(node, ["reset", "confirm", "--token", bad,
                                "--password", "a fine new passphrase"],
                         "invalid_argument", what="token %r..." % bad[:8])
        expect_error(node, ["reset", "confirm", "--token", "A" * 43,
                            "--password", "a fine new passphrase"],
                     "not_found", what="unknown well-formed token")

        # -- SMTP down while events are produced ----------------------------------
        sink.stop()
        for i in range(3):
            ctl_json(node, "user", "create", "--name", "Down %d" % i,
                     "--email", "down%d@example.org" % i, "--password", PW)
        time.sleep(1.5)
        st = ctl_json(node, "outbox", "status")
        check(st["pending"] >= 3 and st["last_error"] != "",
              "while SMTP is down events stay pending with an error: %s" % st)
        human = ctl(node, "outbox", "status").stdout
        check("pending" in human and "last error" in human,
              "outbox status prints for people")
        sink.start()
        st = wait_outbox_empty(node)
        check(st["pending"] == 0, "outbox drains after SMTP is back")
        time.sleep(0.5)
        to = [m["To"] for m in sink.mails()]
        check(all(to.count("down%d@example.org" % i) == 1 for i in range(3)),
              "each mail held back by the outage arrives exactly once: %s" % to)

        # -- duplicate delivery of one event --------------------------------------
        before = len(sink.mails())
        ev_id = sql("SELECT event_id FROM processed_events WHERE handler="
                    "'mailer' ORDER BY processed_at LIMIT 1", db.name)[0][0]
        sql("INSERT INTO outbox (event_id, topic, event_key, source, data, "
            "created_at_ms, attempts) VALUES ('%s', 'user.created', 'user:%d',"
            " 'test', '{\"user_id\": %d, \"name\": \"A\", \"email\": "
            "\"alice@example.org\", \"role\": \"user\"}', 0, 0)"
            % (ev_id, alice["id"], alice["id"]), db.name)
        st = wait_outbox_empty(node)
        time.sleep(0.5)
        check(st["pending"] == 0 and len(sink.mails()) == before,
              "a redelivered event sends no second mail")

    # -- node killed right after a commit ---------------------------------------
    writer = mail_node(db, sink, roles='["user","token"]').start()
    ctl_json(writer, "user", "create", "--name", "Killed", "--email",
             "killed@example.org", "--password", PW)
    writer.stop(sig=signal.SIGKILL)
    pending = sql("SELECT COUNT(*) FROM outbox", db.name)[0][0]
    check(pending == "1", "the event is in the outbox when the node dies")
    with mail_node(db, sink) as node:
        mails = sink.wait_for(len(sink.mails()) + 1)
        check(any(m["To"] == "killed@example.org" for m in mails),
              "the event of a killed node is delivered after restart")

    # -- mailer killed with a delivery in flight -----------------------------------
    sink.stop()
    node = mail_node(db, sink).start()
    ctl_json(node, "user", "create", "--name", "Inflight", "--email",
             "inflight@example.org", "--password", PW)
    time.sleep(0.5)
    node.stop(sig=signal.SIGKILL)
    sink.start()
    with mail_node(db, sink) as node:
        wait_outbox_empty(node)
        time.sleep(0.5)
        to = [m["To"] for m in sink.mails()]
        check(to.count("inflight@example.org") == 1,
              "a delivery cut off by SIGKILL is made once after restart")

    # -- a template that cannot render stops the node ----------------------------
    bad_dir = os.path.join(os.environ.get("HERALD_TEST_RUN_DIR", "/tmp"),
                           "bad-templates")
    os.makedirs(bad_dir, exist_ok=True)
    src = os.path.join(os.environ.get("HERALD_SOURCE_DIR", "."), "config",
                       "templates")
    for name in os.listdir(src):
        with open(os.path.join(src, name)) as f, \
                open(os.path.join(bad_dir, name), "w") as g:
            g.write(f.read().replace("{{name}}", "{{nmae}}"))
    rc, out = mail_node(db, sink, extra=["--mail.templates=" + bad_dir]) \
        .run_to_exit()
    check(rc != 0 and "nmae" in out,
          "a template with an unknown placeholder stops the node: %r"
          % out[-200:])

finish()
