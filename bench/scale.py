"""Scale benchmark (issue 11): what heraldctl's reads cost at 1k and at 1M
users. Bulk-loads users into a herald database, then times each figure (the
median of --runs runs after one warm-up) at --small users and again at
--users users, and prints a table with the ratio large/small (goal: 2x at
most).

Usage (run with /usr/bin/python3):

  bench/scale.py [--build DIR] [--users N] [--small N] [--runs N]
                 [--http-port P]
  bench/scale.py --node HOST:PORT --mysql-port P --database D
                 [--http-url http://HOST:PORT] [...]

Without --node it starts its own MariaDB (scripts/local-servers, run folder
under a new temp folder, port --mysql-port, default 3361) and a herald-node
(roles user and token, cluster port --node-port, default 4761) from --build
(default <repo>/build), and stops both at the end. With --node it uses a
running node and the MariaDB it reads (--database, default herald); the
database must be a throwaway one: the script deletes its users whose email
ends in @scale.example before loading and inserts --users rows.

Loading: LOAD DATA LOCAL INFILE (mariadb client, --local-infile) from a
generated file, users in id order, emails userNNNNNNN@scale.example, all
with the same argon2id hash (FIXED_HASH) of the password PASSWORD, so login
works for any of them. 1M rows load in well under a minute.

Figures: one function each in FIGURES, (name, function(ctx) -> seconds);
ctx knows the node, the database and the loaded id range. The HTTP gateway's
figures go in the same list. `sql:` rows time what the old heraldctl paid
(COUNT(*), OFFSET) with the mariadb client, for comparison; they are not
herald's figures and have no goal.

HTTP figures (`http:` rows): the node it starts also runs the gateway (role
gateway, port --http-port, default 8362, throttling limits out of reach);
with --node, pass the running gateway's --http-url or they are left out.
Each times one request on a kept-alive connection: GET /v1/users/me,
POST /v1/sessions (a login, argon2id at full cost), and GET /v1/users first
and last page as an admin (an admin user admin@scale-admin.example is
created with heraldctl the first time, and logged in over HTTP).
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

PASSWORD = "scale bench password, not a secret"
# argon2id of PASSWORD with herald's current policy (m=19456, t=2, p=1, 16-byte
# salt, 32-byte hash), made once with libargon2's argon2id_hash_encoded: logins
# check it at full cost and find no need to rehash.
FIXED_HASH = ("$argon2id$v=19$m=19456,t=2,p=1$PPa0HWzPV1DTpsEk6ebJeQ"
              "$7N1hO1v8CS74QvKsGDvZ46n7KmTBNlGSb497rrkONOQ")
EMAIL = "user%07d@scale.example"
ADMIN_EMAIL = "admin@scale-admin.example"


# -- servers --------------------------------------------------------------------


class Context:
    def __init__(self, args):
        self.args = args
        self.ctl = os.path.join(args.build, "heraldctl")
        self.node_addr = args.node or "127.0.0.1:%d" % args.node_port
        self.database = args.database
        self.first_id = 0
        self.last_id = 0
        self.count = 0
        self.http_url = args.http_url
        self.http_conn = None
        self.admin_token = None
        self.user_token = None
        self.http_after_id = 0

    def mariadb(self, statement=None, stdin=None, local_infile=False,
                timeout=600):
        cmd = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P",
               str(self.args.mysql_port), "-u", "herald", "--batch",
               "--skip-column-names", "--database=" + self.database]
        if local_infile:
            cmd.append("--local-infile=1")
        if statement is not None:
            cmd += ["-e", statement]
        env = dict(os.environ, MYSQL_PWD=self.args.mysql_password)
        out = subprocess.run(cmd, env=env, input=stdin, capture_output=True,
                             text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("SQL failed: %s: %s"
                               % ((statement or "")[:200], out.stderr))
        return [line.split("\t") for line in out.stdout.splitlines()]

    def heraldctl(self, *args, stdin=None):
        cmd = [self.ctl, "--node", self.node_addr] + list(args)
        out = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise RuntimeError("heraldctl %s: exit %d: %s"
                               % (" ".join(args), out.returncode, out.stderr))
        return out.stdout


class OwnServers:
    """MariaDB under a temp folder and one herald-node, stopped on exit."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.run_dir = tempfile.mkdtemp(prefix="herald-scale-")
        self.env = dict(os.environ, HERALD_RUN_DIR=self.run_dir,
                        HERALD_MYSQL_PORT=str(ctx.args.mysql_port),
                        HERALD_MYSQL_PASSWORD=ctx.args.mysql_password)
        self.node = None
        self.log = None

    def __enter__(self):
        subprocess.run([os.path.join(REPO, "scripts", "local-servers"),
                        "start", "mysql"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        a = self.ctx.args
        node_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("HERALD_")}
        node_env["HERALD_MYSQL_PASSWORD"] = a.mysql_password
        self.log = open(os.path.join(self.run_dir, "node.log"), "w")
        self.node = subprocess.Popen(
            [os.path.join(a.build, "herald-node"),
             "--config-file=%s/config/herald.ini" % REPO,
             "--cluster.port=%d" % a.node_port,
             "--mysql.port=%d" % a.mysql_port,
             "--mysql.database=%s" % self.ctx.database,
             "--herald.node-name=scale-%d" % a.node_port,
             '--herald.roles=["user","token","gateway"]', "--herald.dev-mode",
             "--http.port=%d" % a.http_port,
             "--throttle.login-failures-per-email=100000",
             "--throttle.login-failures-per-address=1000000"],
            env=node_env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            if self.node.poll() is not None:
                raise RuntimeError("herald-node exited; see %s/node.log"
                                   % self.run_dir)
            try:
                self.ctx.heraldctl("--timeout", "5", "status")
                break
            except RuntimeError:
                if time.time() > deadline:
                    raise
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
        shutil.rmtree(self.run_dir, ignore_errors=True)


class Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


# -- loading --------------------------------------------------------------------


def load(ctx, upto):
    """Adds users numbered ctx.count + 1 .. upto (in id order) with one LOAD
    DATA; answers the seconds it took."""
    start_no = ctx.count + 1
    if upto < start_no:
        return 0.0
    now = int(time.time())
    fd, path = tempfile.mkstemp(prefix="herald-scale-", suffix=".tsv")
    try:
        with os.fdopen(fd, "w") as f:
            chunk = []
            for n in range(start_no, upto + 1):
                chunk.append("scale user %d\t%s\tuser\t%s\t0\t%d\t%d\n"
                             % (n, EMAIL % n, FIXED_HASH, now, now))
                if len(chunk) == 10000:
                    f.write("".join(chunk))
                    chunk = []
            f.write("".join(chunk))
        t0 = time.perf_counter()
        # One statement, one transaction.
        ctx.mariadb("LOAD DATA LOCAL INFILE '%s' INTO TABLE users "
                    "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' "
                    "(name, email, role, password_hash, token_version, "
                    "created_at, updated_at)" % path, local_infile=True)
        took = time.perf_counter() - t0
    finally:
        os.unlink(path)
    rows = ctx.mariadb("SELECT MIN(id), MAX(id), COUNT(*) FROM users "
                       "WHERE email LIKE '%@scale.example'")
    ctx.first_id, ctx.last_id, ctx.count = (int(x) for x in rows[0])
    return took


# -- figures: each answers the seconds one run took -------------------------------


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def ctl_status(ctx):
    return timed(lambda: ctx.heraldctl("status"))


def ctl_list_first(ctx):
    return timed(lambda: ctx.heraldctl("user", "list"))


def ctl_list_last(ctx):
    # The last page: 10 users before the end, so it has no next.
    return timed(lambda: ctx.heraldctl("user", "list", "--after",
                                       str(ctx.last_id - 10)))


def ctl_get_by_email(ctx):
    # A user in the middle of the table.
    return timed(lambda: ctx.heraldctl("user", "get",
                                       EMAIL % (ctx.count // 2)))


def ctl_login(ctx):
    return timed(lambda: ctx.heraldctl("login", "--email",
                                       EMAIL % (ctx.count // 2),
                                       "--password", PASSWORD))


def sql_count(ctx):
    return timed(lambda: ctx.mariadb("SELECT COUNT(*) FROM users"))


def sql_offset_last(ctx):
    # What `user list --page <last> --per-page 20` read before keyset pages.
    offset = max(0, ctx.count - 20)
    return timed(lambda: ctx.mariadb(
        "SELECT id, name, email, role, token_version, created_at, updated_at, "
        "password_hash FROM users ORDER BY id LIMIT 20 OFFSET %d" % offset))


def sql_baseline(ctx):
    # The mariadb client's own start and round trip, for the sql: rows.
    return timed(lambda: ctx.mariadb("SELECT 1"))


# -- HTTP figures: one request on a kept-alive connection -----------------------


def http_call(ctx, method, path, body=None, token=None):
    """Answers (status, parsed body); one connection for the whole run."""
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    # A kept-alive connection the gateway closed while idle (loading takes
    # longer than http.idle-timeout) is opened again, once.
    for attempt in (1, 2):
        reused = ctx.http_conn is not None
        if not reused:
            u = urllib.parse.urlsplit(ctx.http_url)
            ctx.http_conn = http.client.HTTPConnection(u.hostname, u.port,
                                                       timeout=60)
        try:
            ctx.http_conn.request(method, path, body=data, headers=headers)
            res = ctx.http_conn.getresponse()
            text = res.read()
            break
        except (OSError, http.client.HTTPException):
            ctx.http_conn.close()
            ctx.http_conn = None
            if not reused or attempt == 2:
                raise
    if res.getheader("Connection", "").lower() == "close":
        ctx.http_conn.close()
        ctx.http_conn = None
    return res.status, json.loads(text) if text else None


def http_ok(ctx, method, path, body=None, token=None):
    status, answer = http_call(ctx, method, path, body, token)
    if status != 200:
        raise RuntimeError("%s %s: %d %s" % (method, path, status, answer))
    return answer


def http_login(ctx, email):
    return http_ok(ctx, "POST", "/v1/sessions",
                   {"email": email, "password": PASSWORD})["access_token"]


def http_tokens(ctx):
    """Logs in a user in the middle of the table, and an admin (made with
    heraldctl the first time)."""
    if ctx.user_token is None:
        ctx.user_token = http_login(ctx, EMAIL % (ctx.count // 2))
    if ctx.admin_token is None:
        rows = ctx.mariadb("SELECT id FROM users WHERE email = '%s'"
                           % ADMIN_EMAIL)
        if not rows:
            ctx.heraldctl("user", "create", "--name", "scale admin",
                          "--email", ADMIN_EMAIL, "--password", PASSWORD,
                          "--admin")
        ctx.admin_token = http_login(ctx, ADMIN_EMAIL)
        # The admin may come after the loaded users, and ids may have gaps:
        # the last page starts after the 11th id from the end.
        ctx.http_after_id = int(ctx.mariadb(
            "SELECT id FROM users ORDER BY id DESC LIMIT 1 OFFSET 10")[0][0])


def cursor(user_id):
    # The gateway's opaque `after`: base64url of version byte 1 and the id.
    raw = bytes([1]) + user_id.to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def http_me(ctx):
    http_tokens(ctx)
    return timed(lambda: http_ok(ctx, "GET", "/v1/users/me",
                                 token=ctx.user_token))


def http_login_fig(ctx):
    http_tokens(ctx)
    return timed(lambda: http_login(ctx, EMAIL % (ctx.count // 2)))


def http_list_first(ctx):
    http_tokens(ctx)
    return timed(lambda: http_ok(ctx, "GET", "/v1/users",
                                 token=ctx.admin_token))


def http_list_last(ctx):
    http_tokens(ctx)

    def last():
        page = http_ok(ctx, "GET", "/v1/users?after="
                       + cursor(ctx.http_after_id), token=ctx.admin_token)
        if page["next"] is not None or len(page["items"]) != 10:
            raise RuntimeError("last page: %d items, next %s"
                               % (len(page["items"]), page["next"]))
    return timed(last)


HTTP_FIGURES = [
    ("http: GET /v1/users/me", http_me),
    ("http: POST /v1/sessions (login)", http_login_fig),
    ("http: GET /v1/users (first page)", http_list_first),
    ("http: GET /v1/users?after= (last page)", http_list_last),
]


FIGURES = [
    ("heraldctl status", ctl_status),
    ("heraldctl user list (first page)", ctl_list_first),
    ("heraldctl user list --after (last page)", ctl_list_last),
    ("heraldctl user get EMAIL", ctl_get_by_email),
    ("heraldctl login", ctl_login),
    ("sql: SELECT 1 (client baseline)", sql_baseline),
    ("sql: COUNT(*) (old status)", sql_count),
    ("sql: LIMIT 20 OFFSET n-20 (old last page)", sql_offset_last),
]


def figures(ctx):
    return FIGURES + (HTTP_FIGURES if ctx.http_url else [])


def measure(ctx, runs):
    # Fresh tokens at each size: a user in the middle of the table now.
    ctx.user_token = ctx.admin_token = None
    out = {}
    for name, fn in figures(ctx):
        fn(ctx)  # warm-up: connections, caches
        out[name] = statistics.median(fn(ctx) for _ in range(runs))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--users", type=int, default=1000000)
    p.add_argument("--small", type=int, default=1000)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--node", help="a running node host:port (else start one)")
    p.add_argument("--node-port", type=int, default=4761)
    p.add_argument("--mysql-port", type=int, default=3361)
    p.add_argument("--mysql-password",
                   default=os.environ.get("HERALD_MYSQL_PASSWORD",
                                          "herald-dev-password"))
    p.add_argument("--database", default="herald")
    p.add_argument("--http-port", type=int, default=8362,
                   help="the gateway of the node it starts")
    p.add_argument("--http-url",
                   help="with --node: its gateway (else no http: figures)")
    args = p.parse_args()
    if not args.node:
        args.http_url = "http://127.0.0.1:%d" % args.http_port
    ctx = Context(args)
    with (Nothing() if args.node else OwnServers(ctx)):
        ctx.mariadb("DELETE FROM users WHERE email LIKE '%@scale.example'")
        ctx.count = 0
        results = []
        for size in (args.small, args.users):
            took = load(ctx, size)
            print("loaded %d users (ids %d..%d) in %.1f s"
                  % (ctx.count, ctx.first_id, ctx.last_id, took), flush=True)
            estimate = ctx.heraldctl("--json", "status")
            print("status: %s" % " ".join(
                l.strip() for l in estimate.splitlines()
                if "users_estimate" in l), flush=True)
            results.append(measure(ctx, args.runs))
        small, large = results
        width = max(len(name) for name, _ in figures(ctx))
        print("\nmedian of %d runs, seconds" % args.runs)
        print("%-*s %10s %10s %7s" % (width, "figure", "%dk" % (args.small
                                                              // 1000),
                                      "%dk" % (args.users // 1000), "ratio"))
        for name, _ in figures(ctx):
            a, b = small[name], large[name]
            print("%-*s %10.4f %10.4f %6.2fx" % (width, name, a, b, b / a))


if __name__ == "__main__":
    main()
