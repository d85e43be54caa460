"""What the cluster tests and the failover benchmark share: node options
for roles and seeds, a node's view of the cluster (heraldctl cluster status)
and clients that validate a token through a gateway without pause."""

import threading
import time

from herald_harness import check, ctl_json
from http_util import call


def roles(*xs):
    return "--herald.roles=[%s]" % ",".join('"%s"' % x for x in xs)


def seeds(*nodes, host="127.0.0.1"):
    return "--cluster.seeds=[%s]" % ",".join(
        '"%s:%d"' % (host, n.port) for n in nodes)


def status(node, *extra):
    """`node`'s cluster status as JSON, or None (node frozen or gone:
    heraldctl fails)."""
    try:
        return ctl_json(node, *extra, "cluster", "status")
    except Exception:
        return None


def member(st, node, host="127.0.0.1"):
    """`node`'s row in the cluster status `st`, or None."""
    if not st:
        return None
    for m in st["members"]:
        if m["address"] == "%s:%d" % (host, node.port):
            return m
    return None


def routes(observer, service):
    st = status(observer)
    return st["routes"].get(service, []) if st else []


class Validators:
    """`clients` threads validating `token` through `node`'s HTTP API
    without pause, each request with its own timeout; records (start, end,
    status) per request, status a string when no answer came. `setup` runs
    first on each client thread (e.g. to enter a network namespace)."""

    def __init__(self, node, token, clients=4, timeout=20, setup=None):
        self.node, self.token, self.timeout = node, token, timeout
        self.setup = setup
        self.results = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True)
                        for _ in range(clients)]

    def run(self):
        if self.setup:
            self.setup()
        while not self.stop_flag.is_set():
            t0 = time.time()
            try:
                res = call(self.node.url, "POST", "/v1/tokens/validate",
                           body={"token": self.token}, timeout=self.timeout)
                code = res.status
            except Exception as e:  # no answer within the timeout
                code = "no answer (%s)" % type(e).__name__
            with self.lock:
                self.results.append((t0, time.time(), code))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 5)

    def since(self, t):
        with self.lock:
            return [r for r in self.results if r[0] >= t]

    def all(self):
        with self.lock:
            return list(self.results)


def check_load(load, what):
    """Every request of `load` was answered within its timeout; answers the
    longest time one took."""
    rs = load.all()
    unanswered = [r for r in rs if not isinstance(r[2], int)]
    slow = [r for r in rs if r[1] - r[0] > load.timeout]
    worst = max((r[1] - r[0] for r in rs), default=0)
    failed = [r for r in rs if r[2] != 200]
    check(rs and not unanswered and not slow,
          "%s: all %d requests answered within their %ds timeout (longest "
          "%.2fs; %d not 200: %r)" % (what, len(rs), load.timeout, worst,
                                       len(failed),
                                       sorted({str(r[2]) for r in failed})))
    return worst
