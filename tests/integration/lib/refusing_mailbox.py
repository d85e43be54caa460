"""An aiosmtpd handler for the integration tests' SMTP sink: a Maildir like
aiosmtpd.handlers.Mailbox that first answers RCPT TO for chosen addresses
with replies a test sets, to play a server that refuses one address for
now (451) or for good (550).

The rules live in a JSON file the test rewrites at any time:
{"address": ["451 4.7.1 Try later", ...]} -- each RCPT for the address takes
the first reply off its list; an empty or missing list accepts it. A reply
"550 ... *" (ending in " *") is kept: it answers every RCPT from then on.

Run: python3 -m aiosmtpd -n -l HOST:PORT -c refusing_mailbox.RefusingMailbox
MAILDIR RULES (with this folder on PYTHONPATH)."""

import json
import os

from aiosmtpd.handlers import Mailbox


class RefusingMailbox(Mailbox):
    def __init__(self, mail_dir, rules_path):
        super().__init__(mail_dir)
        self.rules_path = rules_path

    def _next_reply(self, address):
        try:
            with open(self.rules_path) as f:
                rules = json.load(f)
        except (OSError, ValueError):
            return None
        replies = rules.get(address.lower()) or []
        if not replies:
            return None
        reply = replies[0]
        if reply.endswith(" *"):
            return reply[:-2]
        rules[address.lower()] = replies[1:]
        tmp = self.rules_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rules, f)
        os.replace(tmp, self.rules_path)
        return reply

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        reply = self._next_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 2:
            parser.error("RefusingMailbox takes MAILDIR RULES")
        return cls(args[0], args[1])
