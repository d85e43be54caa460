#!/usr/bin/python3
"""Checks the SMTP bridge (bridges/smtp) against a real aiosmtpd server.

Runs its own aiosmtpd (python3-aiosmtpd) on a free 127.0.0.1 port with a
handler per scenario and drives the suite `smtp_live` of herald-test (tests/
unit/smtp_live.cpp) through HERALD_SMTP_LIVE_* variables:

  (a) accepting server: the mails arrive intact (headers, both parts, UTF-8,
      dot-stuffed lines), envelope sender and recipient are right;
  (b) 451 to RCPT and 452 after DATA -> deferred (this mail, for now), with
      the reply quoted; 421 to RCPT (the server closes) -> unavailable;
  (c) 550 to RCPT and 554 after DATA -> rejected, with the reply quoted;
  (d) nothing listening -> unavailable at once;
  (e) a server that accepts the connection and never answers ->
      unavailable after the configured timeout;
  (f) TLS: STARTTLS with AUTH and implicit TLS (smtps://) against a
      throw-away certificate given as ca_file -> ok over TLS, logged in;
      STARTTLS required but not offered, or a certificate the CA file does
      not vouch for -> unavailable.

Only herald-test and aiosmtpd take part; no database. Exits non-zero and
names every failed check.
"""

import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import check, finish, free_port

FROM_ADDR = "noreply@herald.test"
FROM = f"Herald Bridge Test <{FROM_ADDR}>"
MAIL = {
    "to": "bob.smith+herald@example.org",
    "subject": "Grüße aus herald ✓ — Ihr Zugang für Zoë (日本語)",
    "text": ("Hallo Bob,\n\nGrüße = 100% ✓ Ünïcödé\n.\n..two dots\n"
             ".leading dot\n" + "long line " * 120 + "\n"
             "trailing blank \nende\n"),
    "html": ("<!DOCTYPE html>\n<p>Hallo <b>Bob</b> — ✓ &amp; Grüße</p>\n"
             "<p>" + "lang " * 300 + "</p>\n"),
    "message_id": "9f0c2b7e-live-test",
}
SUITE_TESTS = 6


# -- servers ----------------------------------------------------------------

class Recorder:
    """Accepts every mail and keeps (sender, recipients, raw bytes), and
    whether the session was encrypted and who logged in."""

    def __init__(self):
        self.mails = []
        self.sessions = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos),
                           envelope.original_content))
        tls = server.transport.get_extra_info("ssl_object") is not None
        login = session.auth_data.login if session.auth_data else None
        self.sessions.append((tls, login.decode() if login else None))
        return "250 2.0.0 Ok: queued"


class RefuseRecipient(Recorder):
    def __init__(self, reply):
        super().__init__()
        self.reply = reply

    async def handle_RCPT(self, server, session, envelope, address, options):
        return self.reply


class RefuseData(Recorder):
    def __init__(self, reply):
        super().__init__()
        self.reply = reply

    async def handle_DATA(self, server, session, envelope):
        return self.reply


class SilentServer:
    """Accepts connections and never says a word (no greeting)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                return

    def stop(self):
        self.stopped = True
        for c in self.conns:
            c.close()
        self.sock.close()


# -- driving herald-test -----------------------------------------------------

def run_suite(work, url, expect, timeout_s=10, count=1, extra=None):
    """Runs smtp_live against `url`; answers (verdict or None, output)."""
    verdict_file = os.path.join(work, "verdict.json")
    mail_file = os.path.join(work, "mail.json")
    with open(mail_file, "w") as f:
        json.dump(MAIL, f)
    if os.path.exists(verdict_file):
        os.remove(verdict_file)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HERALD_SMTP_LIVE_")}
    env.update({
        "HERALD_SMTP_LIVE_URL": url,
        "HERALD_SMTP_LIVE_MAIL": mail_file,
        "HERALD_SMTP_LIVE_FROM": FROM,
        "HERALD_SMTP_LIVE_TIMEOUT": str(timeout_s),
        "HERALD_SMTP_LIVE_COUNT": str(count),
        "HERALD_SMTP_LIVE_EXPECT": expect,
        "HERALD_SMTP_LIVE_VERDICT": verdict_file,
    })
    env.update(extra or {})
    proc = subprocess.run(
        [os.environ["HERALD_TEST"], "-n", "-v5", "-s", "^smtp_live$"],
        env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=180)
    passed = (proc.returncode == 0
              and re.search(rf"tests:\s+{SUITE_TESTS}\n", proc.stdout))
    check(bool(passed), f"smtp_live suite passed (expecting {expect})"
          + ("" if passed else "\n" + proc.stdout[-3000:]))
    if not os.path.exists(verdict_file):
        check(False, "the suite wrote no verdict")
        return None, proc.stdout
    with open(verdict_file) as f:
        return json.load(f), proc.stdout


def with_server(handler, fn, scheme="smtp", **kwargs):
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            **kwargs)
    controller.start()
    try:
        return fn(f"{scheme}://127.0.0.1:{port}")
    finally:
        controller.stop()


def make_cert(work, name):
    """A self-signed certificate for 127.0.0.1; answers (cert, key)."""
    cert = os.path.join(work, name + ".pem")
    key = os.path.join(work, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (auth_data.login == b"herald-mailer"
          and auth_data.password == b"s3cret pass")
    return AuthResult(success=ok, auth_data=auth_data)


def check_tls(work):
    cert, key = make_cert(work, "server")
    other, _ = make_cert(work, "other")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    creds = {"HERALD_SMTP_LIVE_CA_FILE": cert,
             "HERALD_SMTP_LIVE_USERNAME": "herald-mailer",
             "HERALD_SMTP_LIVE_PASSWORD": "s3cret pass"}
    # STARTTLS, then AUTH (the server allows AUTH only under TLS).
    recorder = Recorder()
    verdict, _ = with_server(
        recorder,
        lambda url: run_suite(work, url, "ok", extra=dict(
            creds, HERALD_SMTP_LIVE_STARTTLS="1")),
        tls_context=context, require_starttls=True,
        authenticator=authenticator, auth_required=True)
    if verdict is not None:
        check(verdict["ok"], f"(f) STARTTLS + AUTH: {verdict['message']}")
    check(recorder.sessions == [(True, "herald-mailer")],
          f"(f) STARTTLS: mail came encrypted and logged in: "
          f"{recorder.sessions}")
    # Implicit TLS.
    recorder = Recorder()
    verdict, _ = with_server(
        recorder, lambda url: run_suite(work, url, "ok", extra=dict(creds)),
        scheme="smtps", ssl_context=context, authenticator=authenticator,
        # aiosmtpd 1.4 counts only STARTTLS as TLS when deciding whether to
        # offer AUTH; the session is TLS from the start here.
        auth_required=True, auth_require_tls=False)
    if verdict is not None:
        check(verdict["ok"], f"(f) smtps:// + AUTH: {verdict['message']}")
    check(recorder.sessions == [(True, "herald-mailer")],
          f"(f) smtps://: mail came encrypted and logged in: "
          f"{recorder.sessions}")
    # STARTTLS required, the server has none.
    recorder = Recorder()
    verdict, _ = with_server(
        recorder, lambda url: run_suite(work, url, "unavailable", extra={
            "HERALD_SMTP_LIVE_STARTTLS": "1"}))
    if verdict is not None:
        check(verdict["code"] == "unavailable",
              f"(f) STARTTLS not offered: {verdict['code']}: "
              f"{verdict['message']}")
    check(not recorder.mails, "(f) STARTTLS not offered: nothing sent")
    # A certificate the CA file does not vouch for.
    recorder = Recorder()
    verdict, _ = with_server(
        recorder,
        lambda url: run_suite(work, url, "unavailable", extra=dict(
            creds, HERALD_SMTP_LIVE_STARTTLS="1",
            HERALD_SMTP_LIVE_CA_FILE=other)),
        tls_context=context, require_starttls=True,
        authenticator=authenticator)
    if verdict is not None:
        check(verdict["code"] == "unavailable",
              f"(f) untrusted certificate: {verdict['code']}: "
              f"{verdict['message']}")
    check(not recorder.mails, "(f) untrusted certificate: nothing sent")


def check_refusal(work, name, handler, expect, needle):
    verdict, _ = with_server(handler, lambda url: run_suite(work, url, expect))
    if verdict is None:
        return
    check(verdict["code"] == expect,
          f"{name}: {verdict['code']} (expected {expect}): "
          f"{verdict['message']}")
    check(needle in verdict["message"],
          f"{name}: the server's reply {needle!r} is in the message")
    check(not handler.mails, f"{name}: nothing was stored")


def check_mail(i, sender, rcpts, raw):
    what = f"mail {i}"
    check(sender == FROM_ADDR, f"{what}: envelope sender {sender!r}")
    check(rcpts == [MAIL["to"]], f"{what}: envelope recipients {rcpts!r}")
    lines = raw.split(b"\r\n")
    check(all(b"\n" not in line and b"\r" not in line for line in lines),
          f"{what}: CRLF line endings only")
    longest = max(len(line) for line in lines)
    check(longest <= 78, f"{what}: longest line {longest} <= 78 (998 max)")
    check(all(b < 0x80 for b in raw), f"{what}: 7-bit clean on the wire")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    check(msg["Subject"] == MAIL["subject"], f"{what}: Subject "
          f"{msg['Subject']!r}")
    check(str(msg["To"]) == MAIL["to"], f"{what}: To {msg['To']!r}")
    frm = msg["From"].addresses[0] if msg["From"] else None
    check(frm is not None and frm.addr_spec == FROM_ADDR
          and frm.display_name == "Herald Bridge Test",
          f"{what}: From {msg['From']!r}")
    mid = f"<{MAIL['message_id']}.{i}@herald.test>"
    check(msg["Message-ID"] == mid, f"{what}: Message-ID "
          f"{msg['Message-ID']!r} == {mid}")
    check(msg["MIME-Version"] == "1.0", f"{what}: MIME-Version")
    check(msg["Auto-Submitted"] == "auto-generated", f"{what}: "
          "Auto-Submitted")
    try:
        date = msg["Date"].datetime
        age = abs((datetime.datetime.now(datetime.timezone.utc)
                   - date).total_seconds())
        check(age < 300, f"{what}: Date {msg['Date']} is now")
    except (AttributeError, TypeError, ValueError) as e:
        check(False, f"{what}: Date {msg['Date']!r} unreadable: {e}")
    check(msg.get_content_type() == "multipart/alternative",
          f"{what}: {msg.get_content_type()}")
    for kind in ("plain", "html"):
        part = msg.get_body((kind,))
        if not check(part is not None, f"{what}: has a text/{kind} part"):
            continue
        check(part.get_content_charset() == "utf-8",
              f"{what}: text/{kind} charset {part.get_content_charset()}")
        body = part.get_content().replace("\r\n", "\n")
        expected = MAIL["text" if kind == "plain" else "html"]
        check(body == expected, f"{what}: text/{kind} arrived intact"
              + ("" if body == expected else
                 f"\n  got:      {body[:200]!r}\n  expected: "
                 f"{expected[:200]!r}"))


def main():
    if not os.environ.get("HERALD_TEST"):
        print("HERALD_TEST must name the herald-test binary", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="herald-smtp-") as work:
        # (a) accepted: two mails through one worker (a reused connection).
        recorder = Recorder()
        verdict, _ = with_server(
            recorder, lambda url: run_suite(work, url, "ok", count=2))
        if verdict is not None:
            check(verdict["ok"], f"(a) accepted: {verdict['message']}")
        check(len(recorder.mails) == 2,
              f"(a) the server got {len(recorder.mails)} mail(s), 2 sent")
        for i, (sender, rcpts, raw) in enumerate(recorder.mails):
            check_mail(i, sender, rcpts, raw)

        # (b) temporary refusals.
        check_refusal(work, "(b) 451 to RCPT",
                      RefuseRecipient("451 4.7.1 Greylisted, try later"),
                      "deferred", "451 4.7.1 Greylisted, try later")
        check_refusal(work, "(b) 452 after DATA",
                      RefuseData("452 4.3.1 Insufficient system storage"),
                      "deferred", "452 4.3.1 Insufficient system storage")
        check_refusal(work, "(b) 421 to RCPT",
                      RefuseRecipient("421 4.3.2 Service shutting down"),
                      "unavailable", "421 4.3.2 Service shutting down")
        # (c) permanent refusals.
        check_refusal(work, "(c) 550 to RCPT",
                      RefuseRecipient("550 5.1.1 Recipient address rejected"),
                      "rejected", "550 5.1.1 Recipient address rejected")
        check_refusal(work, "(c) 554 after DATA",
                      RefuseData("554 5.6.0 Message content refused"),
                      "rejected", "554 5.6.0 Message content refused")

        # (d) nothing listening.
        verdict, _ = run_suite(work, f"smtp://127.0.0.1:{free_port()}",
                               "unavailable")
        if verdict is not None:
            check(verdict["code"] == "unavailable",
                  f"(d) nothing listening: {verdict['code']}: "
                  f"{verdict['message']}")
            check(verdict["elapsed_ms"] < 5000,
                  f"(d) failed fast ({verdict['elapsed_ms']} ms)")

        # (e) a server that never answers, with a 2 s timeout.
        silent = SilentServer()
        try:
            started = time.monotonic()
            verdict, _ = run_suite(work, f"smtp://127.0.0.1:{silent.port}",
                                   "unavailable", timeout_s=2)
            took = time.monotonic() - started
        finally:
            silent.stop()
        if verdict is not None:
            check(verdict["code"] == "unavailable",
                  f"(e) silent server: {verdict['code']}: "
                  f"{verdict['message']}")
            check(1800 <= verdict["elapsed_ms"] <= 8000,
                  f"(e) gave up after the timeout "
                  f"({verdict['elapsed_ms']} ms for 2 s)")
            check(len(silent.conns) >= 1, "(e) the bridge did connect")
        check(took < 60, f"(e) the suite ended ({took:.1f} s)")

        # (f) TLS and AUTH.
        check_tls(work)

    finish()


if __name__ == "__main__":
    sys.exit(main())
