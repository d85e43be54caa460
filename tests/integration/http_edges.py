"""The HTTP gateway against bad input (needs: mysql): malformed and ill-typed
JSON, duplicate keys, invalid UTF-8, a 10 MB body refused unread, wrong
content types, unknown routes and methods, header floods, request
smuggling, a slowloris client, 10,000 connections opened and dropped, the
connection limit, keep-alive and HTTP/1.0. Every error answer must be a
problem document (type, title, status, detail, code, request_id)."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from herald_harness import Database, Node, check, finish
from http_util import (Reader, call, connect, exchange, is_problem, metric,
                       wait_for)

PW = "correct horse battery staple"


def open_fds(node):
    try:
        return len(os.listdir("/proc/%d/fd" % node.proc.pid))
    except OSError:
        return -1


def healthy(url):
    try:
        return call(url, "GET", "/healthz", timeout=5).status == 200
    except OSError:
        return False


def post_json_raw(url, path, payload, extra=b""):
    """POSTs bytes as application/json exactly as given."""
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            "\r\nContent-Length: %d\r\nConnection: close\r\n" % (
                path, len(payload))).encode()
    ans, r = exchange(url, head + extra + b"\r\n" + payload)
    r.sock.close()
    return ans


def json_cases(url):
    bad = [
        (b'{"name": "a", "email": ', "truncated JSON"),
        (b"{'name': 'a'}", "single quotes"),
        (b'{"name": "a",}', "trailing comma"),
        (b"", "empty body"),
        (b"null", "null"),
        (b"[1, 2]", "an array"),
        (b'"text"', "a string"),
        (b'{"name": "A", "email": "a@example.org", "password": "%s"} x'
         % PW.encode(), "trailing garbage"),
        (b"[" * 100 + b"]" * 100, "nesting 100 deep"),
    ]
    for payload, what in bad:
        ans = post_json_raw(url, "/v1/users", payload)
        check(is_problem(ans, 400, "bad_request"),
              "malformed JSON (%s) -> 400 problem (%r)" % (what, ans))

    typed = [
        ({"name": 1, "email": "a@example.org", "password": PW}, "name"),
        ({"name": "A", "email": ["a@example.org"], "password": PW}, "email"),
        ({"name": "A", "email": "a@example.org", "password": None},
         "password"),
        ({"name": "A", "email": "a@example.org", "password": {"x": 1}},
         "password"),
        ({"name": "A", "email": "a@example.org"}, "password"),
        ({"name": "A", "email": "a@example.org", "password": PW,
          "admin": True}, "admin"),
    ]
    for body, field in typed:
        ans = call(url, "POST", "/v1/users", body)
        ok = is_problem(ans, 400, "bad_request")
        check(ok and ans.json().get("field") == field,
              "wrong shape/type %r -> 400 naming '%s' (%r)"
              % (body, field, ans))
    ans = call(url, "POST", "/v1/sessions", {"email": 5, "password": PW})
    check(is_problem(ans, 400) and ans.json().get("field") == "email",
          "login with a number for email -> 400 naming email (%r)" % ans)
    ans = call(url, "POST", "/v1/tokens/validate", {"token": True})
    check(is_problem(ans, 400) and ans.json().get("field") == "token",
          "validate with a boolean token -> 400 (%r)" % ans)
    ans = call(url, "POST", "/v1/password-resets", {"email": 1.5})
    check(is_problem(ans, 400) and ans.json().get("field") == "email",
          "reset request with a number -> 400 (%r)" % ans)

    dup = (b'{"name": "A", "email": "a@example.org", "email": '
           b'"b@example.org", "password": "%s"}' % PW.encode())
    ans = post_json_raw(url, "/v1/users", dup)
    check(is_problem(ans, 400, "bad_request")
          and ans.json().get("field") == "email",
          "duplicate key email -> 400 naming it (%r)" % ans)
    dup_nested = b'{"email": "a@example.org", "password": "x", "password": "y"}'
    ans = post_json_raw(url, "/v1/sessions", dup_nested)
    check(is_problem(ans, 400) and ans.json().get("field") == "password",
          "duplicate password in a login -> 400 (%r)" % ans)

    for raw, what in [(b"\xff\xfe", "bytes ff fe"),
                      (b"\xc0\xaf", "an overlong '/'"),
                      (b"\xed\xa0\x80", "an encoded surrogate"),
                      (b"abc\xe2\x82", "a cut-off sequence"),
                      (b"\\ud800", "a lone surrogate escape")]:
        payload = (b'{"name": "' + raw + b'", "email": "u8@example.org", '
                   b'"password": "' + PW.encode() + b'"}')
        ans = post_json_raw(url, "/v1/users", payload)
        check(is_problem(ans, 400, "bad_request"),
              "invalid UTF-8 (%s) in a string -> 400 (%r)" % (what, ans))
        # The answer itself must be valid UTF-8 JSON (parsed above) and must
        # not echo the bytes.
        check(raw not in ans.body, "the answer does not echo %s" % what)
    # Valid multi-byte UTF-8 is fine.
    ans = call(url, "POST", "/v1/users",
               {"name": "Zoë 🙂", "email": "zoe@example.org", "password": PW})
    check(ans.status == 201 and ans.json()["name"] == "Zoë 🙂",
          "valid UTF-8 round-trips (%r)" % ans)


def body_limits(url):
    # 10 MB announced, a little sent: the answer comes before the rest.
    head = (b"POST /v1/users HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n")
    s = connect(url)
    start = time.time()
    s.sendall(head + b'{"name": "' + b"a" * 1000)
    r = Reader(s)
    s.settimeout(10)
    ans = r.response()
    took = time.time() - start
    check(ans is not None and is_problem(ans, 413, "body_too_large"),
          "10 MB body -> 413 problem after 1 KB was sent (%r)" % ans)
    check(took < 3, "the 413 comes at once (%.2f s)" % took)
    check(ans is not None and ans.headers.get("connection", "").lower()
          == "close", "the 413 says Connection: close")
    check(r.closed(5), "the connection is closed after the 413")
    s.close()

    # A client that keeps streaming its body while the server refuses it:
    # the 413 must still reach it (the server must not reset the connection
    # under the answer by closing with unread data).
    s = connect(url)
    s.sendall(head)
    stop = threading.Event()

    def stream():
        chunk = b"a" * 16384
        try:
            while not stop.is_set():
                s.sendall(chunk)
        except OSError:
            pass
    t = threading.Thread(target=stream, daemon=True)
    t.start()
    r = Reader(s)
    s.settimeout(10)
    ans = r.response()
    stop.set()
    check(ans is not None and is_problem(ans, 413),
          "a client streaming a 10 MB body still reads the 413 (%r)" % ans)
    s.close()
    t.join(5)

    # Over the limit in chunked encoding: refused too.
    s = connect(url)
    s.sendall(b"POST /v1/users HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n"
              + (b"4000\r\n" + b"a" * 0x4000 + b"\r\n") * 5)
    r = Reader(s)
    s.settimeout(10)
    ans = r.response()
    check(ans is not None and is_problem(ans, 413),
          "chunked body beyond 64 KiB -> 413 (%r)" % ans)
    s.close()

    # Expect: 100-continue with a body too large: 413, no 100 Continue.
    ans, r = exchange(url, b"POST /v1/users HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Expect: 100-continue\r\n"
                      b"Content-Length: 10000000\r\n\r\n")
    check(ans is not None and is_problem(ans, 413),
          "Expect: 100-continue with 10 MB -> 413 without 100 (%r)" % ans)
    r.sock.close()
    # Expect: 100-continue with a fine body: 100, then the answer.
    s = connect(url)
    body = b'{"email": "nobody@example.org", "password": "x"}'
    s.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    r = Reader(s)
    s.settimeout(10)
    first = r.response()
    s.sendall(body)
    second = r.response()
    check(first is not None and first.status == 100 and second is not None
          and is_problem(second, 401),
          "Expect: 100-continue -> 100, then the answer (%r, %r)"
          % (first, second))
    s.close()

    for cl in [b"-1", b"abc", b"1, 2", b"99999999999999999999999"]:
        ans, r = exchange(url, b"POST /v1/users HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: " + cl + b"\r\n\r\n{}")
        check(ans is not None and ans.status in (400, 413)
              and is_problem(ans, ans.status) and r.closed(5),
              "Content-Length %r -> 400/413 and closed (%r)" % (cl, ans))
        r.sock.close()


def routing(url):
    ans = call(url, "POST", "/v1/users", "name=a",
               {"Content-Type": "text/plain"})
    check(is_problem(ans, 415, "unsupported_media_type"),
          "text/plain to a JSON route -> 415 (%r)" % ans)
    ans = call(url, "POST", "/v1/users", b"{}")
    check(is_problem(ans, 415), "no Content-Type -> 415 (%r)" % ans)
    ans = call(url, "POST", "/v1/sessions", "email=a&password=b",
               {"Content-Type": "application/x-www-form-urlencoded"})
    check(is_problem(ans, 415), "a form to the JSON login -> 415 (%r)" % ans)
    ans = call(url, "POST", "/reset-password", {"token": "x"})
    check(is_problem(ans, 415), "JSON to the reset form's route -> 415 (%r)"
          % ans)
    ans = call(url, "POST", "/v1/sessions",
               '{"email": "nobody@example.org", "password": "x"}',
               {"Content-Type": "Application/JSON; charset=utf-8"})
    check(is_problem(ans, 401),
          "application/json in other case with charset is accepted (%r)"
          % ans)

    for path in ["/nope", "/v1", "/v1/users/me/extra", "/v2/users",
                 "/v1/users/", "//v1/users", "/v1/users%2Fme"]:
        ans = call(url, "GET", path)
        check(is_problem(ans, 404, "not_found"),
              "GET %s -> 404 problem (%r)" % (path, ans))
    for method, path, allow in [("DELETE", "/v1/sessions", {"POST"}),
                                ("GET", "/v1/sessions", {"POST"}),
                                ("PUT", "/v1/users/7",
                                 {"GET", "PATCH", "DELETE"}),
                                ("POST", "/v1/users/me", {"GET"}),
                                ("DELETE", "/healthz", {"GET"}),
                                ("PATCH", "/reset-password",
                                 {"GET", "POST"})]:
        ans = call(url, method, path)
        got = {m.strip() for m in ans.headers.get("allow", "").split(",")
               if m.strip()}
        check(is_problem(ans, 405, "method_not_allowed") and got == allow,
              "%s %s -> 405 with Allow %s (%r)" % (method, path,
                                                   sorted(allow), ans))
    ans, r = exchange(url, b"BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    check(ans is not None and is_problem(ans, 405),
          "an unknown method -> 405 (%r)" % ans)
    r.sock.close()
    # An unknown method in a request the connection refuses: still a 400.
    ans, r = exchange(url, b"BREW /healthz HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 1\r\nTransfer-Encoding: chunked"
                      b"\r\n\r\n0\r\n\r\n")
    check(ans is not None and is_problem(ans, 400),
          "an unknown method with both lengths -> 400 (%r)" % ans)
    r.sock.close()
    for junk in [b"GARBAGE\r\n\r\n", b"GET /healthz HTTP/9.9\r\n\r\n",
                 b"GET /healthz\r\n\r\n", b"GET /he\x00althz HTTP/1.1\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"]:
        ans, r = exchange(url, junk)
        check(ans is not None and is_problem(ans, 400, "bad_request")
              and r.closed(5),
              "malformed request %r -> 400 and closed (%r)" % (junk, ans))
        r.sock.close()
    check(healthy(url), "the node serves after the bad requests")


def header_floods(url):
    many = b"".join(b"X-Flood-%d: %d\r\n" % (i, i) for i in range(3000))
    ans, r = exchange(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many
                      + b"\r\n")
    check(ans is not None and is_problem(ans, 431, "header_too_large"),
          "3000 headers -> 431 problem (%r)" % ans)
    check(r.closed(5), "the connection is closed after the 431")
    r.sock.close()
    big = b"X-Big: " + b"a" * 100000 + b"\r\n"
    s = connect(url)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    except OSError:
        pass
    r = Reader(s)
    s.settimeout(10)
    ans = r.response()
    check(ans is not None and is_problem(ans, 431),
          "one 100 KB header -> 431 problem (%r)" % ans)
    s.close()
    ans, r = exchange(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                      b"X-Edge: " + b"b" * 7000 + b"\r\n\r\n")
    check(ans is not None and ans.status == 200,
          "a 7 KB header under the 8 KiB limit is fine (%r)" % ans)
    r.sock.close()
    ans, r = exchange(url, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
    check(ans is not None and is_problem(ans, 431),
          "a 9 KB request target -> 431 (%r)" % ans)
    r.sock.close()
    # A flood in parallel does not stop the others.
    results = []

    def flood():
        try:
            a, rr = exchange(url, b"GET /healthz HTTP/1.1\r\n" + many
                             + b"\r\n")
            results.append(a.status if a else None)
            rr.sock.close()
        except OSError as e:
            results.append(str(e))
    threads = [threading.Thread(target=flood) for _ in range(20)]
    for t in threads:
        t.start()
    served = sum(healthy(url) for _ in range(10))
    for t in threads:
        t.join(20)
    check(results.count(431) == 20, "20 parallel floods each get 431 (%r)"
          % results)
    check(served == 10, "the node serves others during the floods (%d/10)"
          % served)


def smuggling(url):
    second = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    cases = [
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + second,
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n"
        b"0\r\n\r\n" + second,
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 0\r\n"
        b"Content-Length: 37\r\n\r\n" + second,
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + second,
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + second,
        # No length the server can know: the "body" a proxy forwarded must
        # not become the next request.
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: gzip\r\n\r\n" + second,
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
        b"0\r\n\r\n" + second,
        b"POST /v1/sessions HTTP/1.0\r\n"
        b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: identity\r\n\r\n" + second,
    ]
    for i, data in enumerate(cases):
        ans, r = exchange(url, data)
        check(ans is not None and is_problem(ans, 400),
              "smuggling attempt %d -> 400 problem (%r)" % (i + 1, ans))
        check(ans is not None
              and (ans.headers.get("connection", "").lower() == "close"
                   or (ans.version == 10 and "connection" not in ans.headers))
              and r.closed(5),
              "smuggling attempt %d: the connection is closed, no second "
              "response (buffer %r)" % (i + 1, r.buf[:100]))
        r.sock.close()


def slowloris(url):
    """One byte per second of headers: cut off by the 2 s read timeout
    while other clients are served."""
    s = connect(url)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    cut = {}

    def drip():
        start = time.time()
        try:
            for _ in range(30):
                s.sendall(b"X")
                time.sleep(1)
                s.settimeout(0.01)
                try:
                    if s.recv(1) == b"":
                        break
                except socket.timeout:
                    pass
                s.settimeout(10)
        except OSError:
            pass
        cut["after"] = time.time() - start
    t = threading.Thread(target=drip)
    t.start()
    served, slow = 0, 0
    begin = time.time()
    while t.is_alive() and time.time() - begin < 40:
        t0 = time.time()
        ok = healthy(url)
        served += ok
        slow += (time.time() - t0) > 1
        time.sleep(0.2)
    t.join(40)
    check("after" in cut and 1.5 <= cut["after"] <= 6,
          "a slowloris client is cut off by the 2 s read timeout "
          "(after %.1f s)" % cut.get("after", -1))
    check(served >= 5 and slow <= 1,
          "others are served meanwhile (%d served, %d slow)" % (served, slow))
    s.close()

    # Nothing at all sent: closed after the read timeout too.
    s = connect(url)
    r = Reader(s)
    t0 = time.time()
    closed = r.closed(10)
    check(closed and 1.5 <= time.time() - t0 <= 5,
          "a silent connection is closed after the read timeout (%.1f s)"
          % (time.time() - t0))
    s.close()
    # A slow body: the whole request must arrive within the read timeout.
    s = connect(url)
    s.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    r = Reader(s)
    t0 = time.time()
    for _ in range(8):
        try:
            s.sendall(b"{")
        except OSError:
            break
        time.sleep(1)
        if r.closed(0.01):
            break
    check(time.time() - t0 <= 6 and r.closed(5),
          "a slow body is cut off by the read timeout (%.1f s)"
          % (time.time() - t0))
    s.close()
    # Idle keep-alive: closed after the 3 s idle timeout.
    s = connect(url)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    r = Reader(s)
    s.settimeout(10)
    ans = r.response()
    t0 = time.time()
    closed = r.closed(10)
    idle = time.time() - t0
    check(ans is not None and ans.status == 200 and closed
          and 2.5 <= idle <= 6,
          "an idle kept-alive connection is closed after the 3 s idle "
          "timeout (%.1f s)" % idle)
    s.close()


def connection_churn(url, node):
    base = open_fds(node)
    gauge = metric(url, "herald_http_connections")
    total, batch = 10000, 500
    errors = 0
    started = time.time()
    for b in range(total // batch):
        socks = []
        for i in range(batch):
            try:
                s = socket.socket()
                s.settimeout(10)
                s.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
                if i % 3 == 1:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHo")
                elif i % 3 == 2:
                    # Reset instead of a FIN.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                socks.append(s)
            except OSError:
                errors += 1
        for s in socks:
            s.close()
        if b % 5 == 4:
            check(healthy(url), "the node answers after %d connections"
                  % ((b + 1) * batch))
    check(errors == 0, "10,000 connections opened and dropped in %.1f s "
          "(%d failed to connect)" % (time.time() - started, errors))
    check(healthy(url), "a new request succeeds after the churn")
    settled = wait_for(lambda: open_fds(node) <= base + 5, timeout=20)
    check(settled, "the node's open descriptors return to their baseline "
          "(%d before, %d after)" % (base, open_fds(node)))
    if gauge is not None:
        back = wait_for(lambda: metric(url, "herald_http_connections")
                        <= gauge + 1, timeout=20)
        check(back, "the open-connection gauge returns to normal")


def abandoned(url, node):
    """Clients that send a request and go away before the answer (a login
    hashes for a while): the late answers find closed connections, and the
    node neither crashes nor keeps them."""
    base = open_fds(node)
    body = b'{"email": "gone@example.org", "password": "wrong password"}'
    req = (b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
           % len(body) + body)
    for i in range(40):
        s = connect(url)
        s.sendall(req)
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    ok = wait_for(lambda: open_fds(node) <= base + 5, timeout=60)
    check(ok and healthy(url) and node.proc.poll() is None,
          "40 clients that leave before their login's answer: the node runs "
          "on and closes them (%d descriptors before, %d after)"
          % (base, open_fds(node)))


def keep_alive(url):
    s = connect(url)
    r = Reader(s)
    s.settimeout(10)
    answers = []
    for i in range(5):
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: "
                  b"keepalive-%d\r\n\r\n" % i)
        answers.append(r.response())
    body = b'{"email": "nobody@example.org", "password": "wrong one"}'
    s.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % len(body) + body)
    answers.append(r.response())
    s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    answers.append(r.response())
    check(all(a is not None for a in answers)
          and [a.status for a in answers] == [200] * 5 + [401, 404],
          "seven requests on one kept-alive connection (%r)"
          % [a and a.status for a in answers])
    check([a.headers.get("x-request-id") for a in answers[:5]]
          == ["keepalive-%d" % i for i in range(5)],
          "each answer carries its request's id")
    check(answers[6] is not None and is_problem(answers[6], 404),
          "a 404 keeps the connection usable")
    # Pipelined: three requests in one write, three answers in order.
    s.sendall(b"".join(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: "
                       b"pipe-%d\r\n\r\n" % i for i in range(3)))
    piped = [r.response() for _ in range(3)]
    check(all(p is not None and p.status == 200 for p in piped)
          and [p.headers.get("x-request-id") for p in piped]
          == ["pipe-0", "pipe-1", "pipe-2"],
          "three pipelined requests get three answers in order (%r)" % piped)
    # HEAD: whatever the answer, it has no body on the wire, or the next
    # answer on the connection would be read wrongly.
    s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: "
              b"after-head\r\n\r\n")
    head = r.response(to_head=True)
    after = r.response()
    check(head is not None and after is not None and after.status == 200
          and after.headers.get("x-request-id") == "after-head"
          and after.body == b'{"status":"ok"}',
          "an answer to HEAD carries no body: the next answer reads right "
          "(%r, %r)" % (head, after))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    last = r.response()
    check(last is not None and last.status == 200 and r.closed(5),
          "Connection: close ends the connection after its answer")
    s.close()


def head_refused(url):
    # A HEAD the connection refuses (a bad length, a header flood) gets its
    # problem's headers but no body either.
    for data in [b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc"
                 b"\r\n\r\n",
                 b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                 + b"a" * 9000 + b"\r\n\r\n"]:
        s = connect(url)
        s.sendall(data)
        r = Reader(s)
        s.settimeout(10)
        ans = r.response(to_head=True)
        check(ans is not None and ans.status in (400, 431) and r.closed(5),
              "a refused HEAD gets %s and no body (%r, then %r)"
              % (ans and ans.status, ans, r.buf[:60]))
        s.close()


def request_ids(url):
    for sent, kept in [(b"abc-123", True), (b"a" * 300, False),
                       (b"bad id", False), (b"\xff\xfe", False),
                       (b"", False)]:
        ans, r = exchange(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                          b"X-Request-Id: " + sent + b"\r\n\r\n")
        got = ans.headers.get("x-request-id", "") if ans else ""
        check(ans is not None and ans.status == 200 and got
              and (got == sent.decode("latin-1")) == kept,
              "X-Request-Id %r is %s (%r)" % (sent[:20], "kept" if kept
                                               else "replaced", got))
        r.sock.close()
    big = (b'{"email": "' + b"a" * 60000 + b'@example.org", '
           b'"password": "x"}')
    ans, r = exchange(url, b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(big) + big)
    check(ans is not None and ans.status in (401, 422)
          and is_problem(ans, ans.status),
          "a 60 KB body under the 64 KiB limit is read (%r)" % ans)
    r.sock.close()


def http10(url):
    ans, r = exchange(url, b"GET /healthz HTTP/1.0\r\n\r\n")
    check(ans is not None and ans.status == 200 and ans.version == 10
          and ans.json() == {"status": "ok"} and r.closed(5),
          "HTTP/1.0 -> an HTTP/1.0 answer, then closed (%r)" % ans)
    r.sock.close()
    ans, r = exchange(url, b"GET /nope HTTP/1.0\r\n\r\n")
    check(ans is not None and ans.version == 10 and is_problem(ans, 404),
          "HTTP/1.0 404 is a problem in HTTP/1.0 (%r)" % ans)
    r.sock.close()
    s = connect(url)
    s.settimeout(10)
    r = Reader(s)
    s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    a1 = r.response()
    s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    a2 = r.response()
    check(a1 is not None and a2 is not None and a1.status == a2.status == 200
          and a1.headers.get("connection", "").lower() == "keep-alive"
          and r.closed(5),
          "HTTP/1.0 keep-alive serves two requests, then closes (%r, %r)"
          % (a1, a2))
    s.close()
    ans, r = exchange(url, b"POST /v1/sessions HTTP/1.0\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: 2\r\n\r\n{}")
    check(ans is not None and ans.version == 10 and is_problem(ans, 400),
          "HTTP/1.0 POST with a body of the wrong shape -> 400 (%r)" % ans)
    r.sock.close()


def max_connections(node):
    url = node.url
    held = []
    for i in range(20):
        s = connect(url)
        r = Reader(s)
        s.settimeout(10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        a = r.response()
        held.append((s, r, a))
    check(all(a is not None and a.status == 200 for _, _, a in held),
          "20 connections are served under --http.max-connections=20")
    extra = connect(url)
    rx = Reader(extra)
    try:
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    except OSError:
        pass
    extra.settimeout(10)
    a21 = rx.response()
    check(a21 is None, "the 21st connection is closed unanswered (%r)" % a21)
    extra.close()
    again = []
    for s, r, _ in held:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        again.append(r.response())
    check(all(a is not None and a.status == 200 for a in again),
          "the 20 others still work")
    s, r, _ = held.pop()
    s.close()
    came_back = wait_for(lambda: healthy(url), timeout=10)
    check(came_back, "after one closes, a new connection is served")
    for s, _, _ in held:
        s.close()


with Database() as db:
    fast = ["--http.read-timeout=2s", "--http.idle-timeout=3s"]
    with Node(db.name, gateway=True, extra=fast) as node:
        url = node.url
        check(healthy(url), "the gateway answers /healthz")
        json_cases(url)
        body_limits(url)
        routing(url)
        header_floods(url)
        smuggling(url)
        keep_alive(url)
        request_ids(url)
        head_refused(url)
        http10(url)
        slowloris(url)
        connection_churn(url, node)
        abandoned(url, node)
        check(node.proc.poll() is None, "the node is still running")
    with Node(db.name, gateway=True,
              extra=["--http.max-connections=20"]) as node:
        max_connections(node)
finish()
