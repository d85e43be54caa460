"""Generated requests against the HTTP gateway (needs: mysql): Hypothesis
makes methods, paths (the document's and random ones), query strings,
bodies (valid-looking, random or malformed JSON, forms, bytes), content
types and headers, and sends them over raw sockets so that malformed input
reaches the server as written. Every answer must be one the OpenAPI document
lists for that route (or a generic 400/404/405/413/431), its body valid
against the document; a HEAD answer carries no body; the node stays up.
Bounded: a fixed number of examples, well under a minute."""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import Database, Node, check, finish, wait_until
from openapi_check import OpenApi

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PW = "correct horse battery staple"
EXAMPLES = int(os.environ.get("HERALD_FUZZ_EXAMPLES", "1500"))
GARBAGE_EXAMPLES = int(os.environ.get("HERALD_FUZZ_GARBAGE", "400"))


def raw_exchange(port, data, timeout=15):
    """Sends `data` on a fresh connection and reads until the server closes
    it; answers the bytes read (b"" when it closed without a word)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def parse_response(raw, head_request=False):
    """(status, [(name, value)], body) of the first response in `raw`, or
    None when it is no HTTP/1.x response."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = raw[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") \
            or not parts[1].isdigit():
        return None
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    rest = raw[end + 4:]
    length = None
    for name, value in headers:
        if name.lower() == "content-length" and value.isdigit():
            length = int(value)
    body = rest if length is None else rest[:length]
    return int(parts[1]), headers, body, rest


with Database() as db:
    node = Node(db.name, gateway=True,
                extra=['--http.cors-origins=["https://app.example.test"]'])
    with node:
        api = OpenApi.load(node.url)
        port = node.http_port
        docs = api.doc["paths"]

        def call(method, target, body=None, token=None):
            hdr = "Content-Type: application/json\r\n" if body else ""
            if token:
                hdr += "Authorization: Bearer %s\r\n" % token
            data = ("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s"
                    "Content-Length: %d\r\n\r\n"
                    % (method, target, hdr, len(body or b""))).encode() \
                + (body or b"")
            return parse_response(raw_exchange(port, data))

        # Accounts the generated requests can use (and may damage).
        for i in range(5):
            call("POST", "/v1/users", json.dumps({
                "name": "Fuzz %d" % i, "email": "fuzz%d@example.org" % i,
                "password": PW}).encode())
        tokens = []
        for i in range(5):
            r = call("POST", "/v1/sessions", json.dumps({
                "email": "fuzz%d@example.org" % i, "password": PW}).encode())
            if r and r[0] == 200:
                tokens.append(json.loads(r[2])["access_token"])
        check(len(tokens) == 5, "five users signed up and logged in")

        # -- strategies -------------------------------------------------------
        methods = st.one_of(
            st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT",
                             "OPTIONS", "HEAD"]),
            st.sampled_from(["TRACE", "CONNECT", "PROPFIND", "get", "FOO"]))
        segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%",
                          min_size=0, max_size=12)
        ids = st.one_of(st.integers(min_value=0, max_value=40).map(str),
                        st.just("me"), segment,
                        st.integers(min_value=2 ** 63, max_value=2 ** 70).map(str))

        def instantiate(tpl):
            if "{id}" not in tpl:
                return st.just(tpl)
            return ids.map(lambda i: tpl.replace("{id}", i))

        documented = st.sampled_from(sorted(docs)).flatmap(instantiate)
        random_path = st.lists(segment, min_size=1, max_size=5).map(
            lambda xs: "/" + "/".join(xs))
        prefixed = st.tuples(st.sampled_from(sorted(docs)), segment).map(
            lambda t: t[0].replace("{id}", "1") + "/" + t[1])
        paths = st.one_of(documented, documented, documented, random_path,
                          prefixed)
        # Most examples call a documented operation; the rest mix methods
        # and paths freely.
        operations = st.sampled_from(sorted(
            (m, t) for m, t in api.operations() if m != "OPTIONS")).flatmap(
            lambda mt: instantiate(mt[1]).map(lambda p: (mt[0], p)))
        targets = st.one_of(operations, operations, operations,
                            st.tuples(methods, paths))
        query_value = st.one_of(
            st.integers(min_value=-5, max_value=200).map(str),
            st.text(alphabet="AZaz09_-=%&+", max_size=20))
        queries = st.one_of(
            st.just(""),
            st.lists(st.tuples(st.sampled_from(["limit", "after", "token",
                                                "x", ""]), query_value),
                     max_size=3).map(
                lambda kv: "?" + "&".join("%s=%s" % p for p in kv)))
        fields = ["name", "email", "password", "current_password", "role",
                  "token", "password2", "x"]
        scalar = st.one_of(st.none(), st.booleans(),
                           st.integers(min_value=-2 ** 70, max_value=2 ** 70),
                           st.floats(allow_nan=False), st.text(max_size=40),
                           st.sampled_from([PW, "admin", "user",
                                            "fuzz1@example.org", "A" * 43]))
        json_value = st.recursive(
            scalar, lambda inner: st.one_of(
                st.lists(inner, max_size=3),
                st.dictionaries(st.text(max_size=8), inner, max_size=3)),
            max_leaves=8)
        objects = st.dictionaries(st.sampled_from(fields), scalar, max_size=4)
        bodies = st.one_of(
            st.none(),
            objects.map(lambda d: json.dumps(d).encode()),
            objects.map(lambda d: json.dumps(d).encode()),
            json_value.map(lambda v: json.dumps(v).encode()),
            st.binary(max_size=200),
            st.text(max_size=100).map(lambda t: t.encode("utf-8")),
            st.sampled_from([b"{", b"{}", b"[]", b"null", b'{"name":"a",'
                             b'"name":"b"}', b'{"a":' * 30 + b"1" + b"}" * 30,
                             b"\xff\xfe{}", b'{"email":"\xc3\x28"}',
                             b"token=x&password=y&password2=y",
                             b"token=%zz", b"a=1&a=2"]))
        content_types = st.one_of(
            st.none(),
            st.sampled_from(["application/json",
                             "application/json; charset=utf-8",
                             "APPLICATION/JSON",
                             "application/x-www-form-urlencoded",
                             "text/plain", "application/problem+json",
                             "multipart/form-data; boundary=x", ";", ""]),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz/;= -+", max_size=30))
        auths = st.one_of(st.none(), st.sampled_from(tokens or ["x"]).map(
            lambda t: "Bearer " + t), st.sampled_from(
            ["Bearer ", "Bearer x.y.z", "bearer abc", "Basic YTpi",
             "Bearer " + "A" * 3000]))
        header_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ-_0123",
                              min_size=1, max_size=20)
        header_value = st.text(alphabet=st.characters(
            min_codepoint=0x20, max_codepoint=0x7e), max_size=60)
        extra_headers = st.lists(st.tuples(
            st.one_of(header_name, st.sampled_from(
                ["X-Request-Id", "Origin", "Accept", "X-Forwarded-For",
                 "Expect", "Transfer-Encoding", "Content-Length"])),
            header_value), max_size=4)

        failures = []
        head_bodies = []
        counts = {}

        def record(what):
            if len(failures) < 30:
                failures.append(what)

        def build(method, target, body, ctype, auth, extra):
            lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1",
                     "Connection: close"]
            if ctype is not None:
                lines.append("Content-Type: " + ctype)
            if auth is not None:
                lines.append("Authorization: " + auth)
            sent_length = False
            for name, value in extra:
                lines.append("%s: %s" % (name, value))
                if name.lower() in ("content-length", "transfer-encoding"):
                    sent_length = True
            if body is not None and not sent_length:
                lines.append("Content-Length: %d" % len(body))
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + \
                (body or b"")

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(targets, queries, bodies, content_types, auths,
               extra_headers)
        def well_formed(mp, query, body, ctype, auth, extra):
            method, path = mp
            target = path + query
            data = build(method, target, body, ctype, auth, extra)
            raw = raw_exchange(port, data)
            got = parse_response(raw)
            what = "%r" % data[:300]
            if got is None:
                # Only a request the server could not read may go
                # unanswered: one whose framing headers are garbage.
                odd = any(n.lower() in ("content-length", "transfer-encoding",
                                        "expect") for n, _ in extra)
                if not odd:
                    record("no answer to %s: %r" % (what, raw[:200]))
                return
            status, headers, resp_body, rest = got
            counts[status] = counts.get(status, 0) + 1
            if method == "HEAD" and rest:
                # RFC 9110 9.3.2: no content in an answer to HEAD.
                if len(head_bodies) < 3:
                    head_bodies.append("%s -> %d with %d body bytes"
                                       % (what, status, len(rest)))
                return
            problems = api.check(method, path, status, headers, resp_body)
            if problems:
                record("%s -> %d %r: %s" % (what, status, resp_body[:200],
                                            "; ".join(problems)))

        @settings(max_examples=GARBAGE_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.one_of(
            st.binary(max_size=300),
            st.text(max_size=200).map(lambda t: t.encode("utf-8")),
            st.tuples(st.text(alphabet="GETPOS /v1?=&%\t", max_size=30),
                      st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0",
                                       "HTTP/1.1 x", ""]),
                      st.binary(max_size=60)).map(
                lambda t: (t[0] + " " + t[1]).encode() + b"\r\n" + t[2]
                + b"\r\n\r\n")))
        def garbage(data):
            raw = raw_exchange(port, data)
            if not raw:
                return  # closed without a word: allowed for garbage
            got = parse_response(raw)
            if got is None:
                record("not HTTP in answer to garbage %r: %r"
                       % (data[:100], raw[:200]))
                return
            status, headers, resp_body, _ = got
            counts[status] = counts.get(status, 0) + 1
            # Whatever route the garbage names, only the generic answers or
            # documented ones may come back; the first line decides.
            first = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            method = first[0] if first else "GET"
            path = first[1].split("?")[0] if len(first) > 1 else "/"
            problems = api.check(method, path, status, headers, resp_body)
            if problems:
                record("garbage %r -> %d %r: %s" % (data[:120], status,
                                                    resp_body[:200],
                                                    "; ".join(problems)))

        started = time.time()
        well_formed()
        garbage()
        took = time.time() - started
        print("statuses seen: %s; %.1f s" % (sorted(counts.items()), took))
        for f in failures:
            print("  " + f[:1200])
        for f in head_bodies:
            print("  " + f[:600])
        check(not head_bodies, "answers to HEAD carry no body (examples "
              "above)")
        check(not failures, "every generated request got a documented answer "
              "(%d failures, first shown above)" % len(failures))
        check(sum(counts.values()) > EXAMPLES // 2,
              "most generated requests were answered (%d)" % sum(counts.values()))
        r = call("GET", "/healthz")
        check(r is not None and r[0] == 200, "the node is still up (healthz)")
        check(node.proc.poll() is None, "the node process is running")
finish()
