#!/usr/bin/python3
"""Cross-checks herald's JWTs with PyJWT (python3-jwt), both ways.

No node is needed: the suite `jwt_interop` of herald-test (tests/unit/
jwt_interop.cpp) validates a token this script wrote and issues one for it to
check, configured through HERALD_JWT_INTEROP_* variables. Exits non-zero and
names every failed check.
"""

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

import jwt

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import check, finish

ISSUER = "herald-interop"
AUDIENCE = "herald-interop-api"
USER = {"id": 4242, "role": "admin", "token_version": 7}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run_suite(workdir, extra):
    """Runs the jwt_interop suite with the given environment additions."""
    env = dict(os.environ)
    env.update(extra)
    proc = subprocess.run(
        [os.environ["HERALD_TEST"], "-n", "-v5", "-s", "^jwt_interop$"],
        env=env, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=120)
    passed = proc.returncode == 0 and "tests:   4" in proc.stdout
    return passed, proc.stdout


def main():
    if not os.environ.get("HERALD_TEST"):
        print("HERALD_TEST must name the herald-test binary", file=sys.stderr)
        return 2
    new_secret = secrets.token_bytes(32)
    old_secret = secrets.token_bytes(48)
    keys = f"py-new:{b64url(new_secret)},py-old:{b64url(old_secret)}"
    base_env = {
        "HERALD_JWT_INTEROP_KEYS": keys,
        "HERALD_JWT_INTEROP_ISSUER": ISSUER,
        "HERALD_JWT_INTEROP_AUDIENCE": AUDIENCE,
    }
    with tempfile.TemporaryDirectory(prefix="herald-pyjwt-") as work:
        token_in = os.path.join(work, "in.jwt")
        verdict_file = os.path.join(work, "verdict.json")

        def ours_say(name, token, expect, needle=None):
            """Hands `token` to herald and checks the verdict."""
            with open(token_in, "w") as f:
                f.write(token + "\n")
            if os.path.exists(verdict_file):
                os.remove(verdict_file)
            env = dict(base_env, HERALD_JWT_INTEROP_IN=token_in,
                       HERALD_JWT_INTEROP_VERDICT=verdict_file,
                       HERALD_JWT_INTEROP_EXPECT=expect)
            passed, output = run_suite(work, env)
            if not os.path.exists(verdict_file):
                check(False, f"{name}: herald wrote no verdict\n{output}")
                return None
            with open(verdict_file) as f:
                verdict = json.load(f)
            got = "ok" if verdict["ok"] else verdict["code"]
            check(got == expect and passed,
                  f"{name}: herald says {got} (expected {expect}): "
                  f"{verdict.get('message', '')}")
            if needle is not None:
                check(needle in verdict.get("message", ""),
                      f"{name}: message mentions {needle!r}")
            return verdict

        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(USER["id"]),
                  "iat": now, "nbf": now, "exp": now + 600,
                  "jti": b64url(secrets.token_bytes(16)),
                  "ver": USER["token_version"], "role": USER["role"]}

        def py(payload=None, key=new_secret, kid="py-new", alg="HS256",
               headers=None):
            h = {} if kid is None else {"kid": kid}
            h.update(headers or {})
            return jwt.encode(claims if payload is None else payload, key,
                              algorithm=alg, headers=h)

        # -- PyJWT issues, herald validates --------------------------------
        verdict = ours_say("PyJWT HS256 token", py(), "ok")
        if verdict and verdict["ok"]:
            c = verdict["claims"]
            for name in ("sub", "iss", "aud", "jti", "role", "ver", "iat",
                         "nbf", "exp"):
                check(c[name] == claims[name],
                      f"claim {name}: herald read {c[name]!r}")
            check(c["kid"] == "py-new", "kid py-new reported")
        ours_say("PyJWT token signed with the old key", py(key=old_secret,
                 kid="py-old"), "ok")
        ours_say("aud as a list", py(dict(claims, aud=["x", AUDIENCE])), "ok")
        none_token = jwt.encode(claims, None, algorithm="none",
                                headers={"kid": "py-new"})
        ours_say("alg none", none_token, "unauthenticated", "alg 'none'")
        header = b64url(b'{"alg":"None","kid":"py-new"}')
        body = none_token.split(".")[1]
        ours_say("alg None", f"{header}.{body}.", "unauthenticated",
                 "alg 'None'")
        ours_say("wrong key", py(key=secrets.token_bytes(32)),
                 "unauthenticated", "does not verify")
        ours_say("unknown kid", py(kid="py-other"), "unauthenticated",
                 "unknown key id")
        ours_say("no kid", py(kid=None), "unauthenticated", "no kid")
        ours_say("HS512", py(alg="HS512"), "unauthenticated", "HS512")
        ours_say("HS384", py(alg="HS384"), "unauthenticated", "HS384")
        ours_say("expired", py(dict(claims, exp=now - 300, iat=now - 900,
                                    nbf=now - 900)), "expired")
        ours_say("wrong audience", py(dict(claims, aud="someone-else")),
                 "unauthenticated", "audience")
        ours_say("wrong issuer", py(dict(claims, iss="joe")),
                 "unauthenticated", "issuer")
        ours_say("numeric sub", py(dict(claims, sub=4242)),
                 "unauthenticated", "sub")

        # -- herald issues, PyJWT validates --------------------------------
        token_out = os.path.join(work, "out.json")
        env = dict(base_env, HERALD_JWT_INTEROP_OUT=token_out,
                   HERALD_JWT_INTEROP_USER=json.dumps(USER))
        passed, output = run_suite(work, env)
        check(passed, "herald-test issued a token" + ("" if passed else
                                                       "\n" + output))
        if os.path.exists(token_out):
            with open(token_out) as f:
                issued = json.load(f)
            token = issued["token"]
            head = jwt.get_unverified_header(token)
            check(head == {"alg": "HS256", "typ": "JWT", "kid": "py-new"},
                  f"header {head}")
            try:
                got = jwt.decode(
                    token, new_secret, algorithms=["HS256"],
                    audience=AUDIENCE, issuer=ISSUER,
                    options={"require": ["exp", "iat", "nbf", "iss", "aud",
                                         "sub", "jti"]})
                check(True, "PyJWT accepts herald's token")
                check(got["sub"] == str(USER["id"]), f"sub {got['sub']!r}")
                check(got["role"] == USER["role"], f"role {got['role']!r}")
                check(got["ver"] == USER["token_version"],
                      f"ver {got['ver']!r}")
                check(got["exp"] == issued["expires_at"], "exp = expires_at")
                check(abs(got["iat"] - int(time.time())) < 60, "iat is now")
                check(got["nbf"] == got["iat"], "nbf = iat")
                check(got["exp"] - got["iat"] == 900, "ttl 900 s")
                check(len(base64.urlsafe_b64decode(got["jti"] + "==")) == 16,
                      "jti is 16 random bytes")
                check(set(got) == {"iss", "aud", "sub", "iat", "nbf", "exp",
                                   "jti", "ver", "role"},
                      f"only the expected claims: {sorted(got)}")
            except jwt.PyJWTError as e:
                check(False, f"PyJWT rejects herald's token: {e!r}")
            try:
                jwt.decode(token, old_secret, algorithms=["HS256"],
                           audience=AUDIENCE, issuer=ISSUER)
                check(False, "PyJWT must reject herald's token under "
                             "another key")
            except jwt.InvalidSignatureError:
                check(True, "PyJWT rejects herald's token under another key")
        else:
            check(False, "herald wrote no token\n" + output)

    finish()


if __name__ == "__main__":
    sys.exit(main())
