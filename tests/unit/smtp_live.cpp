#define CAF_SUITE smtp_live

// The SMTP bridge with a real actor system (detached curl workers). On its
// own the suite parses a composed message back, sends to a port where
// nothing listens and hands the bridge a mail it must refuse.
// tests/integration/smtp_bridge.py drives it against aiosmtpd through the
// environment:
//
//   HERALD_SMTP_LIVE_URL      smtp://127.0.0.1:PORT; unset: no live send
//   HERALD_SMTP_LIVE_MAIL     JSON file {"to","subject","text","html",
//                             "message_id"} to send (default: a sample)
//   HERALD_SMTP_LIVE_FROM     the bridge's from setting
//   HERALD_SMTP_LIVE_TIMEOUT  the bridge's timeout in seconds (default 10)
//   HERALD_SMTP_LIVE_COUNT    how often to send it, through one worker
//   HERALD_SMTP_LIVE_STARTTLS "1": require STARTTLS
//   HERALD_SMTP_LIVE_CA_FILE  CA bundle to verify the server with
//   HERALD_SMTP_LIVE_USERNAME, HERALD_SMTP_LIVE_PASSWORD  AUTH credentials
//   HERALD_SMTP_LIVE_EXPECT   "ok" or the error code name expected
//   HERALD_SMTP_LIVE_VERDICT  file the outcome goes to (JSON: ok, code,
//                             message, elapsed_ms)

#include "bridges/smtp/smtp.hpp"

#include "tests/test.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include <caf/scoped_actor.hpp>

#include "bridges/smtp/mime.hpp"
#include "tests/support/mail_parsing.hpp"

using namespace herald;
using herald::test::base64_decode;
using herald::test::code_of;
using json = nlohmann::json;

namespace {

std::string env(const char* name, std::string fallback = {}) {
  auto value = std::getenv(name);
  return value != nullptr ? std::string{value} : fallback;
}

mail sample_mail() {
  return {"bob@example.org", "Grüße aus herald ✓ – Ihr Konto",
          "Hallo Bob,\n\nGrüße = 100% ✓\n.\n..two dots\n.leading dot\n"
              + std::string(300, 'x') + "\ntrailing blank \n",
          "<p>Hallo <b>Bob</b> — ✓</p>\n<p>" + std::string(200, 'y') + "</p>\n",
          "live-sample"};
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
uint16_t closed_port() {
  auto fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// -- a small reader for what compose() writes ----------------------------

std::string replace_all(std::string str, const std::string& from,
                        const std::string& to) {
  for (auto pos = str.find(from); pos != std::string::npos;
       pos = str.find(from, pos + to.size()))
    str.replace(pos, from.size(), to);
  return str;
}

/// Unfolded value of header `name` in a header block.
std::string header(const std::string& block, const std::string& name) {
  auto unfolded = replace_all(block, "\r\n ", " ");
  auto pos = unfolded.find(name + ": ");
  if (pos != 0)
    pos = unfolded.find("\r\n" + name + ": ");
  if (pos == std::string::npos)
    return {};
  pos = unfolded.find(": ", pos) + 2;
  return unfolded.substr(pos, unfolded.find("\r\n", pos) - pos);
}

std::string decode_words(const std::string& value) {
  if (value.find("=?UTF-8?B?") == std::string::npos)
    return value;
  std::string out;
  size_t pos = 0;
  while ((pos = value.find("=?UTF-8?B?", pos)) != std::string::npos) {
    auto end = value.find("?=", pos + 10);
    out += base64_decode(value.substr(pos + 10, end - pos - 10));
    pos = end + 2;
  }
  return out;
}

std::string qp_decode(const std::string& in) {
  auto text = replace_all(in, "=\r\n", "");
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '=' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return replace_all(out, "\r\n", "\n");
}

/// Body of the part with content type `type`, decoded.
std::string part(const std::string& msg, const std::string& boundary,
                 const std::string& type) {
  auto marker = "Content-Type: " + type + ";";
  auto pos = msg.find(marker);
  if (pos == std::string::npos)
    return "(no " + type + " part)";
  auto start = msg.find("\r\n\r\n", pos) + 4;
  auto end = msg.find("\r\n--" + boundary, start);
  return qp_decode(msg.substr(start, end - start));
}

struct live_fixture {
  herald::test::config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  /// Sends `m` through a fresh bridge; answers the error (none for ok).
  caf::error send_through_actor(smtp_settings settings, const mail& m) {
    auto bridge = spawn_smtp(sys, std::move(settings));
    caf::error result = caf::make_error(ec::internal, std::string{"no reply"});
    self->request(bridge, std::chrono::seconds{120}, atom::send_v, m)
        .receive([&](caf::ok_atom) { result = caf::none; },
                 [&](caf::error& err) { result = std::move(err); });
    self->send_exit(bridge, caf::exit_reason::user_shutdown);
    return result;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(smtp_live_tests, live_fixture)

CAF_TEST(a composed message parses back to the mail) {
  auto m = sample_mail();
  mime::envelope_info info{
      {"herald", "noreply@herald.test"}, 1795298400, mime::make_boundary()};
  auto msg = mime::compose(m, info);
  CAF_REQUIRE(msg);
  auto head = msg->substr(0, msg->find("\r\n\r\n") + 2);
  CAF_CHECK_EQUAL(decode_words(header(head, "Subject")), m.subject);
  CAF_CHECK_EQUAL(header(head, "To"), m.to);
  CAF_CHECK_EQUAL(header(head, "From"), "herald <noreply@herald.test>");
  CAF_CHECK_EQUAL(header(head, "Message-ID"), "<live-sample@herald.test>");
  CAF_CHECK_EQUAL(header(head, "MIME-Version"), "1.0");
  CAF_CHECK_EQUAL(header(head, "Content-Type"),
                  "multipart/alternative; boundary=\"" + info.boundary + "\"");
  CAF_CHECK_EQUAL(part(*msg, info.boundary, "text/plain"), m.text);
  CAF_CHECK_EQUAL(part(*msg, info.boundary, "text/html"), m.html);
}

CAF_TEST(nothing listening is unavailable) {
  smtp_settings settings;
  settings.url = "smtp://127.0.0.1:" + std::to_string(closed_port());
  settings.timeout = std::chrono::seconds{5};
  auto direct = send_mail(nullptr, settings, sample_mail());
  CAF_CHECK_EQUAL(code_of(direct), ec::unavailable);
  CAF_MESSAGE("send_mail: " << render(direct));
  auto err = send_through_actor(settings, sample_mail());
  CAF_CHECK_EQUAL(code_of(err), ec::unavailable);
  CAF_MESSAGE("bridge: " << render(err));
}

CAF_TEST(refusals are classified by reply code and command) {
  auto code = [](int reply, const char* command) {
    return code_of(classify_smtp_failure(reply, command, "x"));
  };
  // This mail, for now: retried later without counting an attempt.
  CAF_CHECK_EQUAL(code(451, "RCPT"), ec::deferred);
  CAF_CHECK_EQUAL(code(452, "DATA"), ec::deferred);
  // This mail, for good.
  CAF_CHECK_EQUAL(code(550, "RCPT"), ec::rejected);
  CAF_CHECK_EQUAL(code(554, "DATA"), ec::rejected);
  // The server or the connection: an outage, whatever the reply.
  CAF_CHECK_EQUAL(code(421, "RCPT"), ec::unavailable);
  CAF_CHECK_EQUAL(code(421, ""), ec::unavailable);
  // MAIL FROM names our own sender: its refusal is the server's or our
  // configuration's (must authenticate, relay denied, rate limit).
  CAF_CHECK_EQUAL(code(450, "MAIL"), ec::unavailable);
  CAF_CHECK_EQUAL(code(530, "MAIL"), ec::unavailable);
  CAF_CHECK_EQUAL(code(553, "MAIL"), ec::unavailable);
  CAF_CHECK_EQUAL(code(554, ""), ec::unavailable);
  CAF_CHECK_EQUAL(code(535, "AUTH"), ec::unavailable);
  CAF_CHECK_EQUAL(code(454, "STARTTLS"), ec::unavailable);
  CAF_CHECK_EQUAL(code(501, "EHLO"), ec::unavailable);
  CAF_CHECK_EQUAL(code(0, "RCPT"), ec::unavailable);
  CAF_CHECK_EQUAL(code(0, ""), ec::unavailable);
  CAF_CHECK_EQUAL(
      message_of(classify_smtp_failure(451, "RCPT", "smtp h: 451 later")),
      "smtp h: 451 later");
}

CAF_TEST(only smtp verbs are kept of the lines sent) {
  CAF_CHECK_EQUAL(smtp_command_verb("RCPT TO:<a@example.org>\r\n"), "RCPT");
  CAF_CHECK_EQUAL(smtp_command_verb("mail FROM:<a@example.org>\r\n"), "MAIL");
  CAF_CHECK_EQUAL(smtp_command_verb("AUTH PLAIN\r\n"), "AUTH");
  CAF_CHECK_EQUAL(smtp_command_verb("EHLO herald\r\n"), "EHLO");
  // The lines of an AUTH exchange are credentials: none of it is kept.
  for (auto line : {"AGFsaWNlAHNlY3JldC1wYXNzd29yZA==\r\n",
                    "c2VjcmV0LXBhc3N3b3Jk\r\n", "DATAX\r\n", ""})
    CAF_CHECK_EQUAL(smtp_command_verb(line), "AUTH");
}

CAF_TEST(the bridge refuses a mail that must not be sent) {
  smtp_settings settings;
  settings.url = "smtp://127.0.0.1:" + std::to_string(closed_port());
  auto m = sample_mail();
  m.subject = "Hi\r\nBcc: eve@evil.example";
  CAF_CHECK_EQUAL(code_of(send_through_actor(settings, m)),
                  ec::invalid_argument);
  m = sample_mail();
  m.to = "Bob <bob@example.org>";
  CAF_CHECK_EQUAL(code_of(send_through_actor(settings, m)),
                  ec::invalid_argument);
  settings.url = "http://127.0.0.1:80";
  CAF_CHECK(check_settings(settings));
  settings.url = "smtps://mail.example.org:465";
  settings.from = "herald <noreply@herald.test>\r\nBcc: eve@evil.example";
  CAF_CHECK(check_settings(settings));
  settings.from = "herald <noreply@herald.test>";
  CAF_CHECK(!check_settings(settings));
}

CAF_TEST(a live send has the expected outcome) {
  auto url = env("HERALD_SMTP_LIVE_URL");
  if (url.empty()) {
    CAF_MESSAGE("HERALD_SMTP_LIVE_URL unset: no live send");
    return;
  }
  auto m = sample_mail();
  if (auto path = env("HERALD_SMTP_LIVE_MAIL"); !path.empty()) {
    auto j = json::parse(std::ifstream{path});
    m = {j.at("to"), j.at("subject"), j.at("text"), j.at("html"),
         j.at("message_id")};
  }
  smtp_settings settings;
  settings.url = url;
  settings.from = env("HERALD_SMTP_LIVE_FROM", settings.from);
  settings.timeout
      = std::chrono::seconds{std::stoi(env("HERALD_SMTP_LIVE_TIMEOUT", "10"))};
  settings.starttls = env("HERALD_SMTP_LIVE_STARTTLS") == "1";
  settings.ca_file = env("HERALD_SMTP_LIVE_CA_FILE");
  settings.username = env("HERALD_SMTP_LIVE_USERNAME");
  settings.password = env("HERALD_SMTP_LIVE_PASSWORD");
  // One worker: repeated sends reuse its handle and connection.
  settings.workers = 1;
  CAF_REQUIRE(!check_settings(settings));
  auto count = std::stoi(env("HERALD_SMTP_LIVE_COUNT", "1"));
  auto bridge = spawn_smtp(sys, settings);
  caf::error err;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count && !err; ++i) {
    auto copy = m;
    if (count > 1)
      copy.message_id += "." + std::to_string(i);
    self->request(bridge, std::chrono::seconds{120}, atom::send_v, copy)
        .receive([](caf::ok_atom) {},
                 [&](caf::error& x) { err = std::move(x); });
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  self->send_exit(bridge, caf::exit_reason::user_shutdown);
  json verdict{{"ok", !err},
               {"code", err ? to_string(code_of(err)) : "ok"},
               {"message", err ? render(err) : ""},
               {"elapsed_ms", elapsed.count()}};
  CAF_MESSAGE("verdict: " << verdict.dump());
  if (auto path = env("HERALD_SMTP_LIVE_VERDICT"); !path.empty())
    std::ofstream{path} << verdict.dump() << "\n";
  CAF_CHECK_EQUAL(verdict["code"].get<std::string>(),
                  env("HERALD_SMTP_LIVE_EXPECT", "ok"));
}

CAF_TEST_FIXTURE_SCOPE_END()
