#include "bridges/smtp/smtp.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <mutex>

#include <spdlog/spdlog.h>

#include <caf/typed_event_based_actor.hpp>

#include "actors/worker_pool.hpp"
#include "bridges/smtp/mime.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

/// The message as curl reads it.
struct upload {
  const std::string* data;
  size_t pos = 0;
};

size_t read_message(char* buf, size_t size, size_t count, void* userp) {
  auto* up = static_cast<upload*>(userp);
  auto n = std::min(size * count, up->data->size() - up->pos);
  std::memcpy(buf, up->data->data() + up->pos, n);
  up->pos += n;
  return n;
}

/// The server's replies as curl's debug callback shows them; keeps the last
/// complete 4xx/5xx reply (all lines of a multi-line one), bounded in size,
/// and the command it answered. Only refusals count: after one, curl says
/// QUIT and "221 Bye" follows.
struct transcript {
  std::string refusal;
  /// The reply code of `refusal` (e.g. 451), 0 if none.
  int refusal_code = 0;
  /// The command `refusal` answered ("" for the greeting): MAIL, RCPT,
  /// DATA (also for the reply after the message), EHLO, AUTH, ...
  std::string refusal_to;
  std::string partial;
  /// The verb of the last command sent.
  std::string command;
};

int record_reply(CURL*, curl_infotype type, char* data, size_t size,
                 void* userp) {
  auto* t = static_cast<transcript*>(userp);
  if (type == CURLINFO_HEADER_OUT) {
    // Commands; the message itself goes out as CURLINFO_DATA_OUT, so the
    // reply after it is still taken as DATA's.
    t->command = smtp_command_verb(std::string_view{data, size});
    return 0;
  }
  if (type != CURLINFO_HEADER_IN)
    return 0;
  std::string line{data, std::min(size, size_t{512})};
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  if (!t->partial.empty())
    t->partial += " / ";
  t->partial += line;
  // "250-..." continues a reply, "250 ..." ends it.
  if (line.size() < 4 || line[3] != '-') {
    if (line.size() >= 3 && (line[0] == '4' || line[0] == '5')
        && std::isdigit(static_cast<unsigned char>(line[1]))
        && std::isdigit(static_cast<unsigned char>(line[2]))) {
      t->refusal = t->partial.substr(0, 1024);
      t->refusal_code = std::stoi(line.substr(0, 3));
      t->refusal_to = t->command;
    }
    t->partial.clear();
  }
  return 0;
}

/// "host:port" of the URL, without scheme, credentials or path.
std::string server_name(const std::string& url) {
  auto start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  auto end = url.find('/', start);
  auto host = url.substr(start, end == std::string::npos ? end : end - start);
  if (auto at = host.rfind('@'); at != std::string::npos)
    host.erase(0, at + 1);
  return host;
}

struct curl_deleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct slist_deleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

} // namespace

std::string smtp_command_verb(std::string_view line) {
  std::string verb;
  for (size_t i = 0; i < line.size() && i < 8; ++i) {
    auto c = line[i];
    if (c == ' ' || c == '\r' || c == '\n')
      break;
    verb += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  }
  for (auto known : {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT",
                     "DATA", "RSET", "QUIT", "NOOP", "VRFY"})
    if (verb == known)
      return verb;
  // Not a command: a line of an AUTH exchange (base64 of the user name or
  // the password). Nothing of it is kept.
  return "AUTH";
}

caf::error classify_smtp_failure(int code, const std::string& command,
                                 std::string text) {
  // MAIL FROM names our configured sender: its refusal (must authenticate,
  // sender rejected, rate limit, no storage) is the server's or our
  // configuration's, never this mail's. RCPT and DATA are about the mail.
  bool about_the_mail = command == "RCPT" || command == "DATA";
  // 421: the server closes the connection, whatever the command.
  if (about_the_mail && code != 421) {
    if (code >= 400 && code < 500)
      return caf::make_error(ec::deferred, std::move(text));
    if (code >= 500 && code < 600)
      return caf::make_error(ec::rejected, std::move(text));
  }
  // Connection refused, DNS, TLS, timeouts, a lost connection, 421, and a
  // refusal of the greeting, EHLO, STARTTLS or AUTH (the server or our
  // configuration, not this mail): the route is out.
  return caf::make_error(ec::unavailable, std::move(text));
}

namespace {

caf::error map_failure(CURLcode rc, const std::string& server,
                       const transcript& t, const char* errbuf) {
  std::string text = "smtp " + server + ": ";
  auto detail = std::string{*errbuf ? errbuf : curl_easy_strerror(rc)};
  if (!t.refusal.empty()) {
    text += t.refusal + " (";
    if (!t.refusal_to.empty())
      text += "to " + t.refusal_to + "; ";
    text += detail + ")";
    return classify_smtp_failure(t.refusal_code, t.refusal_to,
                                 std::move(text));
  }
  text += detail;
  return classify_smtp_failure(0, t.command, std::move(text));
}

} // namespace

caf::error check_settings(const smtp_settings& settings,
                          const setting_complaint& invalid) {
  if (settings.url.rfind("smtp://", 0) != 0
      && settings.url.rfind("smtps://", 0) != 0)
    // The URL is not quoted: it may carry credentials.
    return invalid("url", "must start with smtp:// or smtps://");
  if (server_name(settings.url).empty())
    return invalid("url", "names no host");
  if (auto from = mime::parse_mailbox(settings.from); !from)
    return invalid("from", render(from.error()));
  if (settings.timeout.count() <= 0)
    return invalid("timeout", "must be positive");
  if (settings.username.empty() != settings.password.empty())
    return invalid("username", "and the password go together (set both or "
                               "neither)");
  if (settings.workers == 0)
    return invalid("workers", "must be at least 1");
  return caf::none;
}

caf::error plain_complaint(const char* key, const std::string& what) {
  return caf::make_error(ec::invalid_argument,
                         std::string{"smtp."} + key + ": " + what);
}

void init_curl() {
  static std::once_flag flag;
  std::call_once(flag, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

caf::error send_mail(CURL* handle, const smtp_settings& settings,
                     const mail& m) {
  init_curl();
  auto from = mime::parse_mailbox(settings.from);
  if (!from)
    return annotate(from.error(), "smtp from");
  auto now = std::chrono::system_clock::now().time_since_epoch();
  mime::envelope_info info{
      *from, std::chrono::duration_cast<std::chrono::seconds>(now).count(),
      mime::make_boundary()};
  auto message = mime::compose(m, info);
  if (!message)
    return std::move(message.error());
  std::unique_ptr<CURL, curl_deleter> own;
  if (handle == nullptr) {
    own.reset(curl_easy_init());
    handle = own.get();
    if (handle == nullptr)
      return caf::make_error(ec::internal,
                             std::string{"curl_easy_init failed"});
  } else {
    curl_easy_reset(handle);
  }
  std::unique_ptr<curl_slist, slist_deleter> rcpt{
      curl_slist_append(nullptr, ("<" + m.to + ">").c_str())};
  auto mail_from = "<" + from->address + ">";
  auto timeout_ms = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(settings.timeout)
          .count());
  upload up{&*message};
  transcript t;
  char errbuf[CURL_ERROR_SIZE] = {0};
  auto* c = handle;
  curl_easy_setopt(c, CURLOPT_URL, settings.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_message);
  curl_easy_setopt(c, CURLOPT_READDATA, &up);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT,
                   static_cast<long>(settings.timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  // The debug callback sees the server's replies; without it curl would
  // not tell the reply text of a refusal.
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, record_reply);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &t);
  if (settings.starttls)
    curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!settings.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, settings.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, settings.password.c_str());
  }
  if (!settings.ca_file.empty())
    curl_easy_setopt(c, CURLOPT_CAINFO, settings.ca_file.c_str());
  auto rc = curl_easy_perform(c);
  // The stack objects the handle points to die here; a reused handle must
  // not keep pointers to them.
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 0L);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, nullptr);
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, nullptr);
  if (rc == CURLE_OK)
    return caf::none;
  return map_failure(rc, server_name(settings.url), t, errbuf);
}

smtp_worker_state::~smtp_worker_state() {
  if (curl != nullptr)
    curl_easy_cleanup(curl);
}

smtp_actor::behavior_type
smtp_worker(smtp_actor::stateful_pointer<smtp_worker_state> self,
            smtp_settings settings) {
  self->state.settings = std::move(settings);
  return {
      [self](atom::send, const mail& m) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (st.curl == nullptr)
          st.curl = curl_easy_init();
        if (auto err = send_mail(st.curl, st.settings, m)) {
          spdlog::warn("mail {} not sent: {}", m.message_id, render(err));
          return err;
        }
        spdlog::info("mail {} accepted by the smtp server", m.message_id);
        return caf::ok_atom_v;
      },
  };
}

smtp_actor spawn_smtp(caf::actor_system& sys, smtp_settings settings) {
  init_curl();
  if (!settings.username.empty() && !settings.starttls
      && settings.url.rfind("smtps://", 0) != 0)
    spdlog::warn("smtp credentials go over a connection without TLS ({})",
                 server_name(settings.url));
  // The pool keeps the function to respawn workers: capture by value.
  auto workers = settings.workers;
  return spawn_worker_pool<smtp_actor>(
      sys, workers,
      [&sys, settings] {
        return sys.spawn<caf::detached>(smtp_worker, settings);
      },
      worker_pool_settings{"smtp"});
}

} // namespace herald
