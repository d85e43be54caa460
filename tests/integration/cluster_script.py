"""scripts/cluster as a user runs it (needs: mysql, rabbitmq): the script
itself, from a folder outside the repository, with the test MariaDB and
RabbitMQ, and ports, folders and a database of its own (never the
developer's 3307, 5673, 2525, 4720+, 8081 or <repo>/.run):

- `start` (3 nodes) exits 0 and A, B and C come up;
- `status` shows A {gateway, user} as self and B {token, reset}, C {token,
  reset, mailer, bridge} up, seen from A: the members really met (nodes
  started without seeds run alone, each answering heraldctl status); the
  cluster port speaks TLS only (heraldctl without the client certificate
  is refused, with the one in the cluster folder's `ctl` line it works);
- through A's HTTP API: sign-up 201, the welcome mail reaches the SMTP sink
  the script started (scripts/local-servers, HERALD_SMTP_PORT), login 200,
  validate 200;
- `stop` ends every node it started (no herald-node of this cluster left,
  its ports free); a second `stop` is harmless; `start` after `stop` works
  (the members meet again, the same user logs in);
- a start while a cluster port is taken fails at once, naming the port and
  HERALD_CLUSTER_BASE_PORT, and starts nothing; a node that cannot bind its
  port though nothing listens there (checked only by the node) fails the
  start, naming the node, and the nodes that did come up are stopped.

The SMTP sink the script starts is stopped at the end (the fixtures stop
MariaDB and RabbitMQ)."""

import email
import email.policy
import glob
import json
import os
import random
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from herald_harness import (MYSQL_PASSWORD, MYSQL_PORT, RUN_DIR, SOURCE,
                            Database, check, finish, wait_until)
from http_util import call

# ctest says where the sources and the build under test are; run by hand,
# this file's checkout and its build/.
REPO = (os.path.abspath(SOURCE) if "HERALD_SOURCE_DIR" in os.environ else
        os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))))
SCRIPT = os.path.join(REPO, "scripts", "cluster")
LOCAL_SERVERS = os.path.join(REPO, "scripts", "local-servers")
BUILD_DIR = os.path.abspath(os.environ.get("HERALD_BUILD_DIR") or
                            os.path.join(REPO, "build"))
RABBITMQ_PORT = int(os.environ.get("HERALD_TEST_RABBITMQ_PORT", "5683"))
CLUSTER_DIR = os.path.join(os.path.abspath(RUN_DIR), "cluster-script")
MAILDIR = os.path.join(os.path.abspath(RUN_DIR), "smtp", "maildir", "new")
PW = "correct horse battery staple"
# The developer's ports (scripts/run, scripts/cluster, local-servers).
DEV_PORTS = {3307, 5673, 5674, 2525, 8080, 8081} | set(range(4710, 4740))


def bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pick_ports():
    """SMTP port, HTTP port and a cluster base port whose next three are
    free; below the ephemeral range (no outgoing connection takes them),
    none of the developer's or the test servers'."""
    taken = DEV_PORTS | {MYSQL_PORT, RABBITMQ_PORT, RABBITMQ_PORT + 1,
                         RABBITMQ_PORT + 20000}
    for _ in range(200):
        base = random.randrange(20000, 32000)
        ports = [base + i for i in range(1, 6)]
        if taken.isdisjoint(ports) and all(bindable(p) for p in ports):
            # base+1..3 the nodes, base+4 SMTP, base+5 HTTP.
            return ports[3], ports[4], base
    raise RuntimeError("no free ports found")


SMTP_PORT, HTTP_PORT, BASE_PORT = pick_ports()
NODE_PORTS = [BASE_PORT + i for i in (1, 2, 3)]
URL = "http://127.0.0.1:%d" % HTTP_PORT


def script_env(database):
    """A user's environment: none of the test's HERALD_* variables, only
    the script's settings (and the database, a node option)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update({
        "HERALD_MYSQL_PORT": str(MYSQL_PORT),
        "HERALD_MYSQL_PASSWORD": MYSQL_PASSWORD,
        "HERALD_RABBITMQ_PORT": str(RABBITMQ_PORT),
        "HERALD_SMTP_PORT": str(SMTP_PORT),
        "HERALD_RUN_DIR": os.path.abspath(RUN_DIR),
        "HERALD_BUILD_DIR": BUILD_DIR,
        "HERALD_CLUSTER_DIR": CLUSTER_DIR,
        "HERALD_CLUSTER_BASE_PORT": str(BASE_PORT),
        "HERALD_CLUSTER_HTTP_PORT": str(HTTP_PORT),
        "HERALD_MYSQL_DATABASE": database,
    })
    return env


ENV = None
CWD = tempfile.mkdtemp(prefix="herald-cluster-script-")


def run(*args, timeout=120):
    """scripts/cluster ARGS from a folder outside the repository; answers
    (rc, stdout, stderr) and prints them."""
    t0 = time.time()
    try:
        out = subprocess.run([SCRIPT] + list(args), env=ENV, cwd=CWD,
                             capture_output=True, text=True, timeout=timeout)
        rc, so, se = out.returncode, out.stdout, out.stderr
    except subprocess.TimeoutExpired as e:
        rc, so, se = "timeout", str(e.stdout or ""), str(e.stderr or "")
    print("$ scripts/cluster %s  -> %s in %.1fs\n%s%s"
          % (" ".join(args), rc, time.time() - t0, so,
             "".join("  stderr: %s\n" % l for l in se.splitlines())),
          flush=True)
    return rc, so, se


def cluster_pids():
    """herald-node processes of this cluster (their command line names its
    folder), whoever started them."""
    pids = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if (argv and argv[0].endswith(b"herald-node")
                and any((CLUSTER_DIR + "/").encode() in a for a in argv)):
            pids.append(int(path.split("/")[2]))
    return pids


def ctl_line():
    """The heraldctl command line the script left in the cluster folder."""
    with open(os.path.join(CLUSTER_DIR, "ctl")) as f:
        return shlex.split(f.read())


def cluster_json():
    try:
        out = subprocess.run(ctl_line() + ["--node", "127.0.0.1:%d"
                                           % NODE_PORTS[0], "--timeout", "5",
                                           "--json", "cluster", "status"],
                             capture_output=True, text=True, timeout=20)
        return json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


WANT = [("node-a", NODE_PORTS[0], "gateway,user", "self"),
        ("node-b", NODE_PORTS[1], "token,reset", "up"),
        ("node-c", NODE_PORTS[2], "token,reset,mailer,bridge", "up")]


def status_ok(text):
    """`scripts/cluster status` shows A, B and C running and, in heraldctl
    cluster status from A, each with its address, roles and state."""
    for name, port, roles, state in WANT:
        letter = name[-1]
        if not re.search(r"^node %s: pid \d+, cluster 127\.0\.0\.1:%d, "
                         r"running$" % (letter, port), text, re.M):
            return False
        if not re.search(r"^%s\s+127\.0\.0\.1:%d\s+%s\s.*\s%s$"
                         % (name, port, re.escape(roles), state), text, re.M):
            return False
    return "routes from this node" in text


def check_members_met(what):
    """Polls `scripts/cluster status` (members meet a moment after every
    node answers) until it shows the three, bounded."""
    last = {}
    t0 = time.time()

    def poll():
        out = subprocess.run([SCRIPT, "status"], env=ENV, cwd=CWD,
                             capture_output=True, text=True, timeout=30)
        last["out"] = out
        return out.returncode == 0 and status_ok(out.stdout)
    ok = wait_until(poll, timeout=20, step=0.5)
    out = last["out"]
    check(ok, "%s: scripts/cluster status (rc %d) shows A self, B and C up "
          "seen from A, with their addresses and roles (after %.1fs):\n%s%s"
          % (what, out.returncode, time.time() - t0, out.stdout, out.stderr))
    st = cluster_json() or {}
    members = {m["name"]: m for m in st.get("members", [])}
    check(all(n in members and members[n]["address"] == "127.0.0.1:%d" % p
              and ",".join(members[n]["roles"]) == r
              and members[n]["state"] == s for n, p, r, s in WANT)
          and len(members) == 3,
          "%s: heraldctl --json cluster status from A (the ctl line): "
          "exactly A, B, C with their roles and states: %r"
          % (what, {n: (m["address"], m["roles"], m["state"])
                    for n, m in members.items()}))
    routes = st.get("routes", {})
    want_remote = sorted("node-%s@127.0.0.1:%d" % (x, p)
                         for x, p in (("b", NODE_PORTS[1]),
                                      ("c", NODE_PORTS[2])))
    check(routes.get("user") == ["local"]
          and all(sorted(routes.get(s, [])) == want_remote
                  for s in ("token", "session", "reset")),
          "%s: A runs user itself and routes token, session, reset to B "
          "and C: %r" % (what, routes))


def check_all_gone(what):
    check(wait_until(lambda: not cluster_pids(), timeout=10),
          "%s: no herald-node of this cluster is left (pids %r)"
          % (what, cluster_pids()))
    busy = [p for p in NODE_PORTS + [HTTP_PORT] if listening(p)]
    check(not busy, "%s: the cluster and HTTP ports are free again (still "
          "listening: %r)" % (what, busy))
    stale = glob.glob(os.path.join(CLUSTER_DIR, "node-?.pid"))
    check(not stale, "%s: no pid file is left: %r" % (what, stale))


def mails_to(address):
    found = []
    for path in glob.glob(os.path.join(MAILDIR, "*")):
        try:
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(
                    f, policy=email.policy.default)
        except OSError:
            continue
        if msg["To"] == address:
            found.append(msg)
    return found


def login(address):
    res = call(URL, "POST", "/v1/sessions",
               body={"email": address, "password": PW}, timeout=40)
    tok = res.json().get("access_token", "") if res.status == 200 else ""
    return res, tok


def validate(tok):
    return call(URL, "POST", "/v1/tokens/validate", body={"token": tok},
                timeout=40)


def stop_smtp_sink():
    env = dict(ENV or os.environ, HERALD_RUN_DIR=os.path.abspath(RUN_DIR))
    out = subprocess.run([LOCAL_SERVERS, "stop", "smtp"], env=env,
                         capture_output=True, text=True, timeout=90)
    print("local-servers stop smtp: %s%s" % (out.stdout, out.stderr),
          flush=True)


print("ports: cluster %r, HTTP %d, SMTP %d; cluster dir %s; build %s; "
      "running from %s" % (NODE_PORTS, HTTP_PORT, SMTP_PORT, CLUSTER_DIR,
                           BUILD_DIR, CWD), flush=True)
t_begin = time.time()
with Database() as db:
    ENV = script_env(db.name)
    # Left by an earlier run that was killed: its nodes, its SMTP sink
    # (only this test starts one in the test run dir).
    if cluster_pids():
        run("stop")
    stop_smtp_sink()
    # As on a first start: no CA yet (the second start reuses it).
    shutil.rmtree(CLUSTER_DIR, ignore_errors=True)
    try:
        # -- start ------------------------------------------------------------
        rc, so, se = run("start", timeout=600)
        check(rc == 0, "scripts/cluster start exits 0 (rc %r)" % rc)
        for x, p in zip("abc", NODE_PORTS):
            check(re.search(r"^node %s: up on 127\.0\.0\.1:%d " % (x, p), so,
                            re.M),
                  "start reports node %s up on 127.0.0.1:%d" % (x, p))
        check(len(cluster_pids()) == 3,
              "three herald-node processes of this cluster run (pids %r)"
              % cluster_pids())
        check(all(os.path.isfile(os.path.join(CLUSTER_DIR, "ca", f))
                  for f in ("ca.pem", "node-a.pem", "node-b.pem", "node-c.pem",
                            "heraldctl.pem")),
              "start made the cluster CA and the certificates in %s/ca"
              % CLUSTER_DIR)
        check(listening(SMTP_PORT) and os.path.isdir(MAILDIR),
              "the script started the SMTP sink on HERALD_SMTP_PORT=%d "
              "(scripts/local-servers, mail in %s)" % (SMTP_PORT, MAILDIR))

        # -- status: the members met ------------------------------------------
        check_members_met("first start")

        # -- TLS on the cluster port -------------------------------------------
        plain = subprocess.run(
            [ctl_line()[0], "--node", "127.0.0.1:%d" % NODE_PORTS[0],
             "--timeout", "5", "status"], capture_output=True, text=True,
            timeout=30)
        check(plain.returncode != 0,
              "heraldctl without the client certificate is refused by A "
              "(rc %d: %s)" % (plain.returncode,
                               (plain.stderr.strip().splitlines() or [""])[-1]))
        for p in NODE_PORTS:
            tls = subprocess.run(ctl_line() + ["--node", "127.0.0.1:%d" % p,
                                               "--timeout", "5", "status"],
                                 capture_output=True, text=True, timeout=30)
            check(tls.returncode == 0,
                  "heraldctl with the ctl line's certificate reaches "
                  "127.0.0.1:%d (rc %d %s)" % (p, tls.returncode,
                                                tls.stderr.strip()[-200:]))

        # -- the account flow through A ----------------------------------------
        address = "cs-%s@example.org" % secrets.token_hex(4)
        res = call(URL, "POST", "/v1/users",
                   body={"name": "Cee", "email": address, "password": PW},
                   timeout=40)
        check(res.status == 201, "sign-up through A -> 201: %r" % res)
        t0 = time.time()
        welcome = wait_until(lambda: mails_to(address), timeout=30)
        check(welcome, "the welcome mail reaches the script's SMTP sink "
              "(%.1fs; mailer on C)" % (time.time() - t0))
        res, tok = login(address)
        check(res.status == 200, "login through A -> 200: %r" % res)
        res = validate(tok)
        check(res.status == 200, "validate through A -> 200: %r" % res)

        # -- stop, stop again ----------------------------------------------------
        rc, so, se = run("stop")
        check(rc == 0 and all("node %s: stopped" % x in so for x in "abc"),
              "scripts/cluster stop exits 0 and stops a, b and c (rc %r)" % rc)
        check_all_gone("after stop")
        rc, so, se = run("stop")
        check(rc == 0 and "no node" in so,
              "a second stop is harmless: exit 0, says no node runs "
              "(rc %r)" % rc)
        rc, so, se = run("status")
        check(rc != 0 and "no node is running" in so,
              "status after stop says no node runs, exit non-zero (rc %r)"
              % rc)

        # -- start after stop ----------------------------------------------------
        rc, so, se = run("start", timeout=600)
        check(rc == 0 and len(cluster_pids()) == 3,
              "start after stop exits 0 with three nodes (rc %r, pids %r)"
              % (rc, cluster_pids()))
        check_members_met("second start")
        res, tok = login(address)
        check(res.status == 200, "the same user logs in through A after the "
              "restart -> 200: %r" % res)
        res = validate(tok)
        check(res.status == 200, "validate after the restart -> 200: %r" % res)
        rc, so, se = run("stop")
        check(rc == 0, "stop after the second start exits 0 (rc %r)" % rc)
        check_all_gone("after the second stop")

        # -- a cluster port taken: refused before anything starts ------------
        # Ports not used yet: the stopped nodes' ports have connections in
        # TIME_WAIT for a minute, where the holders below could not bind.
        _, HTTP_PORT, BASE_PORT = pick_ports()
        NODE_PORTS = [BASE_PORT + i for i in (1, 2, 3)]
        ENV.update(HERALD_CLUSTER_BASE_PORT=str(BASE_PORT),
                   HERALD_CLUSTER_HTTP_PORT=str(HTTP_PORT))
        print("error cases: cluster ports %r, HTTP %d" % (NODE_PORTS,
                                                          HTTP_PORT),
              flush=True)
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", NODE_PORTS[1]))
            holder.listen()
            t0 = time.time()
            rc, so, se = run("start")
            took = time.time() - t0
            check(rc not in (0, "timeout")
                  and str(NODE_PORTS[1]) in se and "in use" in se
                  and "HERALD_CLUSTER_BASE_PORT" in se,
                  "start with node b's port %d taken fails (rc %r), naming "
                  "the port and HERALD_CLUSTER_BASE_PORT" % (NODE_PORTS[1], rc))
            check(took < 10 and not cluster_pids(),
                  "... at once (%.1fs), starting no node (pids %r)"
                  % (took, cluster_pids()))
        check_all_gone("after the refused start")

        # -- a node that cannot bind: the others are stopped again -----------
        # Bound without listening (and without SO_REUSEADDR): nothing
        # answers there, so only the node finds out (it cannot bind), after
        # A and C came up.
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", NODE_PORTS[1]))
            rc, so, se = run("start")
            check(rc not in (0, "timeout")
                  and re.search(r"node\(s\) b did not come up", se)
                  and "cannot publish" in se,
                  "start where node b cannot bind its port fails (rc %r), "
                  "naming node b and showing its log's reason" % rc)
            check("node a: stopped" in so + se and "node c: stopped" in so + se,
                  "... and stops A and C, which had come up")
            check_all_gone("after the failed start")
    finally:
        if cluster_pids() or glob.glob(os.path.join(CLUSTER_DIR,
                                                    "node-?.pid")):
            run("stop")
        stop_smtp_sink()
        shutil.rmtree(CWD, ignore_errors=True)
        left = cluster_pids()
        if left:  # never expected: the script's stop failed
            print("killing nodes the script left: %r" % left, flush=True)
            for pid in left:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
print("run time %.1fs" % (time.time() - t_begin), flush=True)
finish()
