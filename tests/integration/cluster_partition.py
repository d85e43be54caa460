"""A network partition between cluster members, issue 12 (needs: mysql).

Two network namespaces joined by a veth pair on a private /30 (ip netns, as
root): A {gateway, user} and C {token} in namespace a, B {token, reset} in
namespace b, with mutual TLS (a throw-away CA from scripts/cluster-ca; a
non-loopback cluster address needs it). The nodes reach the test MariaDB
through its unix socket (a path crosses namespaces, 127.0.0.1 does not);
RabbitMQ and SMTP stay out (no role here needs them).

- the three become members of each other and A routes tokens to B and C;
- 4 clients validate a token through A's API (inside namespace a) while
  B's end of the link is taken down: A and C drop B, and B drops A and C,
  within 4 s (heraldctl cluster status on each side); every request gets an
  answer within its own timeout, validations go on (on C);
- the link comes back up: all of them are members again, A routes to B,
  and B takes work again (packets on the veth under load, against idle);
- twice; then with C stopped: once B is dropped a validation at A gets
  503 at once, and after the heal 200 again.

Prints the measured drop and rejoin times. A machine that cannot make
network namespaces fails this test (it says so), it does not skip it.
PARTITION_ROUNDS=n sets the number of cuts (2)."""

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import (CTL, RUN_DIR, SOURCE, Database, Node, check,
                            finish, sql, wait_until)
from http_util import call
from cluster_util import Validators, check_load

CLUSTER_CA = os.path.join(SOURCE, "scripts", "cluster-ca")
ROUNDS = int(os.environ.get("PARTITION_ROUNDS", "2"))
# What the issue asks: a dropped member leaves routing within 4 s.
DROP_LIMIT = 4.0
PW = "correct horse battery staple"

PID = os.getpid()
NS_A = "herald-p-%d-a" % PID
NS_B = "herald-p-%d-b" % PID
VETH_A = "hp%da" % (PID % 10000000)   # interface names: 15 characters
VETH_B = "hp%db" % (PID % 10000000)
NET = 1 + PID % 250
IP_A = "10.254.%d.1" % NET
IP_B = "10.254.%d.2" % NET
CLONE_NEWNET = 0x40000000


def run(*cmd, timeout=60):
    out = subprocess.run(list(cmd), capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), out.returncode,
                                                out.stderr.strip()))
    return out.stdout


# -- namespaces ----------------------------------------------------------------

def make_namespaces():
    run("ip", "netns", "add", NS_A)
    run("ip", "netns", "add", NS_B)
    run("ip", "link", "add", VETH_A, "type", "veth", "peer", "name", VETH_B)
    run("ip", "link", "set", VETH_A, "netns", NS_A)
    run("ip", "link", "set", VETH_B, "netns", NS_B)
    for ns, dev, ip in ((NS_A, VETH_A, IP_A), (NS_B, VETH_B, IP_B)):
        run("ip", "-n", ns, "addr", "add", ip + "/30", "dev", dev)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", dev, "up")


def delete_stale_namespaces():
    """Namespaces an earlier run left behind when it was killed (its pid
    gone): this test's names carry the pid."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True,
                         text=True, timeout=30).stdout
    for name in re.findall(r"^(herald-p-(\d+)-[ab])\b", out, re.M):
        if not os.path.exists("/proc/" + name[1]):
            subprocess.run(["ip", "netns", "delete", name[0]],
                           capture_output=True, timeout=30)


def delete_namespaces():
    """Deleting a namespace deletes its end of the veth pair, and with it
    the other end."""
    for ns in (NS_A, NS_B):
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True,
                       timeout=30)
    subprocess.run(["ip", "link", "delete", VETH_A], capture_output=True,
                   timeout=30)


def link(state):
    """Takes B's end of the link down or up: nothing passes either way."""
    run("ip", "-n", NS_B, "link", "set", VETH_B, state)


def veth_packets():
    """Packets B's end of the link sent and received so far."""
    info = json.loads(run("ip", "-n", NS_B, "-s", "-j", "link", "show",
                          "dev", VETH_B))[0]["stats64"]
    return info["tx"]["packets"] + info["rx"]["packets"]


_libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    """Moves the calling thread (only it) into network namespace `ns`."""
    fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
    finally:
        os.close(fd)


def in_ns(ns, fn, *args, **kw):
    """Runs fn in a thread of its own inside namespace `ns`; answers its
    result or raises its exception."""
    box = {}

    def body():
        try:
            enter(ns)
            box["value"] = fn(*args, **kw)
        except BaseException as e:  # handed to the caller
            box["error"] = e
    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- nodes -----------------------------------------------------------------------

class Member:
    """A herald-node inside a namespace, on its cluster address."""

    def __init__(self, db, ns, ip, name, pki, socket_path, roles, seeds=(),
                 gateway=False):
        self.ns, self.ip, self.name = ns, ip, name
        cert = os.path.join(pki, name + ".pem")
        self.ctl_creds = [os.path.join(pki, "heraldctl.pem"),
                          os.path.join(pki, "heraldctl.key"),
                          os.path.join(pki, "ca.pem")]
        extra = ["--cluster.host=" + ip, "--mysql.socket=" + socket_path,
                 "--openssl.certificate=" + cert,
                 "--openssl.key=" + os.path.join(pki, name + ".key"),
                 "--openssl.cafile=" + os.path.join(pki, "ca.pem"),
                 "--hasher.memory-kib=64", "--hasher.iterations=1",
                 "--herald.roles=[%s]" % ",".join('"%s"' % r for r in roles)]
        if seeds:
            extra.append("--cluster.seeds=[%s]" % ",".join(
                '"%s"' % s.address for s in seeds))
        self.node = Node(db, extra=extra, gateway=gateway)
        self.node.args = ["ip", "netns", "exec", ns] + self.node.args
        self.port = self.node.port
        self.address = "%s:%d" % (ip, self.port)
        self.url = self.node.url

    def start(self):
        self.node.start(wait=False)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.node.proc.poll() is not None:
                raise RuntimeError("%s exited early:\n%s"
                                   % (self.name, self.node.read_log()[-3000:]))
            if self.ctl("status", timeout=10).returncode == 0:
                return self
            time.sleep(0.3)
        raise RuntimeError("%s not ready within 60 s" % self.name)

    def ctl(self, *args, timeout=20):
        cmd = ["ip", "netns", "exec", self.ns, CTL, "--node", self.address,
               "--tls-certificate", self.ctl_creds[0],
               "--tls-key", self.ctl_creds[1],
               "--tls-cafile", self.ctl_creds[2]] + list(args)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HERALD_OPENSSL_")}
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(cmd, None, e.stdout or "",
                                               "no answer in %ds" % timeout)

    def status(self):
        out = self.ctl("--json", "cluster", "status", timeout=10)
        if out.returncode != 0:
            return None
        try:
            return json.loads(out.stdout)
        except ValueError:
            return None

    def state_of(self, other):
        st = self.status()
        if not st:
            return "no status"
        for m in st["members"]:
            if m["address"] == other.address:
                return m["state"]
        return "absent"

    def routes(self, service):
        """Where this node routes `service`: "local" or members' addresses
        (status shows name@address)."""
        st = self.status()
        rs = st["routes"].get(service, []) if st else []
        return [r.split("@", 1)[-1] for r in rs]

    def logged(self, other, what, after):
        """Seconds from `after` to the first line of this node's log, at or
        after it, saying `other` "is down" or "is up" (the membership
        actor's own timestamp: exact, no polling), or None."""
        for line in self.node.read_log().splitlines():
            if " at %s " % other.address not in line or what not in line:
                continue
            m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3})\]",
                         line)
            if not m:
                continue
            t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) \
                + int(m.group(2)) / 1000.0
            if t >= after - 0.002:
                return t - after
        return None

    def stop(self):
        try:
            self.node.proc.send_signal(signal.SIGCONT)
        except Exception:
            pass
        self.node.stop()


def rq(node, method, path, body=None, token=None, timeout=20):
    """An HTTP request to a gateway in namespace a."""
    headers = {"Authorization": "Bearer " + token} if token else {}
    return in_ns(NS_A, call, node.url, method, path, body=body,
                 headers=headers, timeout=timeout)


def watch_all(pairs, pred, t0, timeout):
    """Polls observer.state_of(target) for every (observer, target) pair in
    parallel until pred(state); answers {(observer, target): seconds since
    t0 or None}."""
    took = {}

    def one(obs, tgt):
        deadline = t0 + timeout
        while time.time() < deadline:
            if pred(obs.state_of(tgt)):
                took[(obs.name, tgt.name)] = time.time() - t0
                return
            time.sleep(0.1)
    ts = [threading.Thread(target=one, args=p, daemon=True) for p in pairs]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 15)
    return {(o.name, t.name): took.get((o.name, t.name)) for o, t in pairs}


def logged_all(pairs, what, t0):
    return {(o.name, t.name): o.logged(t, what, t0) for o, t in pairs}


def fmt(took):
    return ", ".join("%s sees %s: %s" % (o, t, "%.2fs" % v if v is not None
                                         else "never")
                     for (o, t), v in sorted(took.items()))


def dropped(state):
    return state not in ("up", "self", "no status")


# -- the test -------------------------------------------------------------------

def can_make_namespaces():
    if os.geteuid() != 0:
        return "not root (uid %d): ip netns needs CAP_SYS_ADMIN" % os.geteuid()
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = "herald-p-%d-probe" % PID
    out = subprocess.run(["ip", "netns", "add", probe], capture_output=True,
                         text=True, timeout=30)
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True,
                   timeout=30)
    if out.returncode != 0:
        return "ip netns add failed: " + out.stderr.strip()
    return None


def scenario(db_name, socket_path, pki):
    a = Member(db_name, NS_A, IP_A, "node-a", pki, socket_path,
               ["gateway", "user"], gateway=True)
    c = Member(db_name, NS_A, IP_A, "node-c", pki, socket_path, ["token"],
               seeds=[a])
    b = Member(db_name, NS_B, IP_B, "node-b", pki, socket_path,
               ["token", "reset"], seeds=[a])
    members = [a, b, c]
    try:
        for m in members:
            m.start()
        # -- membership across the link ------------------------------------------
        check(wait_until(lambda: len(a.routes("token")) == 2, timeout=30),
              "A (namespace a) routes tokens to B (namespace b) and C: %r"
              % a.routes("token"))
        across = [(a, b), (c, b), (b, a), (b, c)]
        took = watch_all(across, lambda s: s == "up", time.time(), 20)
        check(all(v is not None for v in took.values()),
              "members of each other across the link over TLS: " + fmt(took))

        res = rq(a, "POST", "/v1/users",
                 {"name": "Pat", "email": "pat@example.org", "password": PW})
        check(res.status == 201, "sign-up through A -> 201: %r" % res.status)
        res = rq(a, "POST", "/v1/sessions",
                 {"email": "pat@example.org", "password": PW})
        check(res.status == 200, "login through A -> 200: %r" % res.status)
        tok = res.json().get("access_token", "") if res.status == 200 else ""
        res = rq(a, "POST", "/v1/tokens/validate", {"token": tok})
        check(res.status == 200, "validate through A -> 200: %r" % res.status)

        # Idle traffic over the link (heartbeats, member polls), per second.
        p0 = veth_packets()
        time.sleep(2)
        idle_rate = (veth_packets() - p0) / 2.0

        drops, polled, rejoins, worst, busy = [], [], [], [], []
        for i in range(ROUNDS):
            r = i + 1
            with Validators(a, tok, setup=lambda: enter(NS_A)) as load:
                time.sleep(1.5)
                t_cut = time.time()
                link("down")
                took = watch_all(across, dropped, t_cut, 15)
                polled.append(took)
                check(all(v is not None for v in took.values()),
                      "cut %d: heraldctl cluster status on both sides shows "
                      "the other side dropped (%s; each figure includes the "
                      "status call that saw it)" % (r, fmt(took)))
                took = logged_all(across, "is down", t_cut)
                drops.append(took)
                check(all(v is not None and v <= DROP_LIMIT
                          for v in took.values()),
                      "cut %d: both sides drop each other within %.0f s (%s; "
                      "the nodes' log lines)" % (r, DROP_LIMIT, fmt(took)))
                check(wait_until(lambda: a.routes("token") == [c.address],
                                 timeout=5),
                      "cut %d: A routes tokens to C alone: %r"
                      % (r, a.routes("token")))
                check(wait_until(lambda: b.routes("user") == [], timeout=5),
                      "cut %d: B routes the user service nowhere (A is on "
                      "the other side): %r" % (r, b.routes("user")))
                gone = max([v for v in took.values() if v is not None]
                           or [DROP_LIMIT])
                time.sleep(2)
                after = load.since(t_cut + gone + 0.5)
                check(after and all(r_[2] == 200 for r_ in after),
                      "cut %d: after the drop validations succeed around "
                      "the cut (on C): %d, %r"
                      % (r, len(after), sorted({str(x[2]) for x in after})))

                t_heal = time.time()
                link("up")
                took = watch_all(across, lambda s: s == "up", t_heal, 30)
                check(all(v is not None for v in took.values()),
                      "heal %d: both sides are members again (%s, polled)"
                      % (r, fmt(took)))
                took = logged_all(across, "is up", t_heal)
                rejoins.append(took)
                check(all(v is not None for v in took.values()),
                      "heal %d: each side logs the other up again after the "
                      "heal (%s)" % (r, fmt(took)))
                check(wait_until(lambda: b.routes("user") == [a.address],
                                 timeout=10),
                      "heal %d: B routes the user service to A again: %r"
                      % (r, b.routes("user")))
                check(wait_until(lambda: len(a.routes("token")) == 2,
                                 timeout=10),
                      "heal %d: A routes tokens to B again: %r"
                      % (r, a.routes("token")))
                time.sleep(0.5)
                p0 = veth_packets()
                time.sleep(2)
                rate = (veth_packets() - p0) / 2.0
                busy.append(rate)
                check(rate > 5 * max(idle_rate, 5),
                      "heal %d: B takes work again: %.0f packets/s over the "
                      "link under load, %.0f idle" % (r, rate, idle_rate))
                time.sleep(1)
            worst.append(check_load(load, "round %d" % r))

        # -- no instance left on A's side: unavailable at once ---------------
        c.stop()
        check(wait_until(lambda: a.routes("token") == [b.address],
                         timeout=10),
              "C stopped: A routes tokens to B alone: %r" % a.routes("token"))
        t_cut = time.time()
        link("down")
        watch_all([(a, b)], dropped, t_cut, 15)
        took = logged_all([(a, b)], "is down", t_cut)
        check(took[("node-a", "node-b")] is not None
              and took[("node-a", "node-b")] <= DROP_LIMIT,
              "C stopped, link cut: A drops B within %.0f s (%s)"
              % (DROP_LIMIT, fmt(took)))
        check(wait_until(lambda: not a.routes("token"), timeout=5),
              "A routes tokens nowhere: %r" % a.routes("token"))
        t0 = time.time()
        try:
            res = rq(a, "POST", "/v1/tokens/validate", {"token": tok},
                     timeout=10)
            code = res.status
        except Exception as e:
            code = "no answer (%s)" % type(e).__name__
        took_s = time.time() - t0
        check(code == 503 and took_s < 1.0,
              "no token instance on A's side of the cut: a validation -> 503 "
              "at once (%.3fs): %r" % (took_s, code))
        t_heal = time.time()
        link("up")
        back = wait_until(lambda: a.state_of(b) == "up", timeout=30, step=0.1)
        check(back, "heal: A takes B back (%.2fs)" % (time.time() - t_heal))
        wait_until(lambda: a.routes("token"), timeout=10)
        res = rq(a, "POST", "/v1/tokens/validate", {"token": tok})
        check(res.status == 200, "validation through A on B after the heal "
              "-> 200: %r" % res.status)

        def figures(xs):
            keys = sorted({k for x in xs for k in x})
            return "; ".join(
                "%s sees %s: %s" % (k[0], k[1], [
                    round(x[k], 2) if x.get(k) is not None else None
                    for x in xs]) for k in keys)
        print("figures: drop after the cut (s, node logs): " + figures(drops))
        print("figures: drop seen by heraldctl polling (s): "
              + figures(polled))
        print("figures: rejoin after the heal (s, node logs): "
              + figures(rejoins))
        print("figures: longest request per round %s s; link packets/s "
              "under load after the heal %s, idle %.0f"
              % ([round(x, 2) for x in worst], [round(x) for x in busy],
                 idle_rate))
    finally:
        try:
            link("up")
        except Exception:
            pass
        for m in members:
            try:
                m.stop()
            except Exception as e:
                print("stopping %s: %s" % (m.name, e))


def main():
    why = can_make_namespaces()
    if why:
        check(False, "this machine cannot make network namespaces (%s): the "
              "partition test needs them (run it as root with iproute2)" % why)
        finish()
    root = os.path.join(RUN_DIR, "partition-%d" % PID)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    pki = os.path.join(root, "ca")
    run(CLUSTER_CA, "init", pki, "node-a", "node-b", "node-c")
    with Database() as db:
        rows = sql("SELECT @@socket")
        socket_path = rows[0][0] if rows and rows[0] else ""
        if not socket_path or not os.path.exists(socket_path):
            check(False, "the test MariaDB has a unix socket the namespaces "
                  "can reach: %r" % socket_path)
            finish()
        try:
            delete_stale_namespaces()
            make_namespaces()
            scenario(db.name, socket_path, pki)
        finally:
            delete_namespaces()
            left = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                  text=True).stdout
            check(NS_A not in left and NS_B not in left,
                  "the namespaces are gone after the test")
    shutil.rmtree(root, ignore_errors=True)
    finish()


main()
