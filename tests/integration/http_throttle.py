"""Throttling through the gateway, state in MariaDB (needs: mysql): failed
logins per email (known or not, alike) and per client address, 429 with
Retry-After and no hashing, a success clears the email's count, the limit
holds across two gateway nodes on one database; reset requests per address
and per email from an address; reset confirmations with guessed tokens per
address; X-Forwarded-For counts only from a trusted proxy."""

import os
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from herald_harness import Database, Node, check, finish
from http_util import call, is_problem, metric

PW = "correct horse battery staple"
LIMITS = ["--throttle.login-failures-per-email=3",
          "--throttle.login-failures-per-address=8",
          "--throttle.login-wait-increment=5s",
          "--throttle.login-max-wait=20s",
          "--throttle.reset-requests-per-address=4",
          "--throttle.reset-requests-per-email-and-address=2",
          "--throttle.confirm-failures-per-address=3"]
TRUSTED = ['--http.trusted-proxies=["127.0.0.1"]']


def login(url, email, password, addr=None):
    hs = {"X-Forwarded-For": addr} if addr else {}
    t0 = time.time()
    ans = call(url, "POST", "/v1/sessions",
               {"email": email, "password": password}, hs)
    ans.took = time.time() - t0
    return ans


def throttled(ans, most=None):
    """A 429 problem with a whole-seconds Retry-After in 1..most."""
    if not is_problem(ans, 429, "rate_limited"):
        return False
    ra = ans.headers.get("retry-after", "")
    if not ra.isdigit() or int(ra) < 1:
        return False
    return most is None or int(ra) <= most


def logins_metric(url, outcome):
    return metric(url, "herald_logins_total", {"outcome": outcome}) or 0.0


def register(url, name, email):
    ans = call(url, "POST", "/v1/users",
               {"name": name, "email": email, "password": PW})
    check(ans.status == 201, "register %s (%r)" % (email, ans))


def per_email(url):
    register(url, "Alice", "alice@example.org")
    register(url, "Bob", "bob@example.org")
    addr = "10.0.0.1"
    fails = [login(url, "alice@example.org", "wrong %d" % i, addr)
             for i in range(3)]
    check([a.status for a in fails] == [401] * 3,
          "three wrong passwords for a known email -> 401 (%r)"
          % [a.status for a in fails])
    before_fail = logins_metric(url, "failure")
    before_thr = logins_metric(url, "throttled")
    known = login(url, "alice@example.org", "wrong again", addr)
    check(throttled(known, 5),
          "the 4th attempt for a known email -> 429 + Retry-After (%r)"
          % known)
    right = login(url, "alice@example.org", PW, addr)
    right_at = time.time()
    check(throttled(right, 5),
          "even the right password is throttled meanwhile (%r)" % right)

    ghosts = [login(url, "ghost@example.org", "wrong %d" % i, addr)
              for i in range(3)]
    check([a.status for a in ghosts] == [401] * 3,
          "three attempts for an unknown email -> 401 (%r)"
          % [a.status for a in ghosts])
    check(ghosts[0].json()["detail"] == fails[0].json()["detail"],
          "unknown and known emails fail with one message")
    mid_fail = logins_metric(url, "failure")
    unknown = login(url, "Ghost@Example.org ", "wrong again", addr)
    check(throttled(unknown, 5),
          "the 4th attempt for an unknown email (other case, a space) -> "
          "429 + Retry-After (%r)" % unknown)
    check(known.json()["detail"].split(" in ")[0]
          == unknown.json()["detail"].split(" in ")[0]
          and set(known.json()) == set(unknown.json()),
          "known and unknown emails are throttled alike")
    after_fail = logins_metric(url, "failure")
    after_thr = logins_metric(url, "throttled")
    check(after_thr - before_thr == 3,
          "herald_logins_total{outcome=\"throttled\"} counts the three "
          "throttled attempts (%s -> %s)" % (before_thr, after_thr))
    check(after_fail - mid_fail == 0 and mid_fail - before_fail == 3,
          "throttled attempts are no failures: nothing was checked")
    slowest_429 = max(a.took for a in (known, right, unknown))
    median_401 = sorted(a.took for a in fails + ghosts)[3]
    print("     (timing: 401 median %.1f ms, slowest 429 %.1f ms)"
          % (median_401 * 1000, slowest_429 * 1000))
    check(slowest_429 < max(median_401, 0.02),
          "a throttled attempt is quicker than one that hashes")

    # Another account from the same address is unaffected...
    bob = login(url, "bob@example.org", PW, addr)
    check(bob.status == 200, "another account from the same address logs "
          "in (%r)" % bob)
    # ... until the address has 8 failures (6 so far: 3 alice, 3 ghost).
    more = [login(url, "bob@example.org", "wrong %d" % i, addr)
            for i in range(2)]
    check([a.status for a in more] == [401, 401],
          "failures 7 and 8 from the address -> 401")
    carol = login(url, "carol@example.org", "whatever", addr)
    check(throttled(carol, 5), "past the per-address limit any email from "
          "that address is throttled (%r)" % carol)
    elsewhere = login(url, "bob@example.org", PW, "10.0.0.2")
    check(elsewhere.status == 200,
          "the same account from another address logs in (%r)" % elsewhere)

    # The wait is a delay: after Retry-After, the right password works.
    wait = int(right.headers.get("retry-after", "5"))
    time.sleep(max(0, wait - (time.time() - right_at)) + 1.2)
    ok = login(url, "alice@example.org", PW, "10.0.0.3")
    check(ok.status == 200, "after Retry-After the right password logs in "
          "(%r)" % ok)


def success_clears(url):
    register(url, "Dave", "dave@example.org")
    addr = "10.0.1.1"
    a = [login(url, "dave@example.org", "wrong %d" % i, addr)
         for i in range(2)]
    ok = login(url, "dave@example.org", PW, addr)
    b = [login(url, "dave@example.org", "wrong %d" % i, addr)
         for i in range(3)]
    last = login(url, "dave@example.org", "wrong again", addr)
    check([x.status for x in a] == [401, 401] and ok.status == 200
          and [x.status for x in b] == [401] * 3 and throttled(last),
          "a success clears the email's count: 2 failures, success, 3 more "
          "failures, then 429 (%r)"
          % ([x.status for x in a + [ok] + b + [last]]))


def two_nodes(a, b):
    register(a.url, "Eve", "eve@example.org")
    addr = "10.0.2.1"
    seq = [login(n.url, "eve@example.org", "wrong %d" % i, addr)
           for i, n in enumerate([a, b, a])]
    check([x.status for x in seq] == [401] * 3,
          "three failures alternating over two nodes -> 401 (%r)"
          % [x.status for x in seq])
    on_b = login(b.url, "eve@example.org", PW, addr)
    on_a = login(a.url, "eve@example.org", PW, addr)
    check(throttled(on_b) and throttled(on_a),
          "the limit holds on both nodes (%r, %r)" % (on_b, on_a))
    seq = [login(n.url, "nobody-%s@example.org" % "x", "wrong", addr)
           for n in [b, a, b]]
    nxt = login(a.url, "nobody-x@example.org", "wrong", addr)
    check([x.status for x in seq] == [401] * 3 and throttled(nxt),
          "an unknown email over two nodes: 3 x 401, then 429 (%r)"
          % [x.status for x in seq + [nxt]])


def forwarded_for(trusting, untrusting):
    # From a trusted peer each X-Forwarded-For address is its own client:
    # 12 failures for 12 emails from 12 addresses, none throttled.
    got = [login(trusting.url, "xff-%d@example.org" % i, "wrong",
                 "10.3.0.%d" % i).status for i in range(12)]
    check(got == [401] * 12, "from a trusted proxy X-Forwarded-For names "
          "the client: 12 addresses, no throttling (%r)" % got)
    # A chain: the first untrusted hop from the right is the client.
    got = [login(trusting.url, "chain-%d@example.org" % i, "wrong",
                 "10.4.%d.1, 127.0.0.1" % i).status for i in range(10)]
    check(got == [401] * 10, "in a chain the proxy's own hop is skipped (%r)"
          % got)
    # From an untrusted peer the header is ignored: its own address counts.
    got = [login(untrusting.url, "spoof-%d@example.org" % i, "wrong",
                 "10.5.0.%d" % i) for i in range(12)]
    statuses = [x.status for x in got]
    check(429 in statuses and all(s == 401 for s in
                                  statuses[:statuses.index(429)])
          and statuses.index(429) <= 8,
          "X-Forwarded-For from an untrusted peer is ignored: its own "
          "address is throttled (%r)" % statuses)


def reset_requests(url):
    def req(email, addr):
        return call(url, "POST", "/v1/password-resets", {"email": email},
                    {"X-Forwarded-For": addr})
    addr = "10.6.0.1"
    first = [req("alice@example.org", addr) for _ in range(2)]
    third = req("alice@example.org", addr)
    check([x.status for x in first] == [202, 202]
          and throttled(third) and int(third.headers["retry-after"]) > 60,
          "per email from an address: 2 x 202, then 429 with an hourly "
          "Retry-After (%r, %r)" % ([x.status for x in first], third))
    other_addr = req("alice@example.org", "10.6.0.2")
    check(other_addr.status == 202, "a second address can still request "
          "for the same email (%r)" % other_addr)
    unknown = [req("ghost-%d@example.org" % i, addr) for i in range(3)]
    check([x.status for x in unknown[:2]] == [202, 202]
          and throttled(unknown[2]),
          "per address: 4 requests, then 429 for any email (%r)"
          % [x.status for x in unknown])
    check(req("ghost-9@example.org", "10.6.0.3").status == 202,
          "another address is not affected")
    ghost = [req("never@example.org", "10.6.0.4") for _ in range(3)]
    check([x.status for x in ghost[:2]] == [202, 202] and throttled(ghost[2])
          and set(ghost[2].json()) == set(third.json()),
          "an unknown email is throttled like a known one (%r)"
          % [x.status for x in ghost])


def confirmations(url):
    def confirm(addr):
        return call(url, "POST", "/v1/password-resets/confirm",
                    {"token": secrets.token_urlsafe(32), "password": PW},
                    {"X-Forwarded-For": addr})
    addr = "10.7.0.1"
    tries = [confirm(addr) for _ in range(3)]
    check(all(is_problem(x, 400) and x.json()["code"] == "not_found"
              for x in tries),
          "three guessed tokens -> 400 not_found (%r)" % tries)
    fourth = confirm(addr)
    check(throttled(fourth, 5), "the 4th guess from the address -> 429 + "
          "Retry-After (%r)" % fourth)
    form = call(url, "POST", "/reset-password",
                "token=%s&password=x&password2=x" % secrets.token_urlsafe(32),
                {"Content-Type": "application/x-www-form-urlencoded",
                 "X-Forwarded-For": addr})
    check(form.status == 429 and form.headers.get("retry-after", "")
          .isdigit() and "Too many attempts" in form.text(),
          "the reset page's form from that address -> a 429 page (%r)"
          % form)
    other = confirm("10.7.0.2")
    check(is_problem(other, 400), "another address may still try (%r)"
          % other)


with Database() as db:
    with Node(db.name, gateway=True, extra=LIMITS + TRUSTED) as a, \
            Node(db.name, gateway=True, extra=LIMITS) as b:
        per_email(a.url)
        success_clears(a.url)
        two_nodes(a, b)
        forwarded_for(a, b)
        reset_requests(a.url)
        confirmations(a.url)
        check(a.proc.poll() is None and b.proc.poll() is None,
              "both nodes still run")
finish()
