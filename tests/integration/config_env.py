"""Configuration from the environment, issue 9 (needs: mysql, rabbitmq).

Each documented HERALD_* variable takes effect, shown from outside with real
servers and outside judges: the test MariaDB (HERALD_MYSQL_PASSWORD), PyJWT
(HERALD_TOKEN_KEYS, HERALD_TOKEN_KEYS_FILE, HERALD_TOKEN_TTL), the test
RabbitMQ with a user and vhost made for this test (HERALD_AMQP_URL), an SMTP
server of this test that wants AUTH (HERALD_SMTP_PASSWORD), heraldctl status
(HERALD_ROLES, HERALD_DEV_MODE). A HERALD_* variable that names no option
gives one warning line and changes nothing; every configuration error is one
line naming key, source and what was expected. Last, `HERALD_SMTP_PORT=2626
scripts/run` as a user would run it, on ports of its own."""

import base64
import email
import email.policy
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import jwt  # PyJWT (python3-jwt, Debian)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from herald_harness import (wait_until, DEV_SECRET, MYSQL_PASSWORD, NODE, RUN_DIR,
                            SOURCE, Database, Node, b64url_decode, check, ctl,
                            ctl_json, finish)

PW = "correct horse battery staple"
INI = os.path.join(SOURCE, "config", "herald.ini")
README = os.path.join(SOURCE, "README.md")
RABBIT_PORT = int(os.environ.get("HERALD_TEST_RABBITMQ_PORT", "5683"))
RABBIT_NODE = "herald-%d@localhost" % RABBIT_PORT
BUILD_DIR = os.environ.get("HERALD_BUILD_DIR", os.path.join(SOURCE, "build"))
TAG = secrets.token_hex(4)
ALL_ROLES = '--herald.roles=["user","token","reset","mailer","bridge"]'

# AUTH without TLS is what this test wants on loopback; aiosmtpd warns.
warnings.filterwarnings("ignore", module="aiosmtpd")
warnings.filterwarnings("ignore", message=".*AUTH while not requiring TLS.*")
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


# -- helpers ---------------------------------------------------------------------

def new_key(kid):
    """A signing key kid:base64url(32 random bytes); answers (spec, bytes)."""
    raw = secrets.token_bytes(32)
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return "%s:%s" % (kid, text), raw


def clean_env(extra=None):
    """This process's environment without any HERALD_* (the test's own
    variables are no node options), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(extra or {})
    return env


class EnvNode(Node):
    """The harness's node, without the flags named in `drop` (a flag would
    override the variable under test: flags come after the environment)."""

    def __init__(self, database, drop=(), **kw):
        super().__init__(database, **kw)
        self.args = [a for a in self.args
                     if not any(a.startswith(d + "=") or a == d for d in drop)]


def run_node(args, env, timeout=60):
    """herald-node ARGS with exactly ENV (plus PATH); answers (rc, stdout,
    stderr)."""
    out = subprocess.run([NODE] + list(args), env=env, capture_output=True,
                         text=True, timeout=timeout)
    return out.returncode, out.stdout, out.stderr


def dump_config(env, args=()):
    """--dump-config of the shipped file: {"section.key": (value, origin)}
    and the raw text."""
    rc, out, err = run_node(["--config-file=" + INI, "--dump-config"]
                            + list(args), clean_env(env))
    if rc != 0:
        raise RuntimeError("--dump-config failed (%d): %s" % (rc, err))
    values, section = {}, None
    for line in out.splitlines():
        m = re.match(r"^\[([a-z-]+)\]$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^([a-z-]+) = (.*)  ; (.*)$", line)
        if m and section:
            values[section + "." + m.group(1)] = (m.group(2), m.group(3))
    return values, out


def nonempty_lines(text):
    return [l for l in text.splitlines() if l.strip()]




def rabbitmqctl(*args):
    return subprocess.run(["rabbitmqctl", "-q", "-n", RABBIT_NODE] + list(args),
                          capture_output=True, text=True, timeout=60)


def port_free(port):
    """Nothing listens on 127.0.0.1:port and we could bind it."""
    if not 1 <= port <= 65535:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return False
    except OSError:
        pass
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(offsets=(0,), taken=()):
    """A port P in 20000..29999 (below the ephemeral range) with P+offset
    free for every offset."""
    for _ in range(200):
        p = 20000 + secrets.randbelow(10000)
        ports = [p + o for o in offsets]
        if not set(ports) & set(taken) and all(port_free(q) for q in ports):
            return p
    raise RuntimeError("no free port found for offsets %r" % (offsets,))


class AuthSmtp:
    """An SMTP server on loopback that accepts mail only after AUTH as one
    user with one password (over plain TCP: auth_require_tls=False)."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.logins = []  # (user, accepted)
        self.mails = []
        self.lock = threading.Lock()
        self.port = free_loopback_port()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port,
            authenticator=self.authenticate, auth_required=True,
            auth_require_tls=False)

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        ok = (user == self.user
              and auth_data.password.decode("utf-8", "replace")
              == self.password)
        with self.lock:
            self.logins.append((user, ok))
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server, session, envelope):
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        msg = email.message_from_bytes(envelope.content,
                                       policy=email.policy.default)
        with self.lock:
            self.mails.append(msg)
        return "250 2.0.0 OK"

    def mails_to(self, address):
        with self.lock:
            return [m for m in self.mails if address in str(m["To"])]

    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def free_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_error(what, rc, out, err, must):
    """A refused start: nonzero exit, one line in all of its output,
    herald-node's error prefix, every text of `must`, no parser#N."""
    lines = nonempty_lines(out + err)
    line = lines[0] if lines else ""
    missing = [m for m in must if m not in line]
    check(rc != 0 and len(lines) == 1
          and line.startswith("herald-node: error: configuration: ")
          and not missing and "parser#" not in line,
          "%s stops the node with one line naming %s (rc %d, missing %r, "
          "output %r)" % (what, ", ".join(must), rc, missing, out + err))
    return line


# -- every variable of the README's table is the option's variable ----------------

def readme_table():
    """[(option, variable)] from the README's table of options."""
    rows = []
    with open(README) as f:
        for line in f:
            m = re.match(r"^\| `([a-z-]+\.[a-z-]+)` \| `(HERALD_[A-Z0-9_]+)` \|",
                         line)
            if m:
                rows.append((m.group(1), m.group(2)))
    return rows


def env_text(value):
    """A value as --dump-config prints it, as a variable would give it."""
    if value == '"<hidden>"':
        return "set-by-the-environment"
    if value.startswith('"') and value.endswith('"'):
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


rows = readme_table()
rc, help_text, _ = run_node(["--help"], clean_env())
helped = dict(re.findall(r"--([a-z-]+\.[a-z-]+)  \((HERALD_[A-Z0-9_]+)\)",
                         help_text))
check(len(rows) >= 60 and all(helped.get(o) == v for o, v in rows)
      and set(o for o, _ in rows) == set(helped),
      "the README's table names each option's variable as --help does "
      "(%d rows; differing: %r)"
      % (len(rows), [(o, v, helped.get(o)) for o, v in rows
                     if helped.get(o) != v]
         + sorted(set(helped) - set(o for o, _ in rows))))
base, _ = dump_config({})
every = {v: env_text(base[o][0]) for o, v in rows if o in base}
layered, _ = dump_config(every)
wrong = [(o, v, layered.get(o, ("?", "missing"))[1]) for o, v in rows
         if layered.get(o, ("?", "?"))[1] != v]
check(not wrong and len(every) == len(rows),
      "with every documented variable set, --dump-config takes each option "
      "from its variable (not so: %r)" % wrong)
flagged, _ = dump_config({"HERALD_TOKEN_TTL": "2min"}, ["--token.ttl=3min"])
check(flagged["token.ttl"] == ("3min", "--token.ttl")
      and dump_config({"HERALD_TOKEN_TTL": "2min"})[0]["token.ttl"]
      == ("2min", "HERALD_TOKEN_TTL")
      and base["token.ttl"][1] == INI,
      "precedence file < environment < flag for token.ttl (%r)"
      % (flagged["token.ttl"],))


# -- configuration errors: one line, key, source, what was expected ---------------

# The README's own example, verbatim.
line = config_error("HERALD_MYSQL_PORT=abc",
                    *run_node(["--config-file=" + INI],
                              clean_env({"HERALD_MYSQL_PORT": "abc"})),
                    must=["HERALD_MYSQL_PORT", "mysql.port",
                          "expected a whole number", "'abc'"])
readme_example = ("herald-node: error: configuration: HERALD_MYSQL_PORT "
                  "(mysql.port): expected a whole number from 0 to 65535, "
                  "got 'abc'")
check(line == readme_example,
      "HERALD_MYSQL_PORT=abc prints the README's example line\n  want %r\n"
      "  got  %r" % (readme_example, line))
config_error("HERALD_TOKEN_TTL=15 (no unit)",
             *run_node(["--config-file=" + INI],
                       clean_env({"HERALD_TOKEN_TTL": "15"})),
             must=["HERALD_TOKEN_TTL", "token.ttl", "expected a duration",
                   "unit", "'15'"])
config_error("--hasher.workers=0",
             *run_node(["--config-file=" + INI, "--hasher.workers=0"],
                       clean_env()),
             must=["--hasher.workers", "expected a whole number from 1",
                   "'0'"])
config_error("HERALD_DEV_MODE=yes",
             *run_node(["--config-file=" + INI],
                       clean_env({"HERALD_DEV_MODE": "yes"})),
             must=["HERALD_DEV_MODE", "herald.dev-mode",
                   "expected true or false", "'yes'"])
with tempfile.TemporaryDirectory(prefix="herald-cfgenv-") as work:
    with open(INI) as f:
        shipped = f.read()
    unknown = os.path.join(work, "unknown-key.ini")
    with open(unknown, "w") as f:
        f.write(shipped.replace("[mysql]\n", "[mysql]\npasword = \"x\"\n", 1))
    config_error("a config file with an unknown key",
                 *run_node(["--config-file=" + unknown], clean_env()),
                 must=[unknown, "[mysql]", "'pasword'", "has no option",
                       "it has: "])
    no_unit = os.path.join(work, "no-unit.ini")
    with open(no_unit, "w") as f:
        f.write(shipped.replace("ttl = 15min\n", "ttl = 15\n", 1))
    config_error("a duration without unit in the file",
                 *run_node(["--config-file=" + no_unit], clean_env()),
                 must=[no_unit, "[token] ttl", "expected a duration", "15"])
    broken = os.path.join(work, "broken.ini")
    with open(broken, "w") as f:
        f.write(shipped.replace("[cluster]\n", "[cluster\n", 1))
    config_error("a file that is no valid INI",
                 *run_node(["--config-file=" + broken], clean_env()),
                 must=[broken + ":", "not valid config syntax"])
    via_env = os.path.join(work, "by-variable.ini")
    with open(via_env, "w") as f:
        f.write("[smtp]\nport = 2626\n")
    config_error("HERALD_CONFIG_FILE naming a file with [smtp] port",
                 *run_node([], clean_env({"HERALD_CONFIG_FILE": via_env})),
                 must=[via_env, "[smtp]", "'port'"])


# -- nodes ------------------------------------------------------------------------

key_a, raw_a = new_key("cfgenv-a-" + TAG)
key_b, raw_b = new_key("cfgenv-b-" + TAG)


def decode(token, raw):
    """(header, claims) of a token PyJWT verified with `raw`."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, raw, algorithms=["HS256"], audience="herald",
                        issuer="herald")
    return header, claims


with Database() as db:
    # -- HERALD_MYSQL_PASSWORD + HERALD_TOKEN_KEYS outside dev mode -----------------
    # The harness hands the test password to the node only as
    # HERALD_MYSQL_PASSWORD (the file has none, there is no flag).
    values, _ = dump_config({"HERALD_MYSQL_PASSWORD": MYSQL_PASSWORD})
    check(values["mysql.password"] == ('"<hidden>"', "HERALD_MYSQL_PASSWORD")
          and values["herald.dev-mode"][0] == "false",
          "the database password comes from HERALD_MYSQL_PASSWORD, hidden (%r)"
          % (values["mysql.password"],))
    node = EnvNode(db.name, dev=False, env={"HERALD_TOKEN_KEYS": key_a})
    check("HERALD_MYSQL_PASSWORD" in node.env
          and not any("password" in a for a in node.args),
          "the node gets its database password only from the environment")
    with node:
        st = ctl_json(node, "status")
        check(st["storage_state"] == "ok" and "DEV MODE" not in node.read_log(),
              "outside dev mode, the right HERALD_MYSQL_PASSWORD reaches the "
              "test MariaDB (%s)" % st["storage_state"])
        ctl_json(node, "user", "create", "--name", "Ada", "--email",
                 "ada@example.org", "--password", PW)
        token = ctl_json(node, "login", "--email", "ada@example.org",
                         "--password", PW)["token"]
        header, claims = decode(token, raw_a)
        check(header.get("kid") == "cfgenv-a-" + TAG
              and header.get("alg") == "HS256",
              "HERALD_TOKEN_KEYS: PyJWT verifies the token with our key, kid "
              "%r" % header.get("kid"))
        check(claims["exp"] - claims["iat"] == 15 * 60,
              "without HERALD_TOKEN_TTL the file's 15min holds (exp - iat = %d)"
              % (claims["exp"] - claims["iat"]))
        for other, name in [(b64url_decode(DEV_SECRET), "the development key"),
                            (raw_b, "another key")]:
            try:
                jwt.decode(token, other, algorithms=["HS256"],
                           audience="herald")
                check(False, "the token does not verify with " + name)
            except jwt.InvalidSignatureError:
                check(True, "the token does not verify with " + name)
    wrong_pw = "wrong-" + secrets.token_hex(8)
    rc, out = EnvNode(db.name, dev=False,
                      env={"HERALD_TOKEN_KEYS": key_a,
                           "HERALD_MYSQL_PASSWORD": wrong_pw}).run_to_exit()
    check(rc != 0 and wrong_pw not in out and "herald-node: error" in out
          and "mysql.password (from HERALD_MYSQL_PASSWORD)" in out
          and "refused" in out,
          "a wrong HERALD_MYSQL_PASSWORD stops the node with an error that "
          "does not print it (rc %d: %r)" % (rc, out[-300:]))

    # -- HERALD_TOKEN_KEYS_FILE and a duration: HERALD_TOKEN_TTL=2min -----------
    with tempfile.TemporaryDirectory(prefix="herald-cfgenv-") as work:
        keys_file = os.path.join(work, "keys")
        with open(keys_file, "w") as f:
            f.write("# signing key of config_env.py\n%s\n" % key_b)
        os.chmod(keys_file, 0o600)
        with EnvNode(db.name, dev=False,
                     env={"HERALD_TOKEN_KEYS_FILE": keys_file,
                          "HERALD_TOKEN_TTL": "2min"}) as node:
            token = ctl_json(node, "login", "--email", "ada@example.org",
                             "--password", PW)["token"]
            header, claims = decode(token, raw_b)
            check(header.get("kid") == "cfgenv-b-" + TAG,
                  "HERALD_TOKEN_KEYS_FILE: PyJWT verifies the token with the "
                  "file's key, kid %r" % header.get("kid"))
            check(claims["exp"] - claims["iat"] == 120,
                  "HERALD_TOKEN_TTL=2min: exp - iat == 120 (got %d)"
                  % (claims["exp"] - claims["iat"]))
            ctl(node, "status")

    # -- a boolean: HERALD_DEV_MODE ---------------------------------------------
    with EnvNode(db.name, dev=False, env={"HERALD_DEV_MODE": "true"}) as node:
        st = ctl_json(node, "status")
        token = ctl_json(node, "login", "--email", "ada@example.org",
                         "--password", PW)["token"]
        header, _ = decode(token, b64url_decode(DEV_SECRET))
        check(st["storage_state"] == "ok" and header.get("kid") == "dev-1"
              and "DEV MODE" in node.read_log(),
              "HERALD_DEV_MODE=true lets a node start with the development "
              "key (kid %r)" % header.get("kid"))
    rc, out = EnvNode(db.name, dev=False,
                      env={"HERALD_DEV_MODE": "false"}).run_to_exit()
    check(rc != 0 and "development key" in out and "token.keys" in out,
          "HERALD_DEV_MODE=false refuses the development key (rc %d: %r)"
          % (rc, out[-300:]))

    # -- a list: HERALD_ROLES=user,token -----------------------------------------
    with EnvNode(db.name, drop=("--herald.roles",),
                 env={"HERALD_ROLES": "user,token"}) as node:
        st = ctl_json(node, "status")
        names = [c["name"] for c in st["components"]]
        check(st["roles"] == ["user", "token"],
              "HERALD_ROLES=user,token: status roles %r" % st["roles"])
        check({"storage", "hasher", "token", "user", "session"} <= set(names)
              and not {"reset", "mailer", "smtp", "event-bus", "outbox-relay",
                       "amqp-bridge"} & set(names)
              and all(c["state"] == "running" for c in st["components"]),
              "HERALD_ROLES=user,token: only their components run (%r)" % names)
        out = ctl(node, "reset", "request", "--email", "ada@example.org",
                  check_rc=None)
        check(out.returncode != 0,
              "HERALD_ROLES=user,token: the node hosts no reset service "
              "(exit %d)" % out.returncode)
    values, _ = dump_config({"HERALD_ROLES": '["user", "token"]'})
    check(values["herald.roles"] == ('["user", "token"]', "HERALD_ROLES"),
          "HERALD_ROLES also takes the list form [\"a\", \"b\"] (%r)"
          % (values["herald.roles"],))

    # -- unknown variables: one warning, nothing else changes ---------------------
    odd = {"HERALD_SMTP_PORT": "2626", "HERALD_RUN_DIR": "/x"}
    plain, plain_text = dump_config({})
    with_odd, odd_text = dump_config(odd)
    # smtp.url is secret (it may hold credentials): the dump hides it, but
    # it still comes from the file.
    check(odd_text == plain_text
          and with_odd["smtp.url"] == ('"<hidden>"', INI),
          "HERALD_SMTP_PORT and HERALD_RUN_DIR change nothing in --dump-config "
          "(smtp.url %r)" % (with_odd["smtp.url"],))
    with EnvNode(db.name, env=odd) as node:
        st = ctl_json(node, "status")
        node.stop()
        log = node.output
        naming = [l for l in log.splitlines()
                  if "HERALD_SMTP_PORT" in l or "HERALD_RUN_DIR" in l]
        warnings = [l for l in log.splitlines()
                    if "[warning]" in l and "environment" in l]
        check(st["storage_state"] == "ok" and node.proc.returncode == 0,
              "a node with HERALD_SMTP_PORT=2626 HERALD_RUN_DIR=/x starts and "
              "stops cleanly (exit %s)" % node.proc.returncode)
        check(len(naming) == 1 and naming == warnings
              and "HERALD_SMTP_PORT" in naming[0]
              and "HERALD_RUN_DIR" in naming[0] and "[warning]" in naming[0],
              "one warning line names both unknown variables (%r)" % naming)
        check(not re.search(r"(?<!\d)2626(?!\d)", log)
              and not re.search(r"(?<![\w/.])/x(?![\w/])", log),
              "their values (2626, /x) appear nowhere in the node's log")

    # -- HERALD_SMTP_PASSWORD: an SMTP server that wants AUTH ---------------------
    smtp_user, smtp_pw = "herald-" + TAG, "smtp-" + secrets.token_hex(10)
    with AuthSmtp(smtp_user, smtp_pw) as server:
        smtp_env = {"HERALD_SMTP_URL": server.url(),
                    "HERALD_SMTP_USERNAME": smtp_user,
                    "HERALD_SMTP_TIMEOUT": "5s"}
        with Database() as db2:
            with EnvNode(db2.name, env=dict(
                    smtp_env, HERALD_SMTP_PASSWORD=smtp_pw)) as node:
                ctl_json(node, "user", "create", "--name", "Mia", "--email",
                         "mia@example.org", "--password", PW)
                got = wait_until(lambda: server.mails_to("mia@example.org"), 30)
                check(len(got) == 1 and (smtp_user, True) in server.logins,
                      "with the right HERALD_SMTP_PASSWORD the server gets the "
                      "welcome mail after AUTH (logins %r)" % server.logins)
                check(smtp_pw not in node.read_log(),
                      "the SMTP password is not in the node's log")
        with Database() as db3:
            bad_pw = "bad-" + secrets.token_hex(10)
            with EnvNode(db3.name, env=dict(
                    smtp_env, HERALD_SMTP_PASSWORD=bad_pw)) as node:
                ctl_json(node, "user", "create", "--name", "Noa", "--email",
                         "noa@example.org", "--password", PW)

                def outbox_error():
                    st = ctl_json(node, "outbox", "status")
                    return st if st.get("last_error") else None
                st = wait_until(outbox_error, 20, 0.5) or {}
                time.sleep(3)  # a bounded wait for a mail that must not come
                check(server.mails_to("noa@example.org") == []
                      and (smtp_user, False) in server.logins,
                      "with a wrong HERALD_SMTP_PASSWORD no mail arrives "
                      "(logins %r)" % server.logins)
                err = st.get("last_error", "")
                check("smtp" in err.lower() and st.get("pending", 0) >= 1
                      and bad_pw not in json.dumps(st),
                      "outbox status shows the SMTP error, event pending (%r)"
                      % st)
                check(bad_pw not in node.read_log(),
                      "the wrong SMTP password is not in the node's log")

    # -- HERALD_AMQP_URL: a user and vhost of this test on the test RabbitMQ -------
    amqp_user, amqp_pw = "herald-cfgenv-" + TAG, secrets.token_hex(12)
    vhost = "herald-cfgenv-" + TAG
    try:
        made = [rabbitmqctl("add_vhost", vhost),
                rabbitmqctl("add_user", amqp_user, amqp_pw),
                rabbitmqctl("set_permissions", "-p", vhost, amqp_user,
                            ".*", ".*", ".*")]
        check(all(r.returncode == 0 for r in made),
              "rabbitmqctl makes user %s and vhost %s (%r)"
              % (amqp_user, vhost, [r.stderr.strip() for r in made]))
        url = "amqp://%s:%s@127.0.0.1:%d/%s" % (amqp_user, amqp_pw,
                                                RABBIT_PORT, vhost)
        values, _ = dump_config({"HERALD_AMQP_URL": url})
        check(values["amqp.url"][1] == "HERALD_AMQP_URL"
              and "guest:guest@127.0.0.1:5673" in open(INI).read(),
              "HERALD_AMQP_URL overrides the file's amqp.url (guest, port "
              "5673)")
        with EnvNode(db.name, dev=False, extra=[ALL_ROLES],
                     env={"HERALD_TOKEN_KEYS": key_a,
                          "HERALD_AMQP_URL": url}) as node:
            def connected():
                st = ctl_json(node, "bridge", "status")
                return st if st["state"] == "connected" else None
            st = wait_until(connected, 20, 0.3) or ctl_json(node, "bridge",
                                                            "status")
            want = "amqp://%s@127.0.0.1:%d/%s" % (amqp_user, RABBIT_PORT, vhost)
            check(st["state"] == "connected" and st["broker"] == want,
                  "HERALD_AMQP_URL: bridge status says connected to %s (%s, %s)"
                  % (want, st["state"], st["broker"]))
            human = ctl(node, "bridge", "status").stdout
            check(amqp_pw not in human + json.dumps(st)
                  and amqp_pw not in node.read_log(),
                  "the AMQP password shows neither in bridge status nor log")
            conns = rabbitmqctl("list_connections", "user", "vhost", "state")
            ours = [l.split("\t") for l in conns.stdout.splitlines()
                    if l.startswith(amqp_user + "\t")]
            check(ours and all(c[1] == vhost for c in ours),
                  "RabbitMQ sees the node's connections as %s on %s (%r)"
                  % (amqp_user, vhost, ours))
        rc, out = EnvNode(db.name, dev=False, extra=[ALL_ROLES],
                          env={"HERALD_TOKEN_KEYS": key_a}).run_to_exit()
        check(rc != 0 and "amqp.url" in out and "HERALD_AMQP_URL" in out
              and "guest/guest" in out and INI in out,
              "outside dev mode the file's guest/guest URL is refused, naming "
              "amqp.url and HERALD_AMQP_URL (rc %d: %r)"
              % (rc, nonempty_lines(out)[-1:]))
        rc, out = EnvNode(db.name, dev=False, extra=[ALL_ROLES], env={
            "HERALD_TOKEN_KEYS": key_a,
            "HERALD_AMQP_URL": "amqp://guest:guest@127.0.0.1:%d/"
                               % RABBIT_PORT}).run_to_exit()
        check(rc != 0 and "amqp.url (from HERALD_AMQP_URL)" in out
              and "guest/guest" in out,
              "outside dev mode HERALD_AMQP_URL with guest/guest is refused "
              "(rc %d: %r)" % (rc, nonempty_lines(out)[-1:]))
    finally:
        rabbitmqctl("delete_user", amqp_user)
        rabbitmqctl("delete_vhost", vhost)
    users = rabbitmqctl("list_users").stdout
    check(amqp_user not in users, "the test's RabbitMQ user is gone again")


# -- HERALD_SMTP_PORT=2626 scripts/run starts ---------------------------------------

def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def local_servers_stop(env):
    out = subprocess.run([os.path.join(SOURCE, "scripts", "local-servers"),
                          "stop"], env=env, capture_output=True, text=True,
                         timeout=180)
    return out


run_dir = os.path.join(RUN_DIR, "run-check")
# 2626 is the port the issue names; another run may hold it for a while.
if not check(wait_until(lambda: port_free(2626), 60, 1),
             "port 2626 is free for scripts/run's SMTP sink (held by: %s)"
             % (subprocess.run(["ss", "-Hltnp", "sport = :2626"],
                               capture_output=True, text=True).stdout.strip()
                or "nobody")):
    finish()
mysql_port = pick_port((0,), taken=(2626,))
rabbit_port = pick_port((0, 1, 20000), taken=(2626, mysql_port))
cluster_port = pick_port((0,), taken=(2626, mysql_port, rabbit_port,
                                      rabbit_port + 1))
run_env = clean_env({"HERALD_SMTP_PORT": "2626", "HERALD_RUN_DIR": run_dir,
                     "HERALD_MYSQL_PORT": str(mysql_port),
                     "HERALD_RABBITMQ_PORT": str(rabbit_port),
                     "HERALD_BUILD_DIR": BUILD_DIR})
print("scripts/run: run dir %s, mysql %d, rabbitmq %d, cluster %d, smtp %s"
      % (run_dir, mysql_port, rabbit_port, cluster_port,
         run_env["HERALD_SMTP_PORT"]), flush=True)
if os.path.isdir(run_dir):  # left from an earlier run
    local_servers_stop(run_env)
    shutil.rmtree(run_dir, ignore_errors=True)
os.makedirs(run_dir, exist_ok=True)
run_log_path = os.path.join(RUN_DIR, "run-check.log")
proc = None
started = time.time()
try:
    with open(run_log_path, "w") as run_log:
        proc = subprocess.Popen(
            [os.path.join(SOURCE, "scripts", "run"),
             "--cluster.port=%d" % cluster_port],
            env=run_env, stdout=run_log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)

    class RunNode:
        port = cluster_port

    def answers():
        if proc.poll() is not None:
            return "exited"
        try:
            return ctl(RunNode, "status", check_rc=None,
                       timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False  # heraldctl being relinked by scripts/run's build

    state = wait_until(answers, 170, 0.5)
    with open(run_log_path) as f:
        run_text = f.read()
    if state != True:
        if "install-deps: all" not in run_text:
            stage = "its install step (scripts/install-deps) did not pass: " \
                    "network or root missing?"
        elif "build: done" not in run_text:
            stage = "its build step did not finish (the build dir was stale " \
                    "or the tree does not build)"
        elif "started" not in run_text:
            stage = "the local servers did not start"
        else:
            stage = "the node did not answer"
        check(False, "HERALD_SMTP_PORT=2626 scripts/run starts a node that "
              "answers on 127.0.0.1:%d within %ds (%s; %s); its output "
              "ends:\n%s"
              % (cluster_port, time.time() - started,
                 "it exited %s" % proc.returncode if state == "exited"
                 else "no answer", stage,
                 "\n".join(run_text.splitlines()[-25:])))
    else:
        st = ctl_json(RunNode, "status")
        check(st["storage_state"] == "ok",
              "HERALD_SMTP_PORT=2626 scripts/run starts; heraldctl --node "
              "127.0.0.1:%d status answers after %.0fs"
              % (cluster_port, time.time() - started))
        check("install-deps: all" in run_text,
              "scripts/run's install step found every package installed")
        with open(os.path.join(run_dir, "smtp", "smtpd.pid")) as f:
            sink_pid = f.read().strip()
        listeners = subprocess.run(["ss", "-Hltnp", "sport = :2626"],
                                   capture_output=True, text=True).stdout
        check("127.0.0.1:2626" in listeners
              and "pid=%s," % sink_pid in listeners,
              "the SMTP sink scripts/run started (pid %s) listens on 2626 (%r)"
              % (sink_pid, listeners.strip()))
        address = "run-%s@example.org" % TAG
        ctl_json(RunNode, "user", "create", "--name", "Run", "--email",
                 address, "--password", PW)
        maildir = os.path.join(run_dir, "smtp", "maildir", "new")

        def mailed():
            for name in os.listdir(maildir) if os.path.isdir(maildir) else []:
                with open(os.path.join(maildir, name), "rb") as f:
                    if address.encode() in f.read():
                        return name
            return None
        check(wait_until(mailed, 30, 0.3),
              "a user create mails into %s" % maildir)
        log_now = open(run_log_path).read()
        check("ignoring environment variables" not in log_now,
              "scripts/run keeps its own variables from the node (no warning)")
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = "still running"
        check(code == 0, "SIGTERM stops the node scripts/run exec'd (exit %s)"
              % code)
finally:
    # scripts/run leads a process group of its own (its build, then the
    # node it exec'd); the servers it started run in sessions of their own.
    if proc is not None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            if not wait_until(lambda: not group_alive(proc.pid), 10):
                continue
            break
    stopped = local_servers_stop(run_env)
    check(stopped.returncode == 0,
          "scripts/local-servers stop ends the servers scripts/run started "
          "(%s)" % (stopped.stdout + stopped.stderr).strip().replace("\n", "; "))
    if stopped.returncode == 0:
        shutil.rmtree(run_dir, ignore_errors=True)

finish()
