"""Small HTTP helpers for the gateway's integration tests: requests through
http.client, raw bytes over a socket for what http.client will not send, and
the problem-details check every error answer must pass. Every wait is
bounded."""

import http.client
import json
import re
import socket
from urllib.parse import urlsplit

from herald_harness import wait_until

PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


class Answer:
    def __init__(self, status, headers, body, version=11):
        self.status = status
        # Header names lower-cased; a repeated header keeps its last value.
        self.headers = {k.lower(): v for k, v in headers}
        self.all_headers = list(headers)
        self.body = body
        self.version = version

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        # Secrets never go to the test output: bearer tokens in a login's
        # answer, reset tokens in a page's form.
        body = re.sub(rb'("access_token":\s*")[^"]*', rb"\1<redacted>",
                      self.body)
        body = re.sub(rb'(name="token" value=")[^"]*', rb"\1<redacted>", body)
        body = re.sub(rb"(token=)[A-Za-z0-9_-]+", rb"\1<redacted>", body)
        return "<%d %r %r>" % (self.status, self.headers, body[:300])


def host_port(url):
    parts = urlsplit(url)
    return parts.hostname, parts.port


def call(url, method, path, body=None, headers=None, timeout=30):
    """One request on a connection of its own; answers an Answer."""
    host, port = host_port(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    hs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=hs)
        res = conn.getresponse()
        data = res.read()
        return Answer(res.status, res.getheaders(), data, res.version)
    finally:
        conn.close()


def is_problem(ans, status, code=None):
    """True when `ans` is an RFC 9457 problem with herald's fields."""
    if ans.status != status:
        return False
    if not ans.headers.get("content-type", "").startswith(
            "application/problem+json"):
        return False
    try:
        doc = ans.json()
    except ValueError:
        return False
    if not isinstance(doc, dict) or not PROBLEM_KEYS <= set(doc):
        return False
    if doc["status"] != status or not doc["request_id"]:
        return False
    if doc["request_id"] != ans.headers.get("x-request-id"):
        return False
    if code is not None and doc["code"] != code:
        return False
    return True


def connect(url, timeout=10):
    host, port = host_port(url)
    s = socket.create_connection((host, port), timeout=timeout)
    return s


class Reader:
    """Reads HTTP/1.x responses off a socket, one after the other."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def response(self, to_head=False):
        """The next response, or None when the peer closed first. An answer
        to HEAD (`to_head`) has no body whatever its Content-Length says."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ")[0:2]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        ans = Answer(int(status), headers, b"",
                     10 if version == "HTTP/1.0" else 11)
        if int(status) // 100 == 1 or to_head:
            return ans
        length = ans.headers.get("content-length")
        if length is None:
            # Until the close (HTTP/1.0 style).
            while self._fill():
                pass
            ans.body, self.buf = self.buf, b""
            return ans
        n = int(length)
        while len(self.buf) < n:
            if not self._fill():
                break
        ans.body, self.buf = self.buf[:n], self.buf[n:]
        return ans

    def closed(self, timeout=5):
        """True when the peer closes (EOF or reset) within `timeout`
        seconds with nothing more to say."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return not self.buf
                self.buf += chunk
        except ConnectionResetError:
            return not self.buf
        except socket.timeout:
            return False


def exchange(url, data, timeout=10):
    """Sends raw bytes on a new connection; answers (first response or
    None, Reader)."""
    s = connect(url, timeout)
    s.sendall(data)
    r = Reader(s)
    return r.response(), r


def wait_for(pred, timeout=30, step=0.1):
    """The harness's wait_until with a shorter step."""
    return wait_until(pred, timeout, step)


def metric(url, name, labels=None):
    """The value of one sample of /metrics, or None."""
    ans = call(url, "GET", "/metrics")
    for line in ans.text().splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        key, _, value = line.rpartition(" ")
        if key.split("{")[0] != name:
            continue
        if labels:
            if not all('%s="%s"' % kv in key for kv in labels.items()):
                continue
        return float(value)
    return None
