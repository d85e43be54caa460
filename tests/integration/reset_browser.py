"""The password-reset flow in a real browser (needs: mysql): register and log
in over the API, request a reset, open the link from the mail the SMTP sink
received in headless Chromium, fill in the form, see the result, log in with
the new password; the old password and the old token are refused, and the
same link a second time says "already used". Also the page's headers and
markup (no script, nothing foreign), the mismatch error that keeps the form,
and a form POST with `Origin: null`. A screenshot lands in the build folder
when a browser step fails."""

import os
import re
import shutil
import sys
import tempfile
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

from herald_harness import (NODE, Database, Node, SmtpSink, body_text, check,
                            failures, finish)
from http_util import call, is_problem

OLD_PW = "correct horse battery staple"
NEW_PW = "a brand new passphrase for zoe"
SHOTS = os.path.dirname(os.path.abspath(NODE))


def reset_links(sink):
    out = []
    for msg in sink.mails():
        m = re.search(r"(\S+/reset-password\?token=([A-Za-z0-9_-]+))",
                      body_text(msg))
        if m:
            out.append((str(msg["To"]), m.group(1), m.group(2)))
    return out


def wait_link(sink, to, count=1, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        links = [x for x in reset_links(sink) if to in x[0]]
        if len(links) >= count:
            return links[count - 1]
        time.sleep(0.2)
    return None, None, None


def register(url, name, email, password):
    ans = call(url, "POST", "/v1/users",
               {"name": name, "email": email, "password": password})
    check(ans.status == 201 and ans.headers.get("location", "").startswith(
        "/v1/users/"), "register %s -> 201 + Location (%r)" % (email, ans))
    return ans


def login(url, email, password):
    return call(url, "POST", "/v1/sessions",
                {"email": email, "password": password})


def csp_directives(value):
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def check_page_headers(url, path, token):
    ans = call(url, "GET", path)
    check(ans.status == 200 and ans.headers.get("content-type", "")
          .startswith("text/html"), "the reset page answers 200 HTML (%r)"
          % ans)
    h = ans.headers
    check(h.get("referrer-policy") == "no-referrer",
          "Referrer-Policy: no-referrer (%r)" % h.get("referrer-policy"))
    check("no-store" in h.get("cache-control", ""),
          "Cache-Control: no-store (%r)" % h.get("cache-control"))
    csp = csp_directives(h.get("content-security-policy", ""))
    check(csp.get("frame-ancestors") == ["'none'"],
          "CSP frame-ancestors 'none' (%r)" % csp)
    check(csp.get("default-src") == ["'none'"], "CSP default-src 'none'")
    foreign = [(d, s) for d, srcs in csp.items() for s in srcs
               if not (s in ("'none'", "'self'")
                       or re.fullmatch(r"'sha(256|384|512)-[A-Za-z0-9+/=]+'",
                                       s))]
    check(not foreign, "the CSP allows no foreign source (%r)" % foreign)
    check("set-cookie" not in h, "the page sets no cookie")
    html = ans.text()
    check("<script" not in html.lower(), "the page has no <script>")
    refs = re.findall(r"""(?:src|href|action)\s*=\s*["']?([^"' >]*)""", html,
                      re.I)
    external = [r for r in refs if "//" in r or ":" in r]
    check(not external, "no external src/href/action (%r)" % external)
    check(all(token not in r for r in refs),
          "the token is in no URL of the page (%r)" % refs)
    check(html.count(token) == 1,
          "the token appears once, in the form's hidden field")
    return ans


def make_driver(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              "--user-data-dir=" + profile]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                            options=opts)


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="herald-chromium-")
        self.driver = make_driver(self.profile)
        self.driver.set_page_load_timeout(30)
        self.shots = 0

    def check(self, cond, what):
        if not check(cond, what):
            self.shots += 1
            path = os.path.join(SHOTS, "reset_browser-fail-%d.png"
                                % self.shots)
            try:
                self.driver.save_screenshot(path)
                print("     screenshot: " + path, flush=True)
            except Exception as e:  # the browser may be gone
                print("     no screenshot: %s" % e, flush=True)
        return cond

    def by_id(self, ident):
        from selenium.webdriver.common.by import By
        found = self.driver.find_elements(By.ID, ident)
        return found[0] if found else None

    def wait_id(self, ident, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            el = self.by_id(ident)
            if el is not None:
                return el
            time.sleep(0.1)
        return None

    def fill_and_submit(self, first, second):
        self.by_id("password").clear()
        self.by_id("password").send_keys(first)
        self.by_id("password2").clear()
        self.by_id("password2").send_keys(second)
        old = self.driver.find_element("tag name", "html")
        self.by_id("submit").click()
        # Wait for the next page to replace this one.
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                old.get_attribute("lang")
            except Exception:
                break
            time.sleep(0.1)

    def text(self):
        return self.driver.find_element("tag name", "body").text

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


with Database() as db, SmtpSink() as sink:
    with Node(db.name, gateway=True,
              extra=["--smtp.url=" + sink.url(),
                     "--outbox.backoff-min=200ms",
                     "--outbox.backoff-max=1s"]) as node:
        url = node.url
        email = "zoe@example.org"
        register(url, "Zoë", email, OLD_PW)
        first = login(url, email, OLD_PW)
        check(first.status == 200 and first.json()["token_type"] == "Bearer",
              "log in over the API (%r)" % first)
        old_token = first.json()["access_token"]
        me = call(url, "GET", "/v1/users/me",
                  headers={"Authorization": "Bearer " + old_token})
        check(me.status == 200 and me.json()["email"] == email,
              "the token works before the reset")
        ans = call(url, "POST", "/v1/password-resets", {"email": email})
        check(ans.status == 202, "request a reset -> 202 (%r)" % ans)
        to, link, token = wait_link(sink, email)
        check(link is not None, "the reset mail arrived with a link")
        if link is None:
            finish()
        check(link.startswith(url + "/reset-password?token="),
              "the link points at the node's own gateway (%s)"
              % link.split("token=")[0])
        parts = urlsplit(link)
        path = parts.path + "?" + parts.query
        check_page_headers(url, path, token)

        browser = Browser()
        try:
            d = browser.driver
            d.get(link)
            browser.check(browser.wait_id("password") is not None
                          and "new password" in browser.text().lower(),
                          "the browser shows the form")
            # Two different passwords: the error, and the form again.
            browser.fill_and_submit(NEW_PW, NEW_PW + "x")
            err = browser.wait_id("error")
            browser.check(err is not None and "differ" in err.text,
                          "two different passwords show the error (%r)"
                          % (err.text if err else browser.text()))
            browser.check(browser.by_id("password") is not None
                          and browser.by_id("password2") is not None,
                          "the form is kept after the error")
            browser.check("token=" not in d.current_url,
                          "after the POST the token is not in the URL (%s)"
                          % d.current_url.split("token=")[0])
            # Then the same password twice: success.
            browser.fill_and_submit(NEW_PW, NEW_PW)
            result = browser.wait_id("result")
            browser.check(result is not None
                          and "password was changed" in result.text.lower(),
                          "the browser shows the success text (%r)"
                          % (result.text if result else browser.text()))

            ok = login(url, email, NEW_PW)
            check(ok.status == 200, "log in with the new password -> 200 (%r)"
                  % ok)
            bad = login(url, email, OLD_PW)
            check(is_problem(bad, 401), "log in with the old password -> 401 "
                  "(%r)" % bad)
            me = call(url, "GET", "/v1/users/me",
                      headers={"Authorization": "Bearer " + old_token})
            check(is_problem(me, 401), "the old token is refused (%r)" % me)
            if ok.status == 200:
                me = call(url, "GET", "/v1/users/me", headers={
                    "Authorization": "Bearer " + ok.json()["access_token"]})
                check(me.status == 200, "the new token works")

            d.get(link)
            browser.wait_id("result")
            browser.check("already used" in browser.text().lower(),
                          "the same link again says 'already used' (%r)"
                          % browser.text())
            browser.check(browser.by_id("password") is None,
                          "no form for a used link")
        finally:
            browser.close()

        # The same link over plain HTTP: 410 with the same words.
        again = call(url, "GET", path)
        check(again.status == 410 and "already used" in again.text(),
              "GET of a used link -> 410 'already used' (%r)" % again)

        # A form POST with Origin: null (what no-referrer makes browsers
        # send) works: a second account, its own link.
        email2 = "yann@example.org"
        register(url, "Yann", email2, OLD_PW)
        ans = call(url, "POST", "/v1/password-resets", {"email": email2})
        check(ans.status == 202, "second reset request -> 202")
        _, link2, token2 = wait_link(sink, email2)
        check(link2 is not None, "the second reset mail arrived")
        if link2:
            from urllib.parse import urlencode
            form = urlencode({"token": token2, "password": NEW_PW,
                              "password2": NEW_PW})
            ans = call(url, "POST", "/reset-password", form,
                       {"Content-Type": "application/x-www-form-urlencoded",
                        "Origin": "null"})
            check(ans.status == 200 and "password was changed"
                  in ans.text().lower(),
                  "a form POST with Origin: null works (%r)" % ans)
            check("no-store" in ans.headers.get("cache-control", "")
                  and ans.headers.get("referrer-policy") == "no-referrer",
                  "the result page is no-store, no-referrer too")
            check(token2 not in ans.text(), "the result page does not echo "
                  "the token")
            check(login(url, email2, NEW_PW).status == 200,
                  "the Origin: null reset took effect")
        # A bad token in the form: a page, not a crash, and no token echo.
        ans = call(url, "POST", "/reset-password",
                   "token=nonsense&password=a&password2=a",
                   {"Content-Type": "application/x-www-form-urlencoded"})
        check(ans.status in (400, 410) and "<script" not in ans.text(),
              "a garbage token in the form -> an error page (%r)" % ans)
        ans = call(url, "GET", "/reset-password")
        check(ans.status == 400 and "not valid" in ans.text(),
              "the page without a token -> 400 'not valid' (%r)" % ans)
        # The node's log never holds the token or the new password.
        log = node.read_log()
        check(token not in log and NEW_PW not in log,
              "the node's log holds neither the token nor the password")
if failures:
    print("screenshots (if any) are in " + SHOTS)
finish()
