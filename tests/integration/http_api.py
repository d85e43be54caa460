"""The HTTP API end to end (needs: mysql): a herald node with the gateway, a
real MariaDB, an aiosmtpd SMTP sink. Every route with its happy path, its
error cases and its headers; every answer is checked against the OpenAPI
document (bridges/http/openapi.json, which the node must serve unchanged)."""

import base64
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import (Database, Node, SmtpSink, body_text, check, ctl,
                            ctl_json, finish, wait_until)
from openapi_check import Client, OpenApi

PW = "correct horse battery staple"
ORIGIN = "https://app.example.test"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def problem(res, status, code=None, field=None, what=""):
    """Checks a problem answer: status, code, field, request id."""
    ok = res.status == status
    body = {}
    try:
        body = res.json()
    except ValueError:
        ok = False
    ok = ok and (code is None or body.get("code") == code)
    ok = ok and (field is None or body.get("field") == field)
    ok = ok and body.get("request_id") == res.header("X-Request-Id")
    check(ok, "%s -> %d%s%s (got %r)" % (what, status,
                                         " " + code if code else "",
                                         " field " + field if field else "",
                                         res))
    return body


def reset_token(msg):
    m = re.search(r"/reset-password\?token=([A-Za-z0-9_-]+)", body_text(msg))
    return m.group(1) if m else None


with Database() as db, SmtpSink() as sink:
    node = Node(db.name, gateway=True,
                extra=["--smtp.url=" + sink.url(),
                       '--http.cors-origins=["%s"]' % ORIGIN,
                       "--outbox.backoff-min=200ms",
                       "--outbox.backoff-max=1s"])
    with node:
        api = OpenApi.load(node.url)
        check(True, "the served /v1/openapi.json equals the file")
        c = Client(node.url, api, check)
        rq = c.request

        # -- sign-up ------------------------------------------------------------
        res = rq("POST", "/v1/users", headers={"X-Request-Id": "apitests-signup-1"},
                 json_body={"name": "Alice", "email": "Alice@Example.org",
                            "password": PW})
        alice = res.json() if res.status == 201 else {}
        check(res.status == 201 and alice.get("email") == "alice@example.org"
              and alice.get("role") == "user",
              "sign-up -> 201 with the user (email lower-cased): %r" % res)
        check(res.header("Location") == "/v1/users/%s" % alice.get("id"),
              "sign-up: Location is the user's URL: %r" % res.header("Location"))
        check("password" not in res.body.decode(),
              "sign-up: the answer holds no password field")
        bob = rq("POST", "/v1/users", json_body={
            "name": "Bob", "email": "bob@example.org", "password": PW}).json()
        problem(rq("POST", "/v1/users", json_body={
            "name": "Alice 2", "email": "ALICE@example.org", "password": PW}),
            409, "conflict", what="sign-up with a taken email (other case)")
        problem(rq("POST", "/v1/users", json_body={
            "name": "Carol", "email": "carol@example.org"}),
            400, "bad_request", "password", what="sign-up without password")
        problem(rq("POST", "/v1/users", json_body={
            "name": 5, "email": "carol@example.org", "password": PW}),
            400, "bad_request", "name", what="sign-up with a number as name")
        problem(rq("POST", "/v1/users", json_body={
            "name": "Carol", "email": "carol@example.org", "password": PW,
            "role": "admin"}),
            400, "bad_request", "role", what="sign-up with an unknown field")
        problem(rq("POST", "/v1/users", body='{"name": "x", "name": "y", '
                   '"email": "c@example.org", "password": "%s"}' % PW,
                   content_type="application/json"),
                400, "bad_request", "name", what="sign-up with a field twice")
        problem(rq("POST", "/v1/users", body="{not json",
                   content_type="application/json"),
                400, "bad_request", what="sign-up with malformed JSON")
        problem(rq("POST", "/v1/users", body="[1, 2]",
                   content_type="application/json"),
                400, "bad_request", what="sign-up with an array")
        problem(rq("POST", "/v1/users", body="", content_type="application/json"),
                400, "bad_request", what="sign-up with an empty body")
        problem(rq("POST", "/v1/users", body="[" * 40 + "]" * 40, content_type="application/json"),
                400, "bad_request", what="sign-up nested 40 deep")
        problem(rq("POST", "/v1/users", body=json.dumps({
            "name": "Carol", "email": "carol@example.org", "password": PW}),
            content_type="text/plain"),
            415, "unsupported_media_type", what="sign-up as text/plain")
        problem(rq("POST", "/v1/users", body=json.dumps({
            "name": "Carol", "email": "carol@example.org", "password": PW})),
            415, "unsupported_media_type", what="sign-up without Content-Type")
        check(rq("POST", "/v1/users", body=json.dumps({
            "name": "Carol", "email": "carol@example.org", "password": PW}),
            content_type="Application/JSON; charset=utf-8").status == 201,
            "sign-up with Content-Type parameters and other case -> 201")
        problem(rq("POST", "/v1/users", json_body={
            "name": "Dave", "email": "dave@example.org", "password": "short"}),
            422, "invalid_argument", "password", what="sign-up, weak password")
        problem(rq("POST", "/v1/users", json_body={
            "name": "Dave", "email": "not-an-email", "password": PW}),
            422, "invalid_argument", "email", what="sign-up, malformed email")
        problem(rq("POST", "/v1/users", json_body={
            "name": "x" * 101, "email": "dave@example.org", "password": PW}),
            422, "invalid_argument", "name", what="sign-up, name too long")
        problem(rq("POST", "/v1/users", body=b"x" * (70 * 1024),
                   content_type="application/json"),
                413, "body_too_large", what="sign-up, 70 KB body")

        # -- login --------------------------------------------------------------
        res = rq("POST", "/v1/sessions", json_body={"email": "alice@example.org",
                                                    "password": PW})
        check(res.status == 200 and res.header("Cache-Control") == "no-store",
              "login -> 200 with Cache-Control: no-store: %r" % res)
        sess = res.json() if res.status == 200 else {}
        alice_token = sess.get("access_token", "")
        check(sess.get("token_type") == "Bearer"
              and 0 < sess.get("expires_in", 0) <= 24 * 3600,
              "login: Bearer token with expires_in: %r" % sess)
        bob_token = rq("POST", "/v1/sessions", json_body={
            "email": "BOB@example.org", "password": PW}).json().get("access_token")
        unknown = rq("POST", "/v1/sessions", json_body={
            "email": "nobody@example.org", "password": PW})
        wrong = rq("POST", "/v1/sessions", json_body={
            "email": "alice@example.org", "password": PW + "!"})
        for name, r in [("unknown email", unknown), ("wrong password", wrong)]:
            problem(r, 401, "unauthenticated", what="login, " + name)
            check(r.header("WWW-Authenticate") is not None,
                  "login, %s: WWW-Authenticate" % name)
        strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}
        check(unknown.status == wrong.status == 401
              and strip(unknown) == strip(wrong),
              "login: the same answer for an unknown email and a wrong "
              "password: %r / %r" % (unknown, wrong))
        problem(rq("POST", "/v1/sessions", json_body={"email": "alice@example.org"}),
                400, "bad_request", "password", what="login without password")
        problem(rq("POST", "/v1/sessions", json_body={
            "email": ["alice@example.org"], "password": PW}),
            400, "bad_request", "email", what="login with an array as email")

        # -- the user resource ----------------------------------------------------
        res = rq("GET", "/v1/users/me", token=alice_token)
        check(res.status == 200 and res.json() == alice,
              "GET /v1/users/me -> the caller: %r" % res)
        res = rq("GET", "/v1/users/%d" % alice["id"], token=alice_token)
        check(res.status == 200 and res.json() == alice,
              "GET own id -> 200: %r" % res)
        problem(rq("GET", "/v1/users/%d" % bob["id"], token=alice_token),
                403, "forbidden", what="GET another user's id")
        for bad in ["abc", "0", "-1", "1" * 21, "%20"]:
            problem(rq("GET", "/v1/users/" + bad, token=alice_token,
                       template="/v1/users/{id}"),
                    404, "not_found", what="GET /v1/users/%s" % bad)
        for label, hdr in [("no token", {}),
                           ("Basic credentials", {"Authorization": "Basic YTpi"}),
                           ("a garbage Bearer token",
                            {"Authorization": "Bearer garbage"}),
                           ("an empty Bearer token", {"Authorization": "Bearer "})]:
            r = rq("GET", "/v1/users/me", headers=hdr)
            problem(r, 401, "unauthenticated", what="GET /v1/users/me with " + label)
            check((r.header("WWW-Authenticate") or "").startswith("Bearer"),
                  "%s: WWW-Authenticate: Bearer" % label)
        # A token whose payload says it expired long ago (re-encoded, so its
        # signature no longer fits), and one that claims alg none.
        head, payload, sig = alice_token.split(".")
        claims = json.loads(unb64(payload))
        claims["exp"] = claims["iat"] - 10
        expired = "%s.%s.%s" % (head, b64(json.dumps(claims).encode()), sig)
        none_alg = "%s.%s." % (b64(b'{"alg":"none","typ":"JWT"}'), payload)
        for label, tok in [("an expired-looking token", expired),
                           ("an alg-none token", none_alg),
                           ("a token with a flipped signature",
                            alice_token[:-2] + ("A" if alice_token[-2] != "A"
                                                else "B") + alice_token[-1])]:
            r = rq("GET", "/v1/users/me", token=tok)
            problem(r, 401, "unauthenticated", what="GET /v1/users/me with " + label)
            check(r.header("WWW-Authenticate") is not None,
                  "%s: WWW-Authenticate" % label)

        # -- token validation -----------------------------------------------------
        res = rq("POST", "/v1/tokens/validate", json_body={"token": alice_token})
        body = res.json() if res.status == 200 else {}
        check(res.status == 200 and body.get("active") is True
              and body["claims"]["sub"] == str(alice["id"])
              and body["claims"]["role"] == "user",
              "tokens/validate -> 200 active with the claims: %r" % res)
        problem(rq("POST", "/v1/tokens/validate", json_body={"token": expired}),
                401, "unauthenticated", what="tokens/validate, forged token")
        problem(rq("POST", "/v1/tokens/validate", json_body={"token": ""}),
                401, "unauthenticated", what="tokens/validate, empty token")
        problem(rq("POST", "/v1/tokens/validate", json_body={}),
                400, "bad_request", "token", what="tokens/validate without token")

        # -- admin and the listing ------------------------------------------------
        admin = ctl_json(node, "user", "create", "--name", "Root", "--email",
                         "root@example.org", "--password", PW, "--admin")
        admin_token = rq("POST", "/v1/sessions", json_body={
            "email": "root@example.org", "password": PW}).json()["access_token"]
        res = rq("GET", "/v1/users/%d" % bob["id"], token=admin_token)
        check(res.status == 200 and res.json()["id"] == bob["id"],
              "an admin reads another user: %r" % res)
        problem(rq("GET", "/v1/users/999999", token=admin_token), 404,
                "not_found", what="an admin reads a missing user")
        problem(rq("GET", "/v1/users", token=alice_token), 403, "forbidden",
                what="a user lists users")
        problem(rq("GET", "/v1/users"), 401, "unauthenticated",
                what="list without a token")
        for q, field in [("limit=0", "limit"), ("limit=101", "limit"),
                         ("limit=abc", "limit"), ("limit=-1", "limit"),
                         ("limit=", "limit"), ("limit=0100", "limit"),
                         ("after=garbage!", "after"), ("after=AAAA", "after"),
                         ("after=" + "A" * 17, "after"),
                         ("page=2", "page"), ("limit=5&limit=6", None),
                         ("limit=%zz", None)]:
            problem(rq("GET", "/v1/users?" + q, token=admin_token), 400,
                    "bad_request", field, what="list ?" + q)
        res = rq("GET", "/v1/users?limit=100", token=admin_token)
        check(res.status == 200 and res.json()["next"] is None
              and len(res.json()["items"]) == 4,
              "list ?limit=100: every user on one page, next null: %r" % res)
        res = rq("GET", "/v1/users?limit=1", token=admin_token)
        check(res.status == 200 and len(res.json()["items"]) == 1
              and isinstance(res.json()["next"], str),
              "list ?limit=1: one user and a cursor")
        res = rq("GET", "/v1/users", token=admin_token)
        check(res.status == 200 and len(res.json()["items"]) == 4,
              "list without limit -> up to 20")

        # Paging while users come and go: no user twice, none missing that
        # existed throughout.
        made = []
        for i in range(30):
            r = rq("POST", "/v1/users", json_body={
                "name": "User %d" % i, "email": "u%d@example.org" % i,
                "password": PW})
            made.append(r.json()["id"])
        throughout = set(u["id"] for u in rq("GET", "/v1/users?limit=100",
                                             token=admin_token).json()["items"])
        seen, pages, after = [], 0, None
        added, deleted, deleted_unseen = [], set(), set()
        while True:
            target = "/v1/users?limit=7" + ("&after=" + after if after else "")
            res = rq("GET", target, token=admin_token)
            if res.status != 200:
                check(False, "paging: %s -> %r" % (target, res))
                break
            page = res.json()
            ids = [u["id"] for u in page["items"]]
            check(ids == sorted(ids), "page %d in id order" % pages)
            seen += ids
            pages += 1
            # Between pages: add one, delete one not yet seen, delete one
            # already seen.
            r = rq("POST", "/v1/users", json_body={
                "name": "Late %d" % pages, "email": "late%d@example.org" % pages,
                "password": PW})
            added.append(r.json()["id"])
            ahead = [x for x in made if x not in seen and x not in deleted]
            behind = [x for x in made if x in seen and x not in deleted]
            for victim in (ahead[-1:] + behind[:1]):
                check(rq("DELETE", "/v1/users/%d" % victim,
                         token=admin_token).status == 204,
                      "delete user %d while paging" % victim)
                deleted.add(victim)
                if victim not in seen:
                    deleted_unseen.add(victim)
            after = page["next"]
            if after is None or pages > 20:
                break
        check(len(seen) == len(set(seen)), "paging: no user twice (%d seen in "
              "%d pages)" % (len(seen), pages))
        missing = (throughout - deleted) - set(seen)
        check(not missing, "paging: every user that existed throughout was "
              "listed (missing %s)" % sorted(missing))
        check(not (deleted_unseen & set(seen)),
              "paging: no user deleted before its page came is listed")
        check(set(added[:-1]) <= set(seen),
              "paging: users added meanwhile (ids above the cursor) show up")
        check(pages >= 5, "paging took several pages: %d" % pages)

        # -- PATCH ----------------------------------------------------------------
        uid = alice["id"]
        res = rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                 json_body={"name": "Alice Ünal"})
        check(res.status == 200 and res.json()["name"] == "Alice Ünal",
              "PATCH name -> 200 (UTF-8 intact): %r" % res)
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   json_body={"email": "alice2@example.org"}),
                403, "forbidden", "current_password",
                what="PATCH email without current_password")
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   json_body={"email": "alice2@example.org",
                              "current_password": "not it at all, sorry"}),
                403, "forbidden", "current_password",
                what="PATCH email with a wrong current_password")
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   json_body={"email": "bob@example.org", "current_password": PW}),
                409, "conflict", what="PATCH email to a taken one")
        res = rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                 json_body={"email": "alice2@example.org", "current_password": PW})
        check(res.status == 200 and res.json()["email"] == "alice2@example.org",
              "PATCH email with current_password -> 200: %r" % res)
        # A new email ends the sessions made under the old one.
        problem(rq("GET", "/v1/users/me", token=alice_token), 401,
                "unauthenticated", what="the token from before the email "
                "change")
        alice = rq("GET", "/v1/users/me", token=rq("POST", "/v1/sessions",
                   json_body={"email": "alice2@example.org",
                              "password": PW}).json()["access_token"]).json()
        alice_token = rq("POST", "/v1/sessions", json_body={
            "email": "alice2@example.org", "password": PW}).json()["access_token"]
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   json_body={"role": "admin"}),
                403, "forbidden", "role", what="PATCH role by a non-admin")
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   json_body={}), 400, "bad_request", what="PATCH nothing")
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   json_body={"nickname": "al"}), 400, "bad_request", "nickname",
                what="PATCH an unknown field")
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   json_body={"name": None}), 400, "bad_request", "name",
                what="PATCH name null")
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   json_body={"password": "short", "current_password": PW}),
                422, "invalid_argument", "password", what="PATCH a weak password")
        problem(rq("PATCH", "/v1/users/%d" % bob["id"], token=alice_token,
                   json_body={"name": "Mallory"}), 403, "forbidden",
                what="PATCH another user")
        problem(rq("PATCH", "/v1/users/%d" % uid, json_body={"name": "x"}),
                401, "unauthenticated", what="PATCH without a token")
        problem(rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                   body="name=x", content_type="application/x-www-form-urlencoded"),
                415, "unsupported_media_type", what="PATCH with a form")
        NEW_PW = "another fine passphrase"
        res = rq("PATCH", "/v1/users/%d" % uid, token=alice_token,
                 json_body={"password": NEW_PW, "current_password": PW})
        check(res.status == 200 and res.json()["token_version"]
              > alice["token_version"],
              "PATCH password -> 200, token_version went up: %r" % res)
        problem(rq("GET", "/v1/users/me", token=alice_token), 401,
                "unauthenticated", what="the token from before the password "
                "change")
        problem(rq("POST", "/v1/tokens/validate", json_body={"token": alice_token}),
                401, "unauthenticated", what="validate the revoked token")
        res = rq("POST", "/v1/sessions", json_body={"email": "alice2@example.org",
                                                    "password": NEW_PW})
        check(res.status == 200, "login with the new password -> 200")
        alice_token = res.json().get("access_token", "")
        # An admin needs no current password and changes roles.
        res = rq("PATCH", "/v1/users/%d" % bob["id"], token=admin_token,
                 json_body={"password": "set by the admin here"})
        check(res.status == 200, "admin PATCH password without "
              "current_password -> 200: %r" % res)
        problem(rq("GET", "/v1/users/me", token=bob_token), 401,
                "unauthenticated", what="Bob's token after the admin set his "
                "password")
        res = rq("PATCH", "/v1/users/%d" % bob["id"], token=admin_token,
                 json_body={"role": "admin", "name": "Bob the Admin"})
        check(res.status == 200 and res.json()["role"] == "admin"
              and res.json()["name"] == "Bob the Admin",
              "admin PATCH role and name -> 200: %r" % res)
        problem(rq("PATCH", "/v1/users/%d" % bob["id"], token=admin_token,
                   json_body={"role": "superuser"}), 422, "invalid_argument",
                what="PATCH an unknown role")
        problem(rq("PATCH", "/v1/users/999999", token=admin_token,
                   json_body={"name": "Ghost"}), 404, "not_found",
                what="admin PATCH a missing user")

        # -- DELETE ---------------------------------------------------------------
        problem(rq("DELETE", "/v1/users/%d" % admin["id"], token=alice_token),
                403, "forbidden", what="DELETE another user")
        res = rq("DELETE", "/v1/users/%d" % uid, token=alice_token)
        check(res.status == 204 and res.body == b"", "DELETE self -> 204: %r" % res)
        r = rq("GET", "/v1/users/me", token=alice_token)
        check(r.status in (401, 404), "the deleted user's token -> 401/404: %r" % r)
        problem(rq("GET", "/v1/users/%d" % uid, token=admin_token), 404,
                "not_found", what="GET the deleted user")
        problem(rq("DELETE", "/v1/users/%d" % uid, token=admin_token), 404,
                "not_found", what="DELETE the deleted user again")
        problem(rq("DELETE", "/v1/users/%d" % uid), 401, "unauthenticated",
                what="DELETE without a token")

        # -- password resets ------------------------------------------------------
        mails_before = len(sink.mails())
        known = rq("POST", "/v1/password-resets",
                   json_body={"email": "carol@example.org"})
        unknown = rq("POST", "/v1/password-resets",
                     json_body={"email": "nobody@example.org"})
        check(known.status == unknown.status == 202
              and known.body == unknown.body,
              "password-resets: 202 and the same body for a known and an "
              "unknown email: %r / %r" % (known, unknown))
        problem(rq("POST", "/v1/password-resets", json_body={"email": "nope"}),
                422, "invalid_argument", "email",
                what="password-resets, malformed email")
        problem(rq("POST", "/v1/password-resets", json_body={"mail": "x"}),
                400, "bad_request", "mail", what="password-resets, wrong field")

        def wait_reset_mail(to, count):
            def got():
                ms = [m for m in sink.mails() if m["To"] == to
                      and reset_token(m)]
                return ms if len(ms) >= count else None
            return wait_until(got, timeout=30) or []

        mails = wait_reset_mail("carol@example.org", 1)
        token = reset_token(mails[-1]) if mails else None
        check(token is not None, "the reset mail arrives with a link")
        token = token or "A" * 43
        res = rq("GET", "/reset-password?token=" + token)
        check(res.status == 200 and b"<form" in res.body
              and "default-src 'none'" in (res.header("Content-Security-Policy")
                                           or ""),
              "GET the mailed link -> 200, the form with a strict CSP")
        problem(rq("POST", "/v1/password-resets/confirm", json_body={
            "token": token, "password": "short"}), 422, "invalid_argument",
            "password", what="confirm with a weak password")
        NEW_C = "carol's brand new passphrase"
        res = rq("POST", "/v1/password-resets/confirm", json_body={
            "token": token, "password": NEW_C})
        check(res.status == 204 and res.body == b"",
              "confirm with the mailed token -> 204: %r" % res)
        problem(rq("POST", "/v1/password-resets/confirm", json_body={
            "token": token, "password": NEW_C + "!"}), 400, "already_used",
            "token", what="confirm the same token again")
        check(rq("POST", "/v1/sessions", json_body={
            "email": "carol@example.org", "password": NEW_C}).status == 200,
            "login with the password set by the reset")
        problem(rq("POST", "/v1/password-resets/confirm", json_body={
            "token": "garbage", "password": NEW_C}), 422, "invalid_argument",
            "token", what="confirm a malformed token")
        problem(rq("POST", "/v1/password-resets/confirm", json_body={
            "token": "A" * 43, "password": NEW_C}), 400, "not_found", "token",
            what="confirm an unknown well-formed token")
        problem(rq("POST", "/v1/password-resets/confirm", json_body={
            "token": token}), 400, "bad_request", "password",
            what="confirm without password")
        res = rq("GET", "/reset-password?token=" + token)
        check(res.status == 410, "GET the used link -> 410: %r" % res)
        for q in ["", "?token=", "?token=garbage", "?x=1", "?token=%zz"]:
            res = rq("GET", "/reset-password" + q)
            check(res.status == 400 and b"<html" in res.body,
                  "GET /reset-password%s -> 400 page: %r" % (q, res))
        # The page's form: a second link, wrong then right.
        rq("POST", "/v1/password-resets", json_body={"email": "carol@example.org"})
        mails = wait_reset_mail("carol@example.org", 2)
        token2 = reset_token(mails[-1]) if len(mails) >= 2 else "B" * 43
        from urllib.parse import urlencode
        form = lambda **kw: urlencode(kw)
        res = rq("POST", "/reset-password", body=form(
            token=token2, password="one passphrase here!", password2="another"),
            content_type="application/x-www-form-urlencoded")
        check(res.status == 422 and b"differ" in res.body,
              "page: differing passwords -> 422 with the form: %r" % res)
        res = rq("POST", "/reset-password", body=form(
            token=token2, password="tiny", password2="tiny"),
            content_type="application/x-www-form-urlencoded")
        check(res.status == 422, "page: a weak password -> 422: %r" % res)
        res = rq("POST", "/reset-password", body=form(
            token=token2, password=NEW_C + " 2", password2=NEW_C + " 2"),
            content_type="application/x-www-form-urlencoded")
        check(res.status == 200 and b"changed" in res.body,
              "page: matching passwords -> 200 changed: %r" % res)
        res = rq("POST", "/reset-password", body=form(
            token=token2, password=NEW_C + " 3", password2=NEW_C + " 3"),
            content_type="application/x-www-form-urlencoded")
        check(res.status == 410, "page: the used link again -> 410: %r" % res)
        res = rq("POST", "/reset-password", body="token=%zz",
                 content_type="application/x-www-form-urlencoded")
        check(res.status == 400, "page: a malformed form -> 400: %r" % res)
        problem(rq("POST", "/reset-password", json_body={"token": token2}),
                415, "unsupported_media_type", what="page: JSON instead of a form")

        # -- request ids ----------------------------------------------------------
        res = rq("GET", "/healthz", headers={"X-Request-Id": "client.id:42_a-b"})
        check(res.header("X-Request-Id") == "client.id:42_a-b",
              "a well-formed X-Request-Id is echoed")
        for bad in ["has spaces", "x" * 100, "semi;colon", "ü"]:
            try:
                res = rq("GET", "/healthz", headers={"X-Request-Id": bad})
            except UnicodeEncodeError:
                res = rq("GET", "/healthz",
                         headers={"X-Request-Id": bad.encode("utf-8").decode("latin-1")})
            rid = res.header("X-Request-Id") or ""
            check(rid != bad and re.match(r"^r-[0-9a-f]{16}$", rid),
                  "X-Request-Id %r... is replaced by a new one: %r"
                  % (bad[:12], rid))
        res = rq("GET", "/healthz")
        check(re.match(r"^r-[0-9a-f]{16}$", res.header("X-Request-Id") or ""),
              "without X-Request-Id a new one is made")
        r1 = rq("GET", "/healthz").header("X-Request-Id")
        check(r1 != res.header("X-Request-Id"), "request ids differ")
        # The service's log line for the sign-up carries the client's id.
        log = node.read_log()
        check(re.search(r"\[apitests-signup-1 by http:127\.0\.0\.1\] created "
                        r"user %d" % alice["id"], log) is not None,
              "the node log tags the sign-up with its X-Request-Id")

        # -- operations -----------------------------------------------------------
        res = rq("GET", "/healthz")
        check(res.status == 200 and res.json() == {"status": "ok"}, "healthz")
        res = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
            rq("GET", "/readyz")), timeout=20)
        check(res is not None and res.json()["status"] == "ready",
              "readyz -> 200 ready")
        res = rq("GET", "/metrics")
        text = res.body.decode()
        check(res.status == 200 and "herald_http_requests_total{" in text
              and re.search(r"(?m)^# TYPE herald_http_requests_total counter$",
                            text),
              "metrics: Prometheus text with herald_http_requests_total")
        check(re.search(r'herald_http_requests_total\{[^}]*route="/v1/users/\{id\}"',
                        text) is not None
              and "/v1/users/999999" not in text,
              "metrics label routes by template, never by the raw path")
        res = rq("GET", "/v1/openapi.json")
        check(res.status == 200 and res.json() == api.doc
              and "max-age" in (res.header("Cache-Control") or ""),
              "GET /v1/openapi.json -> the document, cacheable")

        # -- generic answers ------------------------------------------------------
        problem(rq("GET", "/v1/nothing"), 404, "not_found", what="unknown path")
        res = rq("PUT", "/v1/users/%d" % bob["id"], json_body={})
        problem(res, 405, "method_not_allowed", what="PUT /v1/users/{id}")
        check(set((res.header("Allow") or "").split(", "))
              == {"GET", "PATCH", "DELETE"}, "405: Allow lists GET, PATCH, "
              "DELETE: %r" % res.header("Allow"))
        # RFC 9110 9.3.2: an answer to HEAD has no content (whatever its
        # status).
        for target in ["/healthz", "/v1/nothing"]:
            with socket.create_connection(("127.0.0.1", node.http_port),
                                          timeout=10) as s:
                s.sendall(("HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: "
                           "close\r\n\r\n" % target).encode())
                raw = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    raw += chunk
            head, _, rest = raw.partition(b"\r\n\r\n")
            check(head.startswith(b"HTTP/1.1 ") and rest == b"",
                  "HEAD %s -> %r without a body (got %d bytes after the "
                  "header)" % (target, head[:12], len(rest)))
        res = rq("GET", "/healthz", headers={"X-Pad": "x" * 9000})
        problem(res, 431, "header_too_large", what="9 KB of headers")

        # -- CORS -----------------------------------------------------------------
        res = rq("GET", "/healthz", headers={"Origin": ORIGIN})
        check(res.header("Access-Control-Allow-Origin") == ORIGIN
              and "X-Request-Id" in (res.header("Access-Control-Expose-Headers")
                                     or "")
              and "Origin" in (res.header("Vary") or ""),
              "an allowed Origin gets Access-Control-Allow-Origin: %r"
              % res.headers)
        res = rq("GET", "/healthz", headers={"Origin": "https://evil.example"})
        check(res.header("Access-Control-Allow-Origin") is None
              and "Origin" in (res.header("Vary") or ""),
              "a foreign Origin gets no Access-Control-Allow-Origin")
        res = rq("OPTIONS", "/v1/users/7", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type"},
            template="/v1/users/{id}")
        check(res.status == 204
              and res.header("Access-Control-Allow-Origin") == ORIGIN
              and "PATCH" in (res.header("Access-Control-Allow-Methods") or "")
              and "Authorization" in (res.header("Access-Control-Allow-Headers")
                                      or ""),
              "OPTIONS preflight from an allowed origin -> 204 with the CORS "
              "headers: %r" % res.headers)
        res = rq("OPTIONS", "/v1/sessions", headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST"})
        check(res.status == 204
              and res.header("Access-Control-Allow-Origin") is None,
              "OPTIONS preflight from a foreign origin: no allow-origin")
        problem(rq("OPTIONS", "/nowhere"), 404, "not_found",
                what="OPTIONS on an unknown path")

        check(rq("GET", "/healthz").status == 200, "the node is still up")
        check(c.checked > 150 and not c.mismatches,
              "all %d answers matched the OpenAPI document (%d did not)"
              % (c.checked, len(c.mismatches)))
finish()
