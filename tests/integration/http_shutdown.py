"""The gateway's graceful stop, issue 11 (needs: mysql).

SIGTERM while requests are under way: the gateway stops first, takes no new
connection, and answers every request it had taken (with `Connection:
close`) before the services behind it stop. The requests are held up by
freezing the test MariaDB (SIGSTOP) for a moment, so they are surely in
flight when the signal comes."""

import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from herald_harness import RUN_DIR, Database, Node, check, finish
from http_util import call

PW = "correct horse battery staple"


def mysql_pid():
    with open(os.path.join(RUN_DIR, "mysql", "mysqld.pid")) as f:
        return int(f.read().strip())


def main():
    with Database() as db:
        node = Node(db.name, gateway=True)
        with node:
            url = node.url
            ans = call(url, "POST", "/v1/users",
                       {"name": "Stop", "email": "stop@example.com",
                        "password": PW})
            check(ans.status == 201, "a user to ask for (%d)" % ans.status)
            ans = call(url, "POST", "/v1/sessions",
                       {"email": "stop@example.com", "password": PW})
            token = ans.json()["access_token"]
            auth = {"Authorization": "Bearer " + token}
            # Warm the token cache: validation then needs no storage, the
            # read of the user does.
            check(call(url, "GET", "/v1/users/me", headers=auth).status == 200,
                  "GET /v1/users/me answers before the stop")
            answers = []
            errors = []

            def ask():
                try:
                    answers.append(call(url, "GET", "/v1/users/me",
                                        headers=auth, timeout=60))
                except Exception as e:  # a reset or close without an answer
                    errors.append(repr(e))

            pid = mysql_pid()
            os.kill(pid, signal.SIGSTOP)
            try:
                threads = [threading.Thread(target=ask) for _ in range(10)]
                for t in threads:
                    t.start()
                time.sleep(1.0)
                node.proc.send_signal(signal.SIGTERM)
                time.sleep(1.0)
                # No new connection is served once the gateway stops.
                try:
                    late = call(url, "GET", "/healthz", timeout=5)
                    late_answered = True
                except (OSError, socket.timeout):
                    late_answered = False
                check(not late_answered,
                      "a connection made after SIGTERM gets no answer")
            finally:
                os.kill(pid, signal.SIGCONT)
            for t in threads:
                t.join(timeout=90)
            check(not errors, "no request under way lost its answer: %s"
                  % errors)
            check(len(answers) == 10
                  and all(a.status == 200 for a in answers),
                  "all 10 requests under way were answered 200 once storage "
                  "came back: %s" % [a.status for a in answers])
            check(all(a.headers.get("connection", "").lower() == "close"
                      for a in answers),
                  "their answers say Connection: close")
            rc = node.proc.wait(timeout=60)
            check(rc == 0, "the node stopped cleanly (exit %s)" % rc)
    finish()


if __name__ == "__main__":
    main()
