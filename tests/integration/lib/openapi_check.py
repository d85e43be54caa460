"""Checks HTTP answers against herald's OpenAPI document
(bridges/http/openapi.json): the status must be documented for the route,
the media type documented for the status, the body valid against its schema
(JSON Schema 2020-12, which OpenAPI 3.1 uses) and the documented required
headers present and valid. Anything undocumented is a failure.

    api = OpenApi.load(node.url)          # served document, equal to the file
    problems = api.check("GET", "/v1/users/{id}", status, headers, body)
"""

import json
import os
import re
import urllib.request

import jsonschema

SOURCE = os.environ.get("HERALD_SOURCE_DIR",
                        os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DOCUMENT = os.path.join(SOURCE, "bridges", "http", "openapi.json")

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Answers the gateway gives outside any route (see info.description): by
# whether the path is known, the statuses and the component that documents
# each.
GENERIC_UNMATCHED = {400: "BadRequest", 404: "NotFound",
                     413: "ContentTooLarge",
                     431: "RequestHeaderFieldsTooLarge",
                     500: "InternalServerError"}
GENERIC_WRONG_METHOD = {400: "BadRequest", 405: "MethodNotAllowed",
                        413: "ContentTooLarge",
                        431: "RequestHeaderFieldsTooLarge",
                        500: "InternalServerError"}
# A known route still answers these before its handler runs: the connection
# refuses what it cannot read.
GENERIC_ANY = {400: "BadRequest", 413: "ContentTooLarge",
               431: "RequestHeaderFieldsTooLarge"}

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")

format_checker = jsonschema.FormatChecker(())


@format_checker.checks("date-time")
def _is_date_time(value):
    if not isinstance(value, str):
        return True
    return bool(_DATE_TIME.match(value))


@format_checker.checks("email")
def _is_email(value):
    return not isinstance(value, str) or bool(_EMAIL.match(value))


@format_checker.checks("uri")
def _is_uri(value):
    return not isinstance(value, str) or bool(_URI.match(value))


def method_of(what):
    return what.split(" ", 1)[0]


def media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def template_of(doc_paths, path):
    """The document's path template matching `path` (literal segments win,
    as in the router), or None."""
    parts = path.split("/")
    best, best_literals = None, -1
    for tpl in doc_paths:
        tparts = tpl.split("/")
        if len(tparts) != len(parts):
            continue
        literals = 0
        for t, p in zip(tparts, parts):
            if t.startswith("{") and t.endswith("}"):
                if p == "":
                    break
            elif t != p:
                break
            else:
                literals += 1
        else:
            if literals > best_literals:
                best, best_literals = tpl, literals
    return best


class OpenApi:
    def __init__(self, doc):
        self.doc = doc

    @classmethod
    def from_file(cls, path=DOCUMENT):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    @classmethod
    def load(cls, base_url):
        """The document the node serves; raises if it differs from the
        file."""
        with urllib.request.urlopen(base_url + "/v1/openapi.json",
                                    timeout=10) as r:
            served = json.loads(r.read().decode("utf-8"))
        with open(DOCUMENT, encoding="utf-8") as f:
            on_disk = json.load(f)
        if served != on_disk:
            raise AssertionError("the served /v1/openapi.json differs from "
                                 + DOCUMENT)
        return cls(served)

    # -- references ---------------------------------------------------------

    def resolve(self, node):
        """Follows $ref (local ones, "#/...") until a node without one."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError("only local references: " + ref)
            target = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target[part]
            node = target
            seen += 1
            if seen > 32:
                raise ValueError("reference loop at " + ref)
        return node

    def validator(self, schema):
        """A 2020-12 validator for `schema`, its $refs resolved in the
        document."""
        resolver = jsonschema.RefResolver(base_uri="", referrer=self.doc)
        return jsonschema.Draft202012Validator(
            schema, resolver=resolver, format_checker=format_checker)

    # -- routes ---------------------------------------------------------------

    def operations(self):
        """Every (METHOD, template) the document lists."""
        out = set()
        for tpl, item in self.doc["paths"].items():
            for m in item:
                if m in METHODS:
                    out.add((m.upper(), tpl))
        return out

    def responses_for(self, method, path):
        """(template or None, {status: response object}, why) for a request
        path (or template); generic answers included."""
        tpl = template_of(self.doc["paths"], path)
        comps = self.doc["components"]["responses"]
        if tpl is None:
            return None, {s: comps[n] for s, n in GENERIC_UNMATCHED.items()}, \
                method.upper() + " (unmatched path)"
        item = self.doc["paths"][tpl]
        # Methods are case-sensitive (RFC 9110): "get" is not GET.
        op = item.get(method.lower()) if method.isupper() else None
        if op is None:
            return tpl, {s: comps[n] for s, n in GENERIC_WRONG_METHOD.items()}, \
                method.upper() + " (undocumented) " + tpl
        out = {}
        for s, n in GENERIC_ANY.items():
            out[s] = comps[n]
        for status, resp in op["responses"].items():
            out[int(status)] = self.resolve(resp)
        return tpl, out, method.upper() + " " + tpl

    # -- the check ------------------------------------------------------------

    def check(self, method, path, status, headers, body):
        """Problems (empty when the answer is documented): the route's own
        response for the status, or, for what the connection refuses before
        any route (400, 413, 431), the generic one."""
        problems = self._check(method, path, status, headers, body)
        if problems and int(status) in GENERIC_ANY:
            generic = self.doc["components"]["responses"][
                GENERIC_ANY[int(status)]]
            if not self._check_against(generic, "generic", status, headers,
                                       body):
                return []
        return problems

    def _check(self, method, path, status, headers, body):
        """Problems (a list of strings, empty when the answer is documented)
        for an answer: `headers` a dict with any key case (or a list of
        pairs), `body` bytes."""
        tpl, responses, what = self.responses_for(method, path)
        resp = responses.get(int(status))
        if resp is None:
            return ["%s: status %d is not documented (documented: %s)"
                    % (what, status, sorted(responses))]
        return self._check_against(resp, what, status, headers, body)

    def _check_against(self, resp, what, status, headers, body):
        if isinstance(headers, dict):
            pairs = list(headers.items())
        else:
            pairs = list(headers)
        hdr = {}
        for k, v in pairs:
            hdr.setdefault(k.lower(), v)
        problems = []
        resp = self.resolve(resp)
        # Headers the document requires.
        for name, h in resp.get("headers", {}).items():
            h = self.resolve(h)
            value = hdr.get(name.lower())
            if value is None:
                if h.get("required"):
                    problems.append("%s %d: header %s is missing"
                                    % (what, status, name))
                continue
            errs = list(self.validator(h.get("schema", {})).iter_errors(value))
            if errs:
                problems.append("%s %d: header %s=%r: %s"
                                % (what, status, name, value, errs[0].message))
        content = resp.get("content")
        if method_of(what) == "HEAD":
            return problems  # no content in an answer to HEAD
        if not content:
            if body:
                problems.append("%s %d: documented without content, got %d "
                                "bytes (%s)" % (what, status, len(body),
                                                hdr.get("content-type")))
            return problems
        ctype = media_type(hdr.get("content-type"))
        media = None
        for name, m in content.items():
            if media_type(name) == ctype:
                media = m
        if media is None:
            problems.append("%s %d: content type %r is not documented "
                            "(documented: %s)" % (what, status,
                                                  hdr.get("content-type"),
                                                  sorted(content)))
            return problems
        schema = media.get("schema")
        if schema is None:
            return problems
        if ctype.endswith("json"):
            try:
                value = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                problems.append("%s %d: body is not JSON: %s (%r)"
                                % (what, status, e, body[:200]))
                return problems
        else:
            try:
                value = body.decode("utf-8")
            except UnicodeDecodeError as e:
                problems.append("%s %d: body is not UTF-8: %s"
                                % (what, status, e))
                return problems
        for e in self.validator(schema).iter_errors(value):
            loc = "/".join(str(p) for p in e.absolute_path)
            problems.append("%s %d: body at /%s: %s" % (what, status, loc,
                                                        e.message[:300]))
            if len(problems) > 5:
                break
        return problems


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.header_list = headers
        self.headers = {}
        for k, v in headers:
            self.headers.setdefault(k.lower(), v)
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "%d %s %r" % (self.status, self.header("content-type"),
                             self.body[:300])


class Client:
    """Requests over http.client (one connection each, so that nothing a
    test sends leaks into the next); every answer is checked against the
    document and a mismatch is handed to `report(ok, what)`."""

    def __init__(self, base_url, api, report):
        import urllib.parse
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname, u.port
        self.api = api
        self.report = report
        self.checked = 0
        self.mismatches = []

    def request(self, method, target, body=None, headers=None, token=None,
                json_body=None, content_type=None, template=None):
        import http.client
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            content_type = content_type or "application/json"
        if isinstance(body, str):
            body = body.encode("utf-8")
        if content_type:
            hdrs["Content-Type"] = content_type
        if token:
            hdrs["Authorization"] = "Bearer " + token
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, target, body=body, headers=hdrs)
            r = conn.getresponse()
            res = Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()
        path = template or target.split("?")[0]
        problems = self.api.check(method, path, res.status, res.header_list,
                                  res.body)
        self.checked += 1
        if problems:
            self.mismatches.append((method, target, problems))
            self.report(False, "answer documented: %s %s -> %d: %s"
                        % (method, target[:80], res.status,
                           "; ".join(problems)))
        return res
