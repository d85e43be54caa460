"""Helpers for herald's integration tests: throwaway databases on the test
MariaDB, herald-node processes, heraldctl calls. Every wait is bounded."""

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

NODE = os.environ.get("HERALD_NODE", "build/herald-node")
CTL = os.environ.get("HERALDCTL", "build/heraldctl")
SOURCE = os.environ.get("HERALD_SOURCE_DIR", ".")
MYSQL_PORT = int(os.environ.get("HERALD_TEST_MYSQL_PORT", "3317"))
MYSQL_PASSWORD = os.environ.get("HERALD_MYSQL_PASSWORD", "herald-dev-password")
RUN_DIR = os.environ.get("HERALD_TEST_RUN_DIR", "/tmp/herald-test")
DEV_SECRET = "ZGV2ZWxvcG1lbnQtb25seS1rZXktZG8tbm90LXVzZS1pbi1wcm9kdWN0aW9u"

failures = []


def check(cond, what):
    """Records a failed expectation and goes on; finish() reports."""
    if cond:
        print("ok   " + what, flush=True)
    else:
        print("FAIL " + what, flush=True)
        failures.append(what)
    return cond


def finish():
    """Exits 1 naming every failed expectation (its first line: check()
    printed it in full), else 0."""
    if failures:
        print("\n%d expectation(s) failed:" % len(failures))
        for f in failures:
            print("  - " + (f.splitlines() or [""])[0])
        sys.exit(1)
    print("\nall expectations met")
    sys.exit(0)


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def wait_until(pred, timeout=30, step=0.2):
    """Calls pred until it answers something true or `timeout` seconds
    passed; answers its last answer."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sql(statement, database=None):
    """Runs SQL as the herald user with the mariadb client; returns rows."""
    cmd = ["mariadb", "-h", "127.0.0.1", "-P", str(MYSQL_PORT), "-u", "herald",
           "--batch", "--skip-column-names", "-e", statement]
    if database:
        cmd.insert(1, "--database=" + database)
    env = dict(os.environ, MYSQL_PWD=MYSQL_PASSWORD)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                         timeout=30)
    if out.returncode != 0:
        raise RuntimeError("SQL failed: %s: %s" % (statement, out.stderr))
    return [line.split("\t") for line in out.stdout.splitlines()]


class Database:
    """A throwaway database herald_test_<random>, dropped on exit."""

    def __init__(self):
        self.name = "herald_test_" + secrets.token_hex(4)

    def __enter__(self):
        sql("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % self.name)
        return self

    def __exit__(self, *exc):
        sql("DROP DATABASE IF EXISTS `%s`" % self.name)


class Node:
    """A herald-node process on its own cluster port."""

    def __init__(self, database, port=None, extra=(), env=None, dev=True,
                 gateway=False):
        self.port = port or free_port()
        # With gateway=True the node also runs the HTTP gateway on a port of
        # its own: self.url is its base URL.
        self.http_port = free_port() if gateway else None
        self.url = ("http://127.0.0.1:%d" % self.http_port) if gateway else None
        self.args = [NODE, "--config-file=%s/config/herald.ini" % SOURCE,
                     "--cluster.port=%d" % self.port,
                     "--mysql.port=%d" % MYSQL_PORT,
                     "--mysql.database=%s" % database,
                     "--herald.node-name=test-%d" % self.port,
                     # No RabbitMQ unless a test asks for the bridge role.
                     '--herald.roles=["user","token","reset","mailer"%s]'
                     % (',"gateway"' if gateway else "")]
        if gateway:
            self.args += ["--http.port=%d" % self.http_port,
                          "--mail.public-base-url=" + self.url]
        if dev:
            self.args.append("--herald.dev-mode")
        self.args += list(extra)
        # The test environment's own HERALD_* variables (ports, folders) are
        # not node options: a node would warn about each.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("HERALD_") or k == "HERALD_MYSQL_PORT"}
        self.env["HERALD_MYSQL_PASSWORD"] = MYSQL_PASSWORD
        self.env.update(env or {})
        self.proc = None
        self.output = ""
        # A file, not a pipe: a pipe nobody reads fills up and then blocks
        # every thread of the node that logs.
        os.makedirs(RUN_DIR, exist_ok=True)
        self.log_path = os.path.join(RUN_DIR, "node-%d.log" % self.port)
        self.restarts = 0

    def start(self, wait=True):
        if self.proc is not None and os.path.exists(self.log_path):
            # A restart: the log of the instance before stays for a look
            # after a failure (node-PORT.log.1 is the first instance's).
            self.restarts += 1
            os.replace(self.log_path, "%s.%d" % (self.log_path, self.restarts))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, env=self.env,
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT, text=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("node exited early:\n" + self.read_log())
            rc = ctl(self, "status", check_rc=None, timeout=10)
            if rc.returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError("node not ready within %ds" % timeout)

    def run_to_exit(self, timeout=60):
        """Starts the node expecting it to refuse; answers (rc, output)."""
        out = subprocess.run(self.args, env=self.env, capture_output=True,
                             text=True, timeout=timeout)
        return out.returncode, out.stdout + out.stderr

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise RuntimeError("node did not stop within %ds" % timeout)
        self.output = self.read_log()
        return self.proc.returncode

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def earlier_logs(self):
        """The logs of the instances before this one, oldest first."""
        out = []
        for i in range(1, self.restarts + 1):
            try:
                with open("%s.%d" % (self.log_path, i)) as f:
                    out.append(f.read())
            except OSError:
                pass
        return out

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        except RuntimeError:
            pass


def ctl(node, *args, stdin=None, check_rc=0, timeout=60, as_json=False):
    """Runs heraldctl against a node; checks its exit code unless None."""
    cmd = [CTL, "--node", "127.0.0.1:%d" % node.port]
    if as_json:
        cmd.append("--json")
    cmd += list(args)
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                         timeout=timeout)
    if check_rc is not None and out.returncode != check_rc:
        raise RuntimeError("heraldctl %s: exit %d, want %d\nstdout: %s\nstderr: %s"
                           % (" ".join(args), out.returncode, check_rc,
                              out.stdout, out.stderr))
    return out


def ctl_json(node, *args, stdin=None):
    return json.loads(ctl(node, *args, stdin=stdin, as_json=True).stdout)


class SmtpSink:
    """An aiosmtpd server with a Maildir, on its own port; can be stopped
    and started again to play an outage. With refusals=True it can also
    refuse chosen addresses (see refuse() and lib/refusing_mailbox.py)."""

    def __init__(self, port=None, refusals=False):
        self.port = port or free_port()
        self.refusals = refusals
        self.dir = os.path.join(RUN_DIR, "smtp-%d" % self.port)
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)  # mails of an older run
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def rules_path(self):
        return os.path.join(self.dir, "refusals.json")

    def refuse(self, address, *replies):
        """The next RCPT TO:<address> get `replies` in turn (e.g. "451 4.7.1
        Try later"), later ones are accepted; a reply ending in " *"
        answers every one from then on. Needs refusals=True."""
        assert self.refusals, "SmtpSink(refusals=True) refuses addresses"
        try:
            with open(self.rules_path()) as f:
                rules = json.load(f)
        except (OSError, ValueError):
            rules = {}
        rules[address.lower()] = list(replies)
        tmp = self.rules_path() + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rules, f)
        os.replace(tmp, self.rules_path())

    def start(self):
        handler = ["-c", "aiosmtpd.handlers.Mailbox",
                   os.path.join(self.dir, "maildir")]
        env = None
        if self.refusals:
            handler = ["-c", "refusing_mailbox.RefusingMailbox",
                       os.path.join(self.dir, "maildir"), self.rules_path()]
            env = dict(os.environ, PYTHONPATH=os.path.dirname(
                os.path.abspath(__file__)))
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
             "127.0.0.1:%d" % self.port] + handler,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("SMTP sink did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def mails(self):
        """Every accepted mail as an email.message.Message, oldest first."""
        import email
        import email.policy
        folder = os.path.join(self.dir, "maildir", "new")
        if not os.path.isdir(folder):
            return []
        paths = sorted(os.listdir(folder),
                       key=lambda p: os.stat(os.path.join(folder, p)).st_mtime)
        result = []
        for p in paths:
            with open(os.path.join(folder, p), "rb") as f:
                result.append(email.message_from_binary_file(
                    f, policy=email.policy.default))
        return result

    def wait_for(self, count, timeout=30):
        """Waits until at least `count` mails arrived; answers them."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.mails()
            if len(got) >= count:
                return got
            time.sleep(0.1)
        return self.mails()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def body_text(msg):
    """The text/plain part of a mail."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""
