"""HTTP gateway benchmark (issue 11): the gateway against raw baselines
measured in the same run, in alternating rounds, reported as medians and
ratios.

Usage (run with /usr/bin/python3; wrk must be installed):

  bench/http_bench.py [--build DIR] [--seconds S] [--rounds N]
                      [--io-threads N] [--workers N] [--only FIGURES]
  bench/http_bench.py --url http://HOST:PORT --mysql-port P [...]

Without --url it starts its own MariaDB (scripts/local-servers, run folder
under a new temp folder, port --mysql-port, default 3371) and a herald-node
from --build (default <repo>/build) with roles user, token, reset and gateway
in dev mode, --http.io-threads=--io-threads, --hasher.workers=--workers and
throttling limits high enough never to be reached, and stops both at the end.
With --url it uses a running node (its MariaDB at --mysql-port for the select
baseline; the user it creates stays).

Figures (--only picks some: http, login, mixed):
  http   wrk -t2 -c64 --latency against, per round in rotating order:
         herald-http-raw (bench/http_raw.cpp, a bare Beast keep-alive server
         on --io-threads threads answering 60 bytes of JSON to anything),
         POST /v1/tokens/validate, GET /v1/users/me, and the raw point select
         of /me on MariaDB (herald-raw-baselines select, one connection per
         thread, as many threads as the node's mysql.pool-size).
         Reports requests/s and p99 medians, validate/raw (goal >= 0.60),
         me/raw and me/raw-select.
  login  POST /v1/sessions with wrk -t1..2 -c<workers> against herald's own
         argon2id verify (herald-raw-baselines verify) on <workers> plain
         threads (goal >= 0.90).
  mixed  POST /v1/tokens/validate latency from a probe (one kept-alive
         connection, one request every 2 ms) alone, and while a login wrk
         with twice as many connections as hasher workers saturates the
         hashers (goal: p99 under 5 ms).

With its own node it also prints the CPU time per request of the node
process against that of the baseline's process (herald-http-raw, or
herald-raw-baselines' client side), which the machine's other load sways
less than requests/s. Each round's figures are printed as they come; the summary at the end gives
medians over rounds, and the median and range of the per-round ratios.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PASSWORD = "http bench password, not a secret"
EMAIL = "http-bench@bench.example"


# -- servers ----------------------------------------------------------------------


def call(method, url, body=None, token=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


class OwnNode:
    """MariaDB under a temp folder and one herald-node with the gateway."""

    def __init__(self, args):
        self.args = args
        self.run_dir = tempfile.mkdtemp(prefix="herald-httpbench-")
        self.env = dict(os.environ, HERALD_RUN_DIR=self.run_dir,
                        HERALD_MYSQL_PORT=str(args.mysql_port),
                        HERALD_MYSQL_PASSWORD=args.mysql_password)
        self.node = None
        self.log = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise

    def start(self):
        subprocess.run([os.path.join(REPO, "scripts", "local-servers"),
                        "start", "mysql"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        a = self.args
        node_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("HERALD_")}
        node_env["HERALD_MYSQL_PASSWORD"] = a.mysql_password
        self.log = open(os.path.join(self.run_dir, "node.log"), "w")
        self.node = subprocess.Popen(
            [os.path.join(a.build, "herald-node"),
             "--config-file=%s/config/herald.ini" % REPO,
             "--cluster.port=%d" % a.node_port,
             "--mysql.port=%d" % a.mysql_port,
             "--mysql.pool-size=%d" % a.pool_size,
             "--herald.node-name=httpbench-%d" % a.node_port,
             '--herald.roles=["user","token","reset","gateway"]',
             "--herald.dev-mode", "--herald.log-level=warn",
             "--http.port=%d" % a.http_port,
             "--http.io-threads=%d" % a.io_threads,
             "--hasher.workers=%d" % a.workers,
             # Only failures count; the most the options allow anyway.
             "--throttle.login-failures-per-email=100000",
             "--throttle.login-failures-per-address=1000000"],
            env=node_env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            if self.node.poll() is not None:
                raise RuntimeError("herald-node exited; see %s/node.log"
                                   % self.run_dir)
            try:
                status, _ = call("GET", self.args.url + "/readyz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("gateway not ready; see %s/node.log"
                                   % self.run_dir)
            time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        if self.node is not None and self.node.poll() is None:
            self.node.terminate()
            try:
                self.node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.node.kill()
                self.node.wait()
        if self.log is not None:
            self.log.close()
        subprocess.run([os.path.join(REPO, "scripts", "local-servers"),
                        "stop", "mysql"], env=self.env,
                       stdout=subprocess.DEVNULL)
        if exc[0] is None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:
            print("kept %s (node.log)" % self.run_dir, file=sys.stderr)


class Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class RawServer:
    """herald-http-raw on its own port."""

    def __init__(self, args):
        self.args = args
        self.proc = None
        self.url = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [os.path.join(self.args.build, "bench", "herald-http-raw"), "0",
             str(self.args.io_threads)], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on (\d+)", line)
        if not m:
            raise RuntimeError("herald-http-raw: %r" % line)
        self.url = "http://127.0.0.1:%s" % m.group(1)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


# -- wrk ----------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def lua_script(tmp, name, method, body=None, token=None):
    """A wrk script that sends one fixed request (a POST body, a bearer)."""
    lines = ['wrk.method = "%s"' % method]
    if body is not None:
        lines.append("wrk.body = %s" % json.dumps(json.dumps(body)))
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    if token:
        lines.append('wrk.headers["Authorization"] = "Bearer %s"' % token)
    path = os.path.join(tmp, name + ".lua")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def wrk_command(url, seconds, threads, conns, script=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds,
           "--latency"]
    if script:
        cmd += ["-s", script]
    return cmd + [url]


def parse_wrk(out, what):
    """Answers (requests/s, p99 ms); fails on errors or non-2xx answers."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not rate or not p99:
        raise RuntimeError("%s: cannot read wrk's output:\n%s" % (what, out))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise RuntimeError("%s: %s %s\n%s" % (
            what, bad.group(0) if bad else "", errors.group(0) if errors
            else "", out))
    return float(rate.group(1)), float(p99.group(1)) * UNITS[p99.group(2)]


def proc_cpu(pid):
    """CPU seconds (user and system, all threads) process `pid` used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# CPU time per request of the server under test, by figure name: the
# node's (or herald-http-raw's) whole process, herald-raw-baselines' own.
# Less at the mercy of the machine's other load than requests/s.
cpu_per_op = {}


def wrk(url, seconds, threads, conns, script, what, pid=None):
    cpu0 = proc_cpu(pid) if pid else 0
    out = subprocess.run(wrk_command(url, seconds, threads, conns, script),
                         capture_output=True, text=True, check=True).stdout
    rate, p99 = parse_wrk(out, what)
    if pid:
        n = int(re.search(r"(\d+) requests in", out).group(1))
        cpu_per_op.setdefault(what, []).append((proc_cpu(pid) - cpu0) / n)
    return rate, p99


def print_cpu(a, b):
    """Median CPU per request of `a` and `b` and their ratio."""
    if a not in cpu_per_op or b not in cpu_per_op:
        return
    x = statistics.median(cpu_per_op[a]) * 1e6
    y = statistics.median(cpu_per_op[b]) * 1e6
    print("  CPU per request: %s %.1f us, %s %.1f us: %s/%s %.3f"
          % (a, x, b, y, a, b, x / y))


def raw_baseline(args, *mode_args):
    out = subprocess.run(
        [os.path.join(args.build, "bench", "herald-raw-baselines")]
        + [str(x) for x in mode_args],
        capture_output=True, text=True,
        env=dict(os.environ, MYSQL_PWD=args.mysql_password))
    if out.returncode != 0:
        raise RuntimeError("herald-raw-baselines %s: %s"
                           % (" ".join(map(str, mode_args)), out.stderr))
    m = re.search(r"rate=([\d.]+) p50_us=(\d+) p99_us=(\d+) "
                  r"cpu_us_per_op=([\d.]+)", out.stdout)
    cpu_per_op.setdefault("raw-" + mode_args[0], []).append(
        float(m.group(4)) / 1e6)
    return float(m.group(1)), float(m.group(3)) / 1000.0


# -- figures ------------------------------------------------------------------------


def load_avg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def rounds(args, runs, title):
    """Runs each (name, fn) of `runs` once per round, the order rotating from
    round to round; fn answers (rate, p99 ms). Answers {name: [(rate, p99)]}."""
    out = {name: [] for name, _ in runs}
    for r in range(args.rounds):
        k = r % len(runs)
        order = runs[k:] + runs[:k]
        line = []
        for name, fn in order:
            rate, p99 = fn()
            out[name].append((rate, p99))
            line.append("%s %.0f/s p99 %.2f ms" % (name, rate, p99))
        print("  %s round %d (load %s): %s" % (title, r + 1, load_avg(),
                                               "; ".join(line)), flush=True)
    return out


def summary(results, name):
    rates = [x for x, _ in results[name]]
    p99s = [y for _, y in results[name]]
    return statistics.median(rates), statistics.median(p99s)


def ratio(results, a, b, goal=None):
    per_round = [x[0] / y[0] for x, y in zip(results[a], results[b])]
    med = statistics.median(per_round)
    print("  %-26s %.3f (rounds %.2f-%.2f)%s" % (
        "%s/%s" % (a, b), med, min(per_round), max(per_round),
        "" if goal is None else "   goal >= %.2f: %s"
        % (goal, "met" if med >= goal else "NOT MET")))


def print_table(results):
    print("  %-14s %12s %12s" % ("figure", "requests/s", "p99 ms"))
    for name in results:
        rate, p99 = summary(results, name)
        print("  %-14s %12.0f %12.2f" % (name, rate, p99))


def fig_http(args, ctx, raw):
    s, c = args.seconds, args.connections
    runs = [
        ("raw", lambda: wrk(raw.url + "/", s, 2, c, None, "raw",
                            raw.proc.pid)),
        ("validate", lambda: wrk(args.url + "/v1/tokens/validate", s, 2, c,
                                 ctx["validate.lua"], "validate",
                                 args.node_pid)),
        ("me", lambda: wrk(args.url + "/v1/users/me", s, 2, c,
                           ctx["me.lua"], "me", args.node_pid)),
        ("raw-select", lambda: raw_baseline(
            args, "select", s, args.pool_size, "127.0.0.1", args.mysql_port,
            "herald", args.database, ctx["id"])),
    ]
    print("\nhttp: wrk -t2 -c%d -d%ds --latency; raw-select: %d threads, one "
          "connection each; %d I/O threads" % (c, s, args.pool_size,
                                               args.io_threads), flush=True)
    res = rounds(args, runs, "http")
    print("http: medians of %d rounds" % args.rounds)
    print_table(res)
    ratio(res, "validate", "raw", 0.60)
    ratio(res, "me", "raw")
    ratio(res, "me", "raw-select")
    print_cpu("validate", "raw")
    print_cpu("me", "raw")
    print_cpu("me", "raw-select")


def fig_login(args, ctx):
    """Logins/s with the hashers kept busy (login-connections, default twice
    the workers: with one connection per worker each login's round trips to
    MariaDB and back to the client leave a hasher idle, which measures the
    client's latency, not the node's capacity) and, for comparison, with
    one connection per worker (login-1c)."""
    s, w = args.seconds, args.workers
    c = args.login_connections or 2 * w
    runs = [
        ("login", lambda: wrk(args.url + "/v1/sessions", s, min(2, w), c,
                              ctx["login.lua"], "login", args.node_pid)),
        ("raw-verify", lambda: raw_baseline(args, "verify", s, w)),
        ("login-1c", lambda: wrk(args.url + "/v1/sessions", s, min(2, w), w,
                                 ctx["login.lua"], "login-1c",
                                 args.node_pid)),
    ]
    print("\nlogin: wrk -t%d -c%d -d%ds --latency POST /v1/sessions "
          "(login-1c: -c%d); raw-verify: herald's verify_password on %d "
          "threads" % (min(2, w), c, s, w, w), flush=True)
    res = rounds(args, runs, "login")
    print("login: medians of %d rounds" % args.rounds)
    print_table(res)
    ratio(res, "login", "raw-verify", 0.90)
    ratio(res, "login-1c", "raw-verify")
    if w >= (os.cpu_count() or 1):
        print("  note: %d hasher workers on %d cores: MariaDB (the throttle "
              "and the account read), wrk and the gateway run on the hashing "
              "cores, which the raw baseline has to itself; --workers %d "
              "leaves them a core" % (w, os.cpu_count() or 1,
                                      max(1, (os.cpu_count() or 1) - 1)))
    print_cpu("login", "raw-verify")
    print_cpu("login-1c", "raw-verify")


def probe_validate(args, ctx, seconds, label):
    """One kept-alive connection sends POST /v1/tokens/validate every 2 ms
    (an open-loop probe: it adds no queue of its own); answers (probes/s,
    p99 ms) and prints p50 and max."""
    u = urllib.parse.urlsplit(args.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    body = json.dumps({"token": ctx["token"]})
    headers = {"Content-Type": "application/json"}
    latencies = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        conn.request("POST", "/v1/tokens/validate", body=body,
                     headers=headers)
        res = conn.getresponse()
        res.read()
        if res.status != 200:
            raise RuntimeError("validate probe: %d" % res.status)
        latencies.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.002)
    conn.close()
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print("    (%s: probe p50 %.2f ms p99 %.2f ms max %.2f ms, %d probes)"
          % (label, p50, p99, latencies[-1], len(latencies)), flush=True)
    return len(latencies) / seconds, p99


def fig_mixed(args, ctx):
    s, w = args.seconds, args.workers

    def during_logins():
        login = subprocess.Popen(
            wrk_command(args.url + "/v1/sessions", s + 2, min(2, w), 2 * w,
                        ctx["login.lua"]), stdout=subprocess.PIPE, text=True)
        time.sleep(1)  # the hashers busy before the probe starts
        try:
            result = probe_validate(args, ctx, s, "validate+login")
        finally:
            out = login.communicate()[0]
        logins, _ = parse_wrk(out, "logins during the probe")
        print("    (logins meanwhile %.1f/s)" % logins, flush=True)
        return result

    runs = [
        ("validate", lambda: probe_validate(args, ctx, s, "validate")),
        ("validate+login", during_logins),
    ]
    print("\nmixed: a validate probe every 2 ms on one connection, alone and "
          "while wrk -t%d -c%d -d%ds POST /v1/sessions runs; rate = probes/s"
          % (min(2, w), 2 * w, s + 2), flush=True)
    res = rounds(args, runs, "mixed")
    print("mixed: medians of %d rounds" % args.rounds)
    print_table(res)
    _, p99 = summary(res, "validate+login")
    print("  validate p99 during logins %.2f ms   goal < 5 ms: %s"
          % (p99, "met" if p99 < 5 else "NOT MET"))


def prepare(args, tmp):
    """Creates the bench user (or finds it), logs in; writes the wrk
    scripts. Answers the context the figures use."""
    status, body = call("POST", args.url + "/v1/users",
                        {"name": "http bench", "email": EMAIL,
                         "password": PASSWORD})
    if status not in (201, 409):
        raise RuntimeError("create user: %s %s" % (status, body))
    status, body = call("POST", args.url + "/v1/sessions",
                        {"email": EMAIL, "password": PASSWORD})
    if status != 200:
        raise RuntimeError("login: %s %s" % (status, body))
    token = body["access_token"]
    status, me = call("GET", args.url + "/v1/users/me", token=token)
    if status != 200:
        raise RuntimeError("me: %s %s" % (status, me))
    return {
        "id": me["id"],
        "token": token,
        "validate.lua": lua_script(tmp, "validate", "POST",
                                   body={"token": token}),
        "me.lua": lua_script(tmp, "me", "GET", token=token),
        "login.lua": lua_script(tmp, "login", "POST",
                                body={"email": EMAIL,
                                      "password": PASSWORD}),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--url", help="a running gateway (else start a node)")
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--io-threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2,
                   help="hasher workers (of the node it starts, or of the "
                   "running one)")
    p.add_argument("--pool-size", type=int, default=4,
                   help="mysql.pool-size (of the node it starts, or of the "
                   "running one): threads of the raw select")
    p.add_argument("--login-connections", type=int, default=0,
                   help="wrk connections of the login figure (default: "
                   "twice the workers)")
    p.add_argument("--only", default="http,login,mixed")
    p.add_argument("--http-port", type=int, default=8391)
    p.add_argument("--node-port", type=int, default=4771)
    p.add_argument("--mysql-port", type=int, default=3371)
    p.add_argument("--mysql-password",
                   default=os.environ.get("HERALD_MYSQL_PASSWORD",
                                          "herald-dev-password"))
    p.add_argument("--database", default="herald")
    args = p.parse_args()
    own = args.url is None
    args.node_pid = None
    if own:
        args.url = "http://127.0.0.1:%d" % args.http_port
    only = set(args.only.split(","))
    print("herald http bench on %d cores, %s, commit %s, load %s" % (
        os.cpu_count(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True).stdout.strip(),
        load_avg()), flush=True)
    tmp = tempfile.mkdtemp(prefix="herald-httpbench-lua-")
    try:
        with (OwnNode(args) if own else Nothing()) as servers:
            if own:
                args.node_pid = servers.node.pid
            ctx = prepare(args, tmp)
            if "http" in only:
                with RawServer(args) as raw:
                    fig_http(args, ctx, raw)
            if "login" in only:
                fig_login(args, ctx)
            if "mixed" in only:
                fig_mixed(args, ctx)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
