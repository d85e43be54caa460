"""End to end (needs: mysql): a real MariaDB, a herald-node, heraldctl as a
user would run it, PyJWT as an outside judge of the tokens."""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import jwt  # PyJWT (python3-jwt, Debian)

from herald_harness import (DEV_SECRET, Database, Node, b64url_decode, check,
                            ctl, ctl_json, finish, sql)

KEY = b64url_decode(DEV_SECRET)
PW = "correct horse battery staple"


def expect_error(node, args, code, rc=1, stdin=None, what=""):
    out = ctl(node, *args, stdin=stdin, check_rc=None)
    lines = out.stderr.strip().splitlines()
    check(out.returncode == rc and len(lines) == 1 and code in lines[0],
          "%s -> exit %d with one line '%s' (got %d: %r)"
          % (what or " ".join(args), rc, code, out.returncode, out.stderr))


with Database() as db:
    with Node(db.name) as node:
        st = ctl_json(node, "status")
        check(st["name"].startswith("test-") and st["users_estimate"] == 0
              and st["storage_state"] == "ok", "status reports node and storage")
        human = ctl(node, "status").stdout
        check("storage:" in human and "ok" in human
              and "users (estimate):" in human, "status prints for people")
        check("password" not in json.dumps(st).lower(),
              "status shows no secret")
        names = [c["name"] for c in st["components"]]
        check(names == ["storage", "hasher", "token", "event-bus", "smtp",
                        "mailer", "outbox-relay", "user", "session", "reset"]
              and all(c["state"] == "running" for c in st["components"]),
              "status lists the components of the roles, running (%r)"
              % st["components"])
        check(len(st["instance"]) == 16, "status names the node's instance")

        # -- create, get, list ------------------------------------------------
        alice = ctl_json(node, "user", "create", "--name", "Alice O'Hara \\ \"Ä\" 🙂",
                         "--email", "Alice@Example.ORG", stdin=PW + "\n")
        check(alice["email"] == "alice@example.org", "email stored lower-cased")
        check(alice["name"] == "Alice O'Hara \\ \"Ä\" 🙂",
              "quotes, backslash, umlaut and emoji round-trip verbatim")
        check(alice["role"] == "user", "new users are plain users")
        got = ctl_json(node, "user", "get", str(alice["id"]))
        check(got == alice, "user get by id answers the created user")
        got = ctl_json(node, "user", "get", "ALICE@example.org")
        check(got["id"] == alice["id"], "user get by email ignores case")
        row = sql("SELECT password_hash FROM users WHERE id=%d" % alice["id"],
                  db.name)
        check(row[0][0].startswith("$argon2id$v=19$m=19456,t=2,p=1$"),
              "stored hash is argon2id with OWASP parameters")
        for i in range(4):
            ctl_json(node, "user", "create", "--name", "U%d" % i, "--email",
                     "u%d@example.org" % i, "--password", PW)
        # -- the request context goes with the request --------------------------
        traced = ctl_json(node, "--request-id", "e2e-trace-1", "user",
                          "create", "--name", "Traced", "--email",
                          "traced@example.org", "--password", PW)
        row = sql("SELECT request_id, caller FROM outbox WHERE topic = "
                  "'user.created' AND data LIKE '%%traced@example.org%%' "
                  "UNION ALL SELECT 'none', 'none' LIMIT 1", db.name)
        # The relay may have delivered (deleted) the row already; if it is
        # still there it carries the context.
        check(row[0] in (["e2e-trace-1", "operator:heraldctl"],
                         ["none", "none"]),
              "the outbox row carries the request id and caller (%r)" % row)
        check("[e2e-trace-1 by operator:heraldctl] created user %d"
              % traced["id"] in node.read_log(),
              "the node's log line names the request")
        expect_error(node, ["--request-id", "bad id with spaces", "status"],
                     "request id", rc=2, what="a request id with spaces")
        ctl(node, "user", "delete", str(traced["id"]))
        # Keyset pages: each continues after the last id of the one before,
        # so the deleted user leaves no gap and shifts nothing.
        seen = []
        after = "0"
        pages = 0
        while True:
            page = ctl_json(node, "user", "list", "--after", after,
                            "--limit", "2")
            pages += 1
            seen += [u["email"] for u in page["items"]]
            if page["next"] is None:
                break
            check(page["next"] == page["items"][-1]["id"],
                  "next is the last id of the page (%r)" % page)
            after = str(page["next"])
        check(pages == 3 and seen == ["alice@example.org", "u0@example.org",
                                      "u1@example.org", "u2@example.org",
                                      "u3@example.org"],
              "list pages by id until next is null (%d pages: %r)"
              % (pages, seen))
        page = ctl_json(node, "user", "list", "--limit", "5")
        check(len(page["items"]) == 5 and page["next"] is None,
              "a page holding exactly the last users has no next (%r)"
              % page["next"])
        human = ctl(node, "user", "list", "--limit", "2").stdout
        u0 = seen[1]
        u0_id = ctl_json(node, "user", "get", u0)["id"]
        check(("next page: heraldctl --node 127.0.0.1:%d user list --after %d "
               "--limit 2" % (node.port, u0_id)) in human,
              "list prints the command for the next page (%r)" % human)
        human = ctl(node, "user", "list").stdout
        check("u3@example.org" in human and "5 shown, no more" in human,
              "the last page says so (%r)" % human)
        for limit in ["0", "101"]:
            expect_error(node, ["user", "list", "--limit", limit],
                         "invalid_argument", what="list --limit %s" % limit)
        out = ctl(node, "user", "list", "--after", "-1", check_rc=2)
        check("--after" in out.stderr, "list --after -1 is a usage error (%r)"
              % out.stderr)

        # -- login and tokens -------------------------------------------------
        login = ctl_json(node, "login", "--email", "alice@example.org",
                         stdin=PW + "\n")
        token = login["token"]
        claims = jwt.decode(token, KEY, algorithms=["HS256"],
                            audience="herald", issuer="herald")
        check(claims["sub"] == str(alice["id"]) and "jti" in claims
              and "exp" in claims and "iat" in claims,
              "PyJWT verifies our token and its claims")
        check(jwt.get_unverified_header(token).get("kid") == "dev-1",
              "token header carries kid")
        check(not any("hash" in k or "password" in k for k in claims),
              "claims carry no password hash")
        check(not any(v == row[0][0] for v in claims.values()),
              "claims do not contain the stored hash")
        valid = ctl_json(node, "token", "validate", token)
        check(valid["sub"] == str(alice["id"]), "heraldctl validates our token")
        now = int(time.time())
        theirs = jwt.encode({"sub": str(alice["id"]), "iss": "herald",
                             "aud": "herald", "iat": now, "nbf": now,
                             "exp": now + 300, "jti": "py-1", "ver": 0,
                             "role": "user"}, KEY, algorithm="HS256",
                            headers={"kid": "dev-1"})
        check(ctl_json(node, "token", "validate", theirs)["jti"] == "py-1",
              "a token PyJWT made with our key and claims validates")

        # -- bad tokens ---------------------------------------------------------
        h, p, s = token.split(".")
        forged = jwt.encode(dict(claims, role="admin"), KEY[:-1] + b"x",
                            algorithm="HS256", headers={"kid": "dev-1"})
        none_tok = jwt.encode(dict(claims), None, algorithm="none")
        bad = {
            "tampered payload": h + "." + p[:-2] + ("AA" if p[-2:] != "AA" else "BB") + "." + s,
            "tampered signature": h + "." + p + "." + s[:-2] + ("AA" if s[-2:] != "AA" else "BB"),
            "truncated": token[:-10],
            "two segments": h + "." + p,
            "alg none": none_tok,
            "wrong key": forged,
            "expired": jwt.encode(dict(claims, exp=now - 3600, iat=now - 7200,
                                       nbf=now - 7200), KEY, algorithm="HS256",
                                  headers={"kid": "dev-1"}),
            "wrong issuer": jwt.encode(dict(claims, iss="evil"), KEY,
                                       algorithm="HS256",
                                       headers={"kid": "dev-1"}),
            "unknown kid": jwt.encode(dict(claims), KEY, algorithm="HS256",
                                      headers={"kid": "dev-9"}),
            "garbage": "not-a-token",
        }
        for name, tok in bad.items():
            want = "expired" if name == "expired" else "unauthenticated"
            expect_error(node, ["token", "validate", tok], want,
                         what="token validate (%s)" % name)

        # -- bad input, nothing written -----------------------------------------
        before = sql("SELECT COUNT(*), MAX(updated_at) FROM users", db.name)
        for email in ["not-an-email", "a@b", "x@@example.org", ""]:
            expect_error(node, ["user", "create", "--name", "X", "--email",
                                email, "--password", PW],
                         "invalid_argument", what="create with email %r" % email)
        expect_error(node, ["user", "create", "--name", "X", "--email",
                            "ALICE@example.org", "--password", PW],
                     "conflict", what="create with a taken email")
        expect_error(node, ["user", "create", "--name", "", "--email",
                            "e@example.org", "--password", PW],
                     "invalid_argument", what="create with an empty name")
        expect_error(node, ["user", "create", "--name", "n" * 101, "--email",
                            "e@example.org", "--password", PW],
                     "invalid_argument", what="create with a 101-char name")
        expect_error(node, ["user", "create", "--name", "X", "--email",
                            "e@example.org", "--password", "short"],
                     "invalid_argument", what="create with a short password")
        expect_error(node, ["user", "create", "--name", "X", "--email",
                            "e@example.org"], "invalid_argument",
                     stdin="p" * 1025 + "\n",
                     what="create with a 1025-byte password")
        expect_error(node, ["login", "--email", "alice@example.org",
                            "--password", PW + "x"], "unauthenticated",
                     what="login with a wrong password")
        expect_error(node, ["login", "--email", "nobody@example.org",
                            "--password", PW], "unauthenticated",
                     what="login with an unknown email")
        expect_error(node, ["user", "get", "999999"], "not_found",
                     what="get an unknown id")
        expect_error(node, ["user", "delete", "999999"], "not_found",
                     what="delete an unknown id")
        expect_error(node, ["user", "get", "abc"], "not a user id", rc=2,
                     what="get a non-numeric id")
        expect_error(node, ["user", "update", str(alice["id"]), "--email",
                            "u1@example.org"], "conflict",
                     what="update to a taken email")
        after = sql("SELECT COUNT(*), MAX(updated_at) FROM users", db.name)
        check(before == after, "bad input wrote nothing")

        # -- garbage on the cluster port ----------------------------------------
        for payload in [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096),
                        b"\x00" * 64, b"\xff" * 100000]:
            with socket.create_connection(("127.0.0.1", node.port), 5) as s:
                try:
                    s.sendall(payload)
                    s.settimeout(2)
                    s.recv(1024)
                except OSError:
                    pass
        st = ctl_json(node, "status")
        check(st["storage_state"] == "ok"
              and isinstance(st["users_estimate"], int),
              "node answers normally after garbage on its port")

        # -- update, revoke, promote, delete ------------------------------------
        upd = ctl_json(node, "user", "update", str(alice["id"]), "--name",
                       "Alice")
        check(upd["name"] == "Alice", "update changes the name")
        check(ctl_json(node, "token", "validate", token)["sub"]
              == str(alice["id"]), "token survives a name change")
        upd = ctl_json(node, "user", "update", str(alice["id"]), "--email",
                       "alice@example.net")
        check(upd["email"] == "alice@example.net", "update changes the email")
        # Reset links go to the email: a new one ends the old sessions.
        expect_error(node, ["token", "validate", token], "unauthenticated",
                     what="old token after an email change")
        ctl_json(node, "user", "update", str(alice["id"]), "--password", "-",
                 stdin="a brand new passphrase\n")
        expect_error(node, ["token", "validate", token], "unauthenticated",
                     what="old token after a password change")
        expect_error(node, ["login", "--email", "alice@example.net",
                            "--password", PW], "unauthenticated",
                     what="old password after a password change")
        login2 = ctl_json(node, "login", "--email", "alice@example.net",
                          "--password", "a brand new passphrase")
        check(ctl_json(node, "token", "validate", login2["token"])["ver"] == 2,
              "new password logs in with token version 2 (email, then password)")
        adm = ctl_json(node, "user", "promote", str(alice["id"]))
        check(adm["role"] == "admin", "promote makes an admin")
        expect_error(node, ["token", "validate", login2["token"]],
                     "unauthenticated", what="token from before a role change")
        admin2 = ctl_json(node, "user", "create", "--admin", "--name", "Root",
                          "--email", "root@example.org", "--password", PW)
        check(admin2["role"] == "admin", "create --admin makes an admin")
        out = ctl(node, "user", "delete", str(alice["id"]))
        check("deleted" in out.stdout, "delete says what it did")
        expect_error(node, ["user", "get", str(alice["id"])], "not_found",
                     what="get a deleted user")

        code = node.stop()
        check(code == 0, "SIGTERM stops the node cleanly (exit %s)" % code)

    # -- start-up refusals and layering ------------------------------------------
    rc, out = Node(db.name, dev=False).run_to_exit()
    check(rc != 0 and "development key" in out,
          "production start refuses the development JWT key")
    rc, out = Node(db.name, extra=["--herald.dev-mode=false"]).run_to_exit()
    check(rc != 0 and "development key" in out,
          "--herald.dev-mode=false after the flag turns dev mode off again")
    with Node(db.name, dev=False, env={"HERALD_DEV_MODE": "true"}) as n:
        check(ctl_json(n, "status")["name"].startswith("test-"),
              "HERALD_DEV_MODE=true allows the development key")
    rc, out = Node(db.name, extra=["--token.keys=[\"k1:c2hvcnQ\"]"]).run_to_exit()
    check(rc != 0 and "at least 32" in out, "a short JWT key stops the node")
    rc, out = Node(db.name, extra=["--token.leeway=120s"]).run_to_exit()
    check(rc != 0 and "leeway" in out, "leeway above 60s stops the node")
    rc, out = Node(db.name, env={"HERALD_MYSQL_PASSWORD": "s3cr3t-Wr0ng"}).run_to_exit()
    check(rc != 0 and "s3cr3t-Wr0ng" not in out and "herald-node: error" in out,
          "a wrong DB password stops the node without printing it (%r)" % out[-300:])
    prod_key = "prod-1:" + "QUJD" * 11
    rc, out = Node(db.name, dev=False,
                   env={"HERALD_TOKEN_KEYS": "[\"%s\"]" % prod_key,
                        "HERALD_MYSQL_PASSWORD": "herald-dev-password"}).run_to_exit()
    check(rc != 0 and "development password" in out,
          "production start refuses the development database password")
    n = Node(db.name, dev=False, env={"HERALD_TOKEN_KEYS": "[\"%s\"]" % prod_key,
                                       "HERALD_TOKEN_ISSUER": "env-issuer"})
    with n:
        login = ctl_json(n, "login", "--email", "u1@example.org",
                         "--password", PW)
        c = jwt.decode(login["token"], b64url_decode("QUJD" * 11),
                       algorithms=["HS256"], audience="herald",
                       issuer="env-issuer")
        check(c["iss"] == "env-issuer", "environment overrides the file")
        ctl(n, "status")
    n = Node(db.name, extra=["--token.issuer=cli-issuer"],
             env={"HERALD_TOKEN_ISSUER": "env-issuer"})
    with n:
        login = ctl_json(n, "login", "--email", "u1@example.org",
                         "--password", PW)
        check(jwt.decode(login["token"], options={"verify_signature": False})
              ["iss"] == "cli-issuer", "command line overrides the environment")

    # -- unreachable node -------------------------------------------------------
    class Nowhere:
        port = 1
    out = ctl(Nowhere, "status", check_rc=None)
    check(out.returncode == 3 and len(out.stderr.strip().splitlines()) == 1
          and "cannot reach the node" in out.stderr
          and "nothing was sent" in out.stderr,
          "unreachable node: exit 3 and one line (%r)" % out.stderr)

# -- two nodes migrating one fresh database at once -------------------------------
with Database() as db:
    a, b = Node(db.name).start(wait=False), Node(db.name).start(wait=False)
    try:
        a.wait_ready()
        b.wait_ready()
        versions = sql("SELECT version FROM schema_migrations ORDER BY version",
                       db.name)
        check(len(versions) >= 1 and len(versions) == len(set(map(tuple, versions))),
              "two nodes starting together apply each migration once")
        u = ctl_json(a, "user", "create", "--name", "Both", "--email",
                     "both@example.org", "--password", PW)
        check(ctl_json(b, "user", "get", str(u["id"]))["email"]
              == "both@example.org", "both nodes serve the same database")
    finally:
        a.stop()
        b.stop()

finish()
