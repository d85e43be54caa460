"""The cluster port as a stranger sees it (needs: mysql): a CAF client
(herald-probe) that asks the node for everything it hands out and tries the
message that used to sign a token for any user value, with role admin, on
each; logs in with a wrong and the right password; and sends a service the
exit and error messages that used to end it. PyJWT judges the tokens."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import jwt  # PyJWT (python3-jwt, Debian)

from herald_harness import (DEV_SECRET, Database, Node, b64url_decode, check,
                            ctl_json, finish)

PROBE = os.environ.get("HERALD_PROBE", "build/tests/herald-probe")
KEY = b64url_decode(DEV_SECRET)
PW = "correct horse battery staple"


def probe(node, user_id, email, password):
    out = subprocess.run([PROBE, "127.0.0.1:%d" % node.port, str(user_id),
                          email, password], capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        raise RuntimeError("herald-probe: exit %d: %s" % (out.returncode,
                                                          out.stderr))
    return json.loads(out.stdout)


with Database() as db:
    with Node(db.name) as node:
        alice = ctl_json(node, "user", "create", "--name", "Alice", "--email",
                         "alice@example.org", "--password", PW)
        root = ctl_json(node, "user", "create", "--admin", "--name", "Root",
                        "--email", "root@example.org", "--password", PW)
        r = probe(node, alice["id"], "alice@example.org", PW)

        handed = sorted(k for k, v in r["services"].items()
                        if v == "handed out")
        check(handed == ["reset", "session", "token", "user"],
              "the node hands out only its outside services (%r)"
              % r["services"])
        check(r["services"]["bridge"].startswith("error unavailable"),
              "a service the node does not run is unavailable at once")
        for name, answer in r["internal"].items():
            check(answer == "error unexpected_message",
                  "the node has no way to hand out %s (%s)" % (name, answer))
        for name, answer in r["issue"].items():
            check(answer == "error unexpected_message",
                  "%s signs nothing for a user value a caller brings (%s)"
                  % (name, answer[:60]))
        check(not any("SIGNED" in v or "ANSWERED" in v
                      for v in r["issue"].values()),
              "no handle answered (issue, user) with anything")

        check(r["login_wrong"].startswith("error unauthenticated"),
              "a wrong password gets no token (%s)" % r["login_wrong"])
        token = r["login"]["token"]
        claims = jwt.decode(token, KEY, algorithms=["HS256"],
                            audience="herald", issuer="herald")
        check(claims["sub"] == str(alice["id"]) and claims["role"] == "user",
              "a login signs the stored role of the user it checked (%r)"
              % claims)
        check(str(root["id"]) != claims["sub"],
              "the probe got nothing for the admin it named nothing about")

        check(r["after_stray"].startswith("ANSWERED"),
              "the user service still answers after a stray error and an "
              "exit message from another node (%s)" % r["after_stray"][:80])
        st = ctl_json(node, "status")
        check(all(c["state"] == "running" for c in st["components"]),
              "every component still runs")
        log = node.read_log()
        check("ignored an exit message from another node" in log
              and "ignored an error message nobody asked for" in log,
              "the node logs what it ignored")
        check(PW not in log and token not in log,
              "neither the password nor the token is in the node's log")

finish()
