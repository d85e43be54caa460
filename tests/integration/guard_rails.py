"""Production guard rails, issue 11 (needs: mysql).

Outside dev mode a node must not put passwords or reset links on a network
in clear: it refuses a gateway beyond loopback without HTTPS (and only warns
when http.behind-proxy says a TLS proxy is in front), an http://
mail.public-base-url that is not loopback, and smtp:// without STARTTLS to a
server beyond loopback. Dev mode allows each with a warning. The addresses
beyond loopback are from TEST-NET-1 (192.0.2.0/24): nothing here binds or
connects beyond 127.0.0.0/8."""

import base64
import os
import secrets
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import Database, Node, check, finish

KEY = "prod-1:" + base64.urlsafe_b64encode(
    secrets.token_bytes(32)).decode().rstrip("=")
GATEWAY = '--herald.roles=["user","token","reset","mailer","gateway"]'


def start(db, *flags, dev=False):
    """A node outside dev mode (a real key) that is expected to refuse;
    answers (rc, output)."""
    node = Node(db, dev=dev, extra=[GATEWAY] + list(flags),
                env={"HERALD_TOKEN_KEYS": KEY})
    return node.run_to_exit(timeout=60)


def main():
    with Database() as db:
        # -- the gateway --------------------------------------------------------
        rc, out = start(db.name, "--http.host=192.0.2.1")
        check(rc != 0 and "http.host" in out and "without HTTPS" in out,
              "a gateway beyond loopback without HTTPS is refused, naming "
              "http.host: rc=%d %s" % (rc, out.strip()[-300:]))
        rc, out = start(db.name, "--http.host=192.0.2.1",
                        "--http.behind-proxy")
        # It passes the check and warns; binding 192.0.2.1 then fails here
        # (the address is not this machine's), so nothing listens.
        check("behind-proxy is set" in out and "cannot bind" in out,
              "behind-proxy: a warning, then the start goes on (and fails to "
              "bind an address this machine lacks): %s" % out.strip()[-400:])
        rc, out = start(db.name, "--http.host=192.0.2.1", dev=True)
        check("DEV MODE" in out and "plain HTTP" in out,
              "dev mode: a plain gateway beyond loopback only warns")
        rc, out = start(db.name, "--http.tls-certificate=/nonexistent.pem")
        check(rc != 0 and "http.tls-key" in out,
              "a certificate without a key is refused, naming http.tls-key")
        # -- the links in mails -------------------------------------------------
        rc, out = start(db.name,
                        "--mail.public-base-url=http://accounts.example.com")
        check(rc != 0 and "mail.public-base-url" in out and "https://" in out,
              "an http:// public base URL beyond loopback is refused: %s"
              % out.strip()[-300:])
        # -- SMTP -------------------------------------------------------------
        rc, out = start(db.name, "--smtp.url=smtp://192.0.2.1:25")
        check(rc != 0 and "smtp.starttls" in out,
              "smtp:// beyond loopback without STARTTLS is refused: %s"
              % out.strip()[-300:])
        # -- what passes --------------------------------------------------------
        # https links, STARTTLS required, a loopback gateway: the node starts
        # (the SMTP server is only reached when a mail goes out).
        node = Node(db.name, dev=False, gateway=True,
                    extra=["--mail.public-base-url=https://accounts.example.com",
                           "--smtp.url=smtp://192.0.2.1:25",
                           "--smtp.starttls"],
                    env={"HERALD_TOKEN_KEYS": KEY})
        with node:
            import urllib.request
            with urllib.request.urlopen(node.url + "/healthz", timeout=10) as r:
                check(r.status == 200,
                      "with HTTPS links, STARTTLS and a loopback gateway the "
                      "production node starts and answers")
    finish()


if __name__ == "__main__":
    main()
