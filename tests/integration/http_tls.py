"""HTTPS on the gateway, issue 11 (needs: mysql).

With http.tls-certificate and http.tls-key the gateway speaks only TLS 1.2
and newer and sends HSTS. Judged from outside: curl and Python's ssl module
(OpenSSL) with a certificate this test makes with the openssl command line,
`openssl s_client` for the protocol versions, and a plain HTTP request to
the TLS port, which must get no HTTP answer."""

import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import Database, Node, check, finish


def make_certificate(folder):
    key = os.path.join(folder, "key.pem")
    cert = os.path.join(folder, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def s_client(port, version_flag):
    """Whether `openssl s_client` with `version_flag` completes a
    handshake."""
    out = subprocess.run(["openssl", "s_client", "-connect",
                          "127.0.0.1:%d" % port, version_flag, "-brief"],
                         input="", capture_output=True, text=True, timeout=30)
    return "Protocol version" in out.stdout + out.stderr and out.returncode == 0


def main():
    with tempfile.TemporaryDirectory() as folder, Database() as db:
        cert, key = make_certificate(folder)
        node = Node(db.name, gateway=True,
                    extra=["--http.tls-certificate=" + cert,
                           "--http.tls-key=" + key])
        url = "https://127.0.0.1:%d" % node.http_port
        with node:
            out = subprocess.run(["curl", "-s", "-i", "--cacert", cert,
                                  url + "/healthz"],
                                 capture_output=True, text=True, timeout=30)
            # text mode turns CRLF into LF
            head, _, body = out.stdout.partition("\n\n")
            check(out.returncode == 0 and head.startswith("HTTP/1.1 200")
                  and json.loads(body) == {"status": "ok"},
                  "curl reaches /healthz over HTTPS with the test's CA")
            check("strict-transport-security: max-age=" in head.lower(),
                  "HTTPS answers carry HSTS")
            out = subprocess.run(["curl", "-s", url + "/healthz"],
                                 capture_output=True, timeout=30)
            check(out.returncode != 0,
                  "curl refuses the certificate without the CA (rc %d)"
                  % out.returncode)
            check(s_client(node.http_port, "-tls1_2"), "TLS 1.2 is spoken")
            check(s_client(node.http_port, "-tls1_3"), "TLS 1.3 is spoken")
            check(not s_client(node.http_port, "-tls1_1"),
                  "TLS 1.1 is refused")
            # Python's ssl module (OpenSSL) as a second client, with a login.
            ctx = ssl.create_default_context(cafile=cert)
            with socket.create_connection(("127.0.0.1", node.http_port),
                                          timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n"
                                b"Connection: close\r\n\r\n")
                    reply = b""
                    while True:
                        chunk = tls.recv(4096)
                        if not chunk:
                            break
                        reply += chunk
            check(reply.startswith(b"HTTP/1.1 "),
                  "Python's ssl client gets an HTTP answer: %r" % reply[:40])
            # Plain HTTP to the TLS port: no HTTP answer ever comes back.
            with socket.create_connection(("127.0.0.1", node.http_port),
                                          timeout=10) as raw:
                raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    reply = raw.recv(4096)
                except (ConnectionResetError, socket.timeout):
                    reply = b""
            check(not reply.startswith(b"HTTP/"),
                  "plain HTTP to the TLS port gets no HTTP answer (%r)"
                  % reply[:20])
    finish()


if __name__ == "__main__":
    main()
