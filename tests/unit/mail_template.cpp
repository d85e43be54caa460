#define CAF_SUITE mail_template

// Mail templates (actors/mail_template) and the MIME message the SMTP bridge
// composes (bridges/smtp/mime): plain functions, no actors.

#include "actors/mail_template.hpp"

#include "tests/test.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "actors/account_policy.hpp"
#include "bridges/smtp/mime.hpp"
#include "tests/support/mail_parsing.hpp"

using namespace herald;
using herald::test::base64_decode;
using herald::test::code_of;

namespace {

namespace fs = std::filesystem;

/// config/templates of the source tree (HERALD_SOURCE_DIR under ctest, else
/// found from this file's path).
std::string shipped_templates() {
  if (auto dir = std::getenv("HERALD_SOURCE_DIR"))
    return std::string{dir} + "/config/templates";
  return fs::path{__FILE__}.parent_path().parent_path().parent_path()
         / "config/templates";
}

/// A temporary folder with copies of the shipped templates; removed again.
struct template_dir {
  fs::path path;
  template_dir() {
    char name[] = "/tmp/herald-templates-XXXXXX";
    path = mkdtemp(name);
    for (auto& entry : fs::directory_iterator{shipped_templates()})
      fs::copy(entry.path(), path / entry.path().filename());
  }
  ~template_dir() { fs::remove_all(path); }
  void write(const std::string& file, const std::string& content) {
    std::ofstream{path / file, std::ios::binary | std::ios::trunc} << content;
  }
};

/// Joins the texts of every "=?UTF-8?B?...?=" in a header; checks each word
/// on its own is complete UTF-8 (no sequence split between words).
std::string decode_words(const std::string& header) {
  std::string out;
  size_t pos = 0;
  while ((pos = header.find("=?UTF-8?B?", pos)) != std::string::npos) {
    auto end = header.find("?=", pos + 10);
    auto word = base64_decode(header.substr(pos + 10, end - pos - 10));
    CAF_CHECK(utf8_length(word) != std::string::npos);
    out += word;
    pos = end + 2;
  }
  return out;
}

/// The header block of a message (up to the first empty line).
std::string headers_of(const std::string& msg) {
  return msg.substr(0, msg.find("\r\n\r\n") + 2);
}

mime::envelope_info info() {
  return {{"herald", "noreply@herald.example"},
          1795298400,
          "=_herald_0123456789abcdef"};
}

mail sample_mail() {
  return {"alice@example.org", "Welcome to herald", "Hello Alice,\nwelcome!\n",
          "<p>Hello Alice,</p>\n<p>welcome!</p>\n", "ev-1"};
}

} // namespace

CAF_TEST(the shipped templates load and render) {
  auto loaded = load_templates(shipped_templates());
  CAF_REQUIRE(loaded);
  auto* reset = loaded->find(template_reset);
  CAF_REQUIRE(reset != nullptr);
  auto values = sample_values(template_reset);
  values["link"] = "https://acc.example.org/reset-password?token=abc_DEF-1";
  auto out = render(*reset, values);
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->subject, "Reset your herald password");
  CAF_CHECK(out->text.find(values["link"]) != std::string::npos);
  CAF_CHECK(out->text.find("15 minutes") != std::string::npos);
  CAF_CHECK(out->text.find("Subject:") == std::string::npos);
  CAF_CHECK(out->html.find("href=\"" + values["link"] + "\"")
            != std::string::npos);
  for (auto name : {template_welcome, template_password_changed}) {
    CAF_REQUIRE(loaded->find(name) != nullptr);
    CAF_CHECK(render(*loaded->find(name), sample_values(name)));
  }
}

CAF_TEST(values are escaped in html and as they are in text) {
  auto tpl = parse_template("t", "Subject: Hi {{name}}\n\n{{name}} {{link}}\n",
                            "<p>{{name}}</p><a href=\"{{link}}\">x</a>");
  CAF_REQUIRE(tpl);
  auto out = render(*tpl, {{"name", "<b>Eve & \"Co\" 'x'</b>"},
                           {"link", "https://x.org/?a=1&b=2"}});
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->text,
                  "<b>Eve & \"Co\" 'x'</b> https://x.org/?a=1&b=2\n");
  CAF_CHECK_EQUAL(out->html, "<p>&lt;b&gt;Eve &amp; &quot;Co&quot; &#39;x&#39;"
                             "&lt;/b&gt;</p><a href=\"https://x.org/?a=1&amp;"
                             "b=2\">x</a>");
  CAF_CHECK_EQUAL(out->subject, "Hi <b>Eve & \"Co\" 'x'</b>");
}

CAF_TEST(cr and lf are stripped from the subject) {
  auto tpl = parse_template("t", "Subject: Hi {{name}}\r\n\r\nbody\r\n", "");
  CAF_REQUIRE(tpl);
  CAF_CHECK_EQUAL(tpl->text, "body\r\n");
  auto out = render(*tpl, {{"name", "Eve\r\nBcc: mallory@evil.example\n"}});
  CAF_REQUIRE(out);
  CAF_CHECK_EQUAL(out->subject, "Hi EveBcc: mallory@evil.example");
}

CAF_TEST(an unknown placeholder is an error naming template and placeholder) {
  auto tpl = parse_template("t", "Subject: Hi\n\nDear {{nmae}}\n", "<p></p>");
  CAF_REQUIRE(tpl);
  auto out = render(*tpl, {{"name", "x"}});
  CAF_REQUIRE(!out);
  CAF_CHECK_EQUAL(code_of(out.error()), ec::internal);
  CAF_CHECK(render(out.error()).find("t.txt") != std::string::npos);
  CAF_CHECK(render(out.error()).find("{{nmae}}") != std::string::npos);
  for (auto broken : {"{{name", "{{}}", "{{ name }}", "{{Name}}"}) {
    auto bad = parse_template("t", "Subject: Hi\n\nok", broken);
    CAF_REQUIRE(bad);
    auto res = render(*bad, {{"name", "x"}});
    CAF_CHECK(!res);
    if (!res)
      CAF_CHECK(render(res.error()).find("t.html") != std::string::npos);
  }
  // A placeholder the mailer does not fill for this kind fails at load.
  template_dir dir;
  dir.write("welcome.html", "<p>valid for {{expires_in}}</p>");
  auto loaded = load_templates(dir.path.string());
  CAF_REQUIRE(!loaded);
  CAF_MESSAGE("refused: " << render(loaded.error()));
  CAF_CHECK_EQUAL(code_of(loaded.error()), ec::internal);
  CAF_CHECK(render(loaded.error()).find("welcome.html") != std::string::npos);
  CAF_CHECK(render(loaded.error()).find("{{expires_in}}") != std::string::npos);
}

CAF_TEST(a missing file or a missing subject line fails at load) {
  {
    template_dir dir;
    fs::remove(dir.path / "reset.html");
    auto loaded = load_templates(dir.path.string());
    CAF_REQUIRE(!loaded);
    CAF_MESSAGE("refused: " << render(loaded.error()));
    CAF_CHECK_EQUAL(code_of(loaded.error()), ec::internal);
    CAF_CHECK(render(loaded.error()).find("reset.html") != std::string::npos);
  }
  {
    template_dir dir;
    dir.write("password_changed.txt", "Hello {{name}}\n");
    auto loaded = load_templates(dir.path.string());
    CAF_REQUIRE(!loaded);
    CAF_CHECK(render(loaded.error()).find("password_changed.txt")
              != std::string::npos);
  }
  auto empty = parse_template("t", "Subject:   \nbody", "");
  CAF_CHECK(!empty);
  CAF_CHECK(!load_templates("/nonexistent/herald/templates"));
}

// -- MIME composition -----------------------------------------------------

CAF_TEST(a composed message carries every header) {
  auto msg = mime::compose(sample_mail(), info());
  CAF_REQUIRE(msg);
  auto head = headers_of(*msg);
  CAF_MESSAGE("headers:\n" << head);
  for (auto line :
       {"Date: Sat, 21 Nov 2026 22:00:00 +0000\r\n",
        "From: herald <noreply@herald.example>\r\n",
        "To: alice@example.org\r\n", "Subject: Welcome to herald\r\n",
        "Message-ID: <ev-1@herald.example>\r\n", "MIME-Version: 1.0\r\n",
        "Content-Type: multipart/alternative;\r\n boundary=\""
        "=_herald_0123456789abcdef\"\r\n"})
    CAF_CHECK(head.find(line) != std::string::npos);
  CAF_CHECK(msg->find("Content-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: quoted-printable\r\n")
            != std::string::npos);
  CAF_CHECK(msg->find("Content-Type: text/html; charset=utf-8\r\n")
            != std::string::npos);
  CAF_CHECK(msg->find("\r\n--=_herald_0123456789abcdef--\r\n")
            != std::string::npos);
  // Without HTML: a single text/plain body.
  auto plain = sample_mail();
  plain.html.clear();
  auto single = mime::compose(plain, info());
  CAF_REQUIRE(single);
  CAF_CHECK(single->find("multipart") == std::string::npos);
  CAF_CHECK(single->find("Content-Type: text/plain; charset=utf-8\r\n")
            != std::string::npos);
}

CAF_TEST(cr or lf in a header value and non - plain addresses are refused) {
  auto refused = [](mail m) {
    auto msg = mime::compose(m, info());
    CAF_REQUIRE(!msg);
    CAF_CHECK_EQUAL(code_of(msg.error()), ec::invalid_argument);
    CAF_MESSAGE("refused: " << render(msg.error()));
  };
  for (auto to :
       {"alice@example.org\r\nBcc: eve@evil.example", "alice@example.org\n",
        "Alice <alice@example.org>", "alice@example.org, eve@evil.example",
        "alice", "@x.org", "a..b@x.org", "alice@-x.org", "\"a b\"@x.org", "",
        "alice@exa mple.org", "älice@example.org"}) {
    auto m = sample_mail();
    m.to = to;
    refused(m);
  }
  for (auto subject : {"Hi\r\nBcc: eve@evil.example", "Hi\n", "Hi\rthere"}) {
    auto m = sample_mail();
    m.subject = subject;
    refused(m);
  }
  for (auto id : {"ev-1>\r\nBcc: eve@evil.example", "a@b@c", "ev 1", "@x"}) {
    auto m = sample_mail();
    m.message_id = id;
    refused(m);
  }
  CAF_CHECK(!mime::parse_mailbox("herald <noreply@x.org>\r\nBcc: e@x.org"));
  CAF_CHECK(!mime::parse_mailbox("herald <noreply@x.org"));
  CAF_CHECK(!mime::parse_mailbox("herald <no reply@x.org>"));
  auto from = mime::parse_mailbox("  The \"herald\" <noreply@x.org> ");
  CAF_REQUIRE(from);
  CAF_CHECK_EQUAL(from->display_name, "The \"herald\"");
  CAF_CHECK_EQUAL(from->address, "noreply@x.org");
  auto bare = mime::parse_mailbox("noreply@x.org");
  CAF_REQUIRE(bare);
  CAF_CHECK_EQUAL(bare->display_name, "");
}

CAF_TEST(a non - ascii subject becomes folded encoded - words) {
  auto m = sample_mail();
  m.subject = "Grüße, Zoë! Ihr Passwort für herald wurde geändert ✓ — "
              "bitte prüfen Sie die Änderung 日本語のテキスト";
  auto msg = mime::compose(m, info());
  CAF_REQUIRE(msg);
  auto head = headers_of(*msg);
  auto start = head.find("Subject: ");
  auto end = head.find("\r\nMessage-ID:");
  auto subject = head.substr(start, end - start);
  CAF_MESSAGE(subject);
  CAF_CHECK(subject.find("=?UTF-8?B?") != std::string::npos);
  for (auto c : subject)
    CAF_CHECK(static_cast<unsigned char>(c) < 0x80);
  CAF_CHECK_EQUAL(decode_words(subject), m.subject);
  // Folded: every line short, continuation lines start with a blank.
  size_t pos = 0;
  while (pos < subject.size()) {
    auto eol = subject.find("\r\n", pos);
    auto line = subject.substr(pos, eol == std::string::npos ? eol : eol - pos);
    CAF_CHECK_LESS_OR_EQUAL(line.size(), 78u);
    if (pos > 0)
      CAF_CHECK_EQUAL(line.front(), ' ');
    if (eol == std::string::npos)
      break;
    pos = eol + 2;
  }
  // A display name with non-ASCII text is encoded, too.
  auto i = info();
  i.from.display_name = "Zoë's herald";
  auto with_name = mime::compose(sample_mail(), i);
  CAF_REQUIRE(with_name);
  CAF_CHECK(with_name->find("From: =?UTF-8?B?") != std::string::npos);
}

CAF_TEST(bodies use crlf and short quoted - printable lines) {
  auto m = sample_mail();
  m.text = "line one\nline two\r\n\ntrailing blank \n.\n..dots\n"
           + std::string(2000, 'x') + "\nGrüße = 100% ✓\n";
  m.html = "<p>" + std::string(1500, 'y') + "</p>";
  auto msg = mime::compose(m, info());
  CAF_REQUIRE(msg);
  for (size_t i = 0; i < msg->size(); ++i) {
    if ((*msg)[i] == '\n')
      CAF_CHECK(i > 0 && (*msg)[i - 1] == '\r');
    if ((*msg)[i] == '\r')
      CAF_CHECK(i + 1 < msg->size() && (*msg)[i + 1] == '\n');
    CAF_CHECK(static_cast<unsigned char>((*msg)[i]) < 0x80);
  }
  size_t pos = 0, longest = 0;
  while (pos < msg->size()) {
    auto eol = msg->find("\r\n", pos);
    longest = std::max(longest, eol - pos);
    pos = eol + 2;
  }
  CAF_CHECK_LESS_OR_EQUAL(longest, 78u);
  auto qp = mime::quoted_printable("trailing blank \nGrüße = 100%\n");
  CAF_CHECK_EQUAL(qp, "trailing blank=20\r\nGr=C3=BC=C3=9Fe =3D 100%\r\n");
  CAF_CHECK_EQUAL(mime::quoted_printable(std::string(80, 'a')),
                  std::string(75, 'a') + "=\r\n" + std::string(5, 'a'));
  CAF_CHECK_EQUAL(mime::quoted_printable(std::string(76, 'a')),
                  std::string(76, 'a'));
}
