"""Security of the cluster port, issue 12 item 5 (needs: mysql).

Mutual TLS: a node with certificates of the cluster's CA (scripts/cluster-ca)
takes heraldctl with a certificate of that CA and refuses one of another CA,
a self-signed one, none (plaintext), and a client that does not trust the
node's CA. The guard rails: no TLS and a cluster.host beyond loopback is
refused, cluster.allow-plaintext outside dev mode is refused, a partial
openssl.* set is refused (flags and HERALD_OPENSSL_* variables), a
certificate that expires within 30 days is warned about, an expired one
refused (node and heraldctl). Hostile peers: 20 connections that each send
only a BASP header announcing 1 GiB and then stall, against a plaintext and
a TLS node: resident memory grows by less than 64 MiB and heraldctl status
keeps working; a control run shows the measurement sees an allocation that
the limit lets through. Addresses beyond loopback are TEST-NET-1
(192.0.2.0/24): nothing binds beyond 127.0.0.0/8."""

import contextlib
import datetime
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import (CTL, RUN_DIR, SOURCE, Database, Node, check,
                            finish, wait_until)

CLUSTER_CA = os.path.join(SOURCE, "scripts", "cluster-ca")
GIB = 1 << 30
MIB = 1 << 20


# -- certificates ------------------------------------------------------------

def run(*cmd):
    out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), out.returncode,
                                                out.stderr))
    return out.stdout


class Pki:
    """The cluster's CA with node and client certificates, a foreign CA with
    its own, a self-signed certificate, one that expires in 10 days and one
    that has expired."""

    def __init__(self, root):
        self.root = root
        shutil.rmtree(root, ignore_errors=True)
        self.cluster = os.path.join(root, "cluster")
        self.foreign = os.path.join(root, "foreign")
        run(CLUSTER_CA, "init", self.cluster, "node-a", "node-b")
        run(CLUSTER_CA, "init", self.foreign, "node-x")
        run(CLUSTER_CA, "--days", "10", "client", self.cluster, "soon")
        run(CLUSTER_CA, "--days", "10", "node", self.cluster, "node-soon")
        self.self_cert = os.path.join(root, "self.pem")
        self.self_key = os.path.join(root, "self.key")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.self_key,
            "-out", self.self_cert, "-days", "30", "-subj", "/CN=self-signed",
            "-addext", "extendedKeyUsage=serverAuth,clientAuth")
        self.expired = self.signed_by_cluster_ca("expired", days_from=-30,
                                                 days_to=-1)

    def signed_by_cluster_ca(self, name, days_from, days_to):
        """A client certificate of the cluster's CA valid from/to the given
        day offsets (openssl x509 cannot date one in the past)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        with open(os.path.join(self.cluster, "ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        with open(os.path.join(self.cluster, "ca.pem"), "rb") as f:
            ca = x509.load_pem_x509_certificate(f.read())
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            name)]))
                .issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now + datetime.timedelta(days=days_from))
                .not_valid_after(now + datetime.timedelta(days=days_to))
                .add_extension(x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH,
                     ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path = os.path.join(self.cluster, name + ".pem")
        key_path = os.path.join(self.cluster, name + ".key")
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        return cert_path, key_path

    def of(self, where, name):
        """(certificate, key, cafile) of `name` under the cluster's or the
        foreign CA."""
        d = self.cluster if where == "cluster" else self.foreign
        return (os.path.join(d, name + ".pem"), os.path.join(d, name + ".key"),
                os.path.join(d, "ca.pem"))


def node_flags(cert, key, ca):
    return ["--openssl.certificate=" + cert, "--openssl.key=" + key,
            "--openssl.cafile=" + ca]


def ctl_tls(port, creds, *args, timeout=60):
    """heraldctl against 127.0.0.1:port with (cert, key, ca) or None."""
    cmd = [CTL, "--node", "127.0.0.1:%d" % port]
    if creds:
        cmd += ["--tls-certificate", creds[0], "--tls-key", creds[1],
                "--tls-cafile", creds[2]]
    cmd += list(args)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HERALD_OPENSSL_")}
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        # A hang is a finding, not a crash of the test.
        return subprocess.CompletedProcess(
            cmd, None, e.stdout or "", "(no answer within %ds) %s"
            % (timeout, e.stderr or ""))


@contextlib.contextmanager
def tls_node(db, creds, extra=()):
    """A node with TLS, ready (heraldctl with the cluster's client
    certificate gets its status), stopped on exit."""
    node = Node(db, extra=node_flags(*creds) + list(extra))
    node.start(wait=False)
    try:
        client = (os.path.join(os.path.dirname(creds[0]), "heraldctl.pem"),
                  os.path.join(os.path.dirname(creds[0]), "heraldctl.key"),
                  creds[2])
        deadline = time.time() + 60
        while True:
            if node.proc.poll() is not None:
                raise RuntimeError("TLS node exited early:\n"
                                   + node.read_log())
            if ctl_tls(node.port, client, "status",
                       timeout=20).returncode == 0:
                break
            if time.time() > deadline:
                raise RuntimeError("TLS node not ready:\n" + node.read_log())
            time.sleep(0.3)
        yield node
    finally:
        try:
            node.stop()
        except RuntimeError:
            pass


# -- hostile peers -------------------------------------------------------------

def basp_header(payload_len):
    """A BASP client handshake header (CAF 0.17.6: operation, 2 padding
    bytes, flags, payload length, operation data, source and destination
    actor; big endian) that announces `payload_len` bytes."""
    return struct.pack(">BBBBIQQQ", 0x01, 0, 0, 0, payload_len, 0, 0, 0)


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for %d" % pid)


def closed_by_peer(sock, timeout=5):
    """True if the peer closed (or reset) the connection within timeout."""
    deadline = time.time() + timeout
    try:
        # What the node sent first (its BASP server handshake, a TLS alert)
        # is read and ignored: only the end of the stream counts.
        while True:
            left = deadline - time.time()
            if left <= 0:
                return False
            sock.settimeout(left)
            if sock.recv(4096) == b"":
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def hostile(node, creds, label, count=20, announce=GIB):
    """`count` connections that each send one header announcing `announce`
    bytes, then stall while heraldctl asks for the status. Answers the
    growth of the node's resident memory and how many connections the node
    closed."""
    before = rss(node.proc.pid)
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", node.port), timeout=5)
        s.sendall(basp_header(announce))
        socks.append(s)
    time.sleep(2)
    peak = rss(node.proc.pid)
    status = ctl_tls(node.port, creds, "status", timeout=60)
    peak = max(peak, rss(node.proc.pid))
    closed = sum(1 for s in socks if closed_by_peer(s, timeout=3))
    for s in socks:
        s.close()
    growth = peak - before
    print("     %s: %d connection(s) announcing %d MiB: VmRSS %.1f -> %.1f MiB "
          "(+%.1f MiB), %d closed by the node"
          % (label, count, announce // MIB, before / MIB, peak / MIB,
             growth / MIB, closed), flush=True)
    return growth, status, closed


# -- the tests -----------------------------------------------------------------

def mutual_tls(db, pki):
    cluster_node = pki.of("cluster", "node-a")
    client = pki.of("cluster", "heraldctl")
    with tls_node(db, cluster_node) as node:
        out = ctl_tls(node.port, client, "status")
        check(out.returncode == 0 and "test-%d" % node.port in out.stdout,
              "heraldctl with a certificate of the cluster's CA gets the status"
              " of a TLS node: rc=%d %s" % (out.returncode, out.stderr.strip()))
        cases = [
            ("a client certificate of another CA", pki.of("foreign",
                                                          "heraldctl")),
            ("a node certificate of another CA", pki.of("foreign", "node-x")),
            ("a self-signed certificate",
             (pki.self_cert, pki.self_key, pki.self_cert)),
            ("no certificate (plaintext)", None),
        ]
        for what, creds in cases:
            t0 = time.time()
            out = ctl_tls(node.port, creds, "status", timeout=90)
            took = time.time() - t0
            check(out.returncode == 3 and "nothing was sent" in out.stderr
                  and "test-%d" % node.port not in out.stdout,
                  "heraldctl with %s is refused (exit 3, %.1fs): %s"
                  % (what, took, out.stderr.strip()[-300:]))
        # Plaintext BASP straight at the TLS port: the node closes it.
        s = socket.create_connection(("127.0.0.1", node.port), timeout=5)
        s.sendall(basp_header(64))
        check(closed_by_peer(s), "plaintext BASP to a TLS port is closed by "
              "the node")
        s.close()
        out = ctl_tls(node.port, client, "status")
        check(out.returncode == 0, "the TLS node still serves its cluster's "
              "heraldctl after the refusals")
        log = node.read_log()
        check("mutual TLS" in log, "the node says its cluster port is mutual "
              "TLS")
        # Nodes seeded with it: one of the cluster's CA becomes a member,
        # one of another CA and a plaintext one never do.
        seeds = '--cluster.seeds=["127.0.0.1:%d"]' % node.port
        with tls_node(db, pki.of("cluster", "node-b"), [seeds]) as good, \
                tls_node(db, pki.of("foreign", "node-x"), [seeds]) as foreign, \
                Node(db, extra=[seeds]) as plain:
            up = lambda n: "member test-%d at" % n.port in node.read_log()
            joined = lambda: ("member test-%d at" % node.port
                              in good.read_log())
            wait_until(lambda: up(good) and joined(), timeout=15)
            check(up(good) and joined(), "a node with a certificate of the "
                  "cluster's CA and the TLS node become members of each "
                  "other (the dial back included)")
            # Strangers fail their handshakes meanwhile; the members'
            # connections stay (caf_openssl left OpenSSL's error queue
            # behind, and the next quiet read of a member's connection
            # failed: apps/openssl_error_queue.cpp).
            strangers = []
            for _ in range(10):
                st = socket.create_connection(("127.0.0.1", node.port))
                st.sendall(basp_header(64))
                strangers.append(st)
            ctl_tls(node.port, pki.of("foreign", "heraldctl"), "status")
            ctl_tls(node.port, None, "status")
            time.sleep(4)
            for st in strangers:
                st.close()
            check("is down" not in node.read_log()
                  and "is down" not in good.read_log(),
                  "no member is lost while strangers fail their TLS "
                  "handshakes")
            check(not up(foreign) and not up(plain),
                  "a node of another CA and a plaintext node never become "
                  "members (foreign: %s, plaintext: %s)"
                  % (up(foreign), up(plain)))
            check("member test-%d at" % node.port not in foreign.read_log()
                  and "member test-%d at" % node.port not in plain.read_log(),
                  "neither of them learns the TLS node as a member")
    # A TLS client against a plaintext node fails too.
    with Node(db) as plain:
        out = ctl_tls(plain.port, client, "status", timeout=90)
        check(out.returncode == 3, "heraldctl with TLS against a plaintext "
              "node is refused: %s" % out.stderr.strip()[-200:])


def guard_rails(db, pki):
    cert, key, ca = pki.of("cluster", "node-a")

    def refused(what, node, *needles):
        rc, out = node.run_to_exit(timeout=90)
        check(rc != 0 and all(n in out for n in needles),
              "%s is refused (rc=%d), naming %s: %s"
              % (what, rc, ", ".join(needles), out.strip()[-400:]))

    refused("a non-loopback cluster.host without TLS (dev mode)",
            Node(db, extra=["--cluster.host=192.0.2.1"]), "cluster.host",
            "not a loopback address")
    refused("cluster.host 0.0.0.0 without TLS",
            Node(db, extra=["--cluster.host=0.0.0.0"]), "cluster.host")
    refused("cluster.allow-plaintext outside dev mode",
            Node(db, dev=False, extra=["--cluster.allow-plaintext"]),
            "cluster.allow-plaintext", "dev mode")
    # Dev mode with allow-plaintext passes the check; binding an address
    # this machine lacks then fails.
    rc, out = Node(db, extra=["--cluster.host=192.0.2.1",
                              "--cluster.allow-plaintext"]).run_to_exit(90)
    check(rc != 0 and "not a loopback address" not in out
          and "cannot publish" in out,
          "dev mode with cluster.allow-plaintext lets a non-loopback "
          "cluster.host through (then 192.0.2.1 cannot be bound): %s"
          % out.strip()[-300:])
    refused("openssl.certificate alone",
            Node(db, extra=["--openssl.certificate=" + cert]),
            "openssl.key", "openssl.cafile", "missing")
    refused("openssl.cafile alone from HERALD_OPENSSL_CAFILE",
            Node(db, env={"HERALD_OPENSSL_CAFILE": ca}),
            "openssl.certificate", "missing")
    refused("a key that does not belong to the certificate",
            Node(db, extra=node_flags(cert, pki.of("cluster", "heraldctl")[1],
                                      ca)), "does not belong")
    refused("a node certificate of another CA than openssl.cafile",
            Node(db, extra=node_flags(*pki.of("foreign", "node-x")[:2], ca)),
            "is not accepted by")
    refused("a client-only certificate for a node",
            Node(db, extra=node_flags(*pki.of("cluster", "heraldctl")))
            , "TLS server")
    refused("an expired certificate",
            Node(db, extra=node_flags(*pki.expired, ca)), "has expired")
    refused("a missing certificate file",
            Node(db, extra=node_flags(cert + ".missing", key, ca)),
            "cannot be read")
    # A certificate that expires in 10 days: a warning, and it works.
    soon = pki.of("cluster", "node-soon")
    with tls_node(db, soon) as node:
        log = node.read_log()
        check("expires in" in log and "node-soon" in log,
              "a node certificate that expires in 10 days is warned about")
        out = ctl_tls(node.port, pki.of("cluster", "soon"), "status")
        check(out.returncode == 0 and "expires in" in out.stderr,
              "heraldctl warns about its own certificate expiring in 10 days "
              "and works: %s" % out.stderr.strip()[-200:])
        out = ctl_tls(node.port, (pki.expired[0], pki.expired[1], ca),
                      "status")
        check(out.returncode == 2 and "has expired" in out.stderr,
              "heraldctl refuses its expired certificate (exit 2): %s"
              % out.stderr.strip()[-200:])
        out = ctl_tls(node.port, pki.of("cluster", "heraldctl")[:2]
                      + (pki.of("foreign", "heraldctl")[2],), "status")
        check(out.returncode == 2 and "is not accepted by" in out.stderr,
              "heraldctl whose certificate does not chain to its own "
              "--tls-cafile refuses to start (exit 2): %s"
              % out.stderr.strip()[-200:])
        out = subprocess.run([CTL, "--node", "127.0.0.1:%d" % node.port,
                              "--tls-certificate", cert, "status"],
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 2 and "--tls-key" in out.stderr,
              "heraldctl with --tls-certificate alone: a usage error naming "
              "--tls-key: %s" % out.stderr.strip()[-200:])
        env = dict(os.environ, HERALD_OPENSSL_CERTIFICATE=pki.of(
            "cluster", "heraldctl")[0], HERALD_OPENSSL_KEY=pki.of(
            "cluster", "heraldctl")[1], HERALD_OPENSSL_CAFILE=ca)
        out = subprocess.run([CTL, "--node", "127.0.0.1:%d" % node.port,
                              "status"], capture_output=True, text=True,
                             timeout=60, env=env)
        check(out.returncode == 0, "heraldctl takes its TLS files from "
              "HERALD_OPENSSL_*: %s" % out.stderr.strip()[-200:])


def hostile_peers(db, pki):
    client = pki.of("cluster", "heraldctl")
    with Node(db) as node:
        growth, status, closed = hostile(node, None, "plaintext")
        check(growth < 64 * MIB, "plaintext: 20 peers announcing 1 GiB grow "
              "the node by less than 64 MiB (+%.1f MiB)" % (growth / MIB))
        check(status.returncode == 0, "plaintext: heraldctl status works "
              "meanwhile: %s" % status.stderr.strip()[-200:])
        check(closed == 20, "plaintext: the node closed all 20 (%d)" % closed)
        check("announced a message of 1073741824 bytes" in node.read_log(),
              "plaintext: the node logs the refusal")
    # Control: the same measurement sees an announcement the limit allows
    # (the largest limit; 200 MiB on one connection).
    with Node(db, extra=["--cluster.max-message-size=268435456"]) as node:
        growth, status, closed = hostile(node, None, "control", count=1,
                                         announce=200 * MIB)
        check(growth > 150 * MIB, "control: an announcement under the limit "
              "is allocated, and the measurement sees it (+%.1f MiB)"
              % (growth / MIB))
    with tls_node(db, pki.of("cluster", "node-a")) as node:
        growth, status, closed = hostile(node, client, "TLS")
        check(growth < 64 * MIB, "TLS: 20 peers announcing 1 GiB grow the "
              "node by less than 64 MiB (+%.1f MiB)" % (growth / MIB))
        check(status.returncode == 0, "TLS: heraldctl status works meanwhile:"
              " %s" % status.stderr.strip()[-200:])
        check(closed == 20, "TLS: the node closed all 20 (%d)" % closed)


def main():
    pki = Pki(os.path.join(RUN_DIR, "cluster-tls-pki"))
    with Database() as db:
        mutual_tls(db.name, pki)
        guard_rails(db.name, pki)
        hostile_peers(db.name, pki)
    finish()


if __name__ == "__main__":
    main()
