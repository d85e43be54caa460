// The SMTP bridge: sends a mail through libcurl's SMTP client. Sending
// blocks (connect, TLS, the dialogue), so it runs only in detached workers
// behind a pool dispatcher (spawn_smtp); each worker keeps one CURL handle
// and with it a warm connection to the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <curl/curl.h>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>

#include "messages/mail_actor.hpp"

namespace herald {

/// Where and how mail goes out. The node reads these from the [smtp] section.
struct smtp_settings {
  /// smtp://host:port (plain, STARTTLS if `starttls`) or smtps://host:port
  /// (implicit TLS). A path names the EHLO domain.
  std::string url = "smtp://127.0.0.1:2525";
  /// Requires STARTTLS on smtp://: a server that does not offer it fails.
  bool starttls = false;
  /// AUTH credentials; both empty: no AUTH.
  std::string username;
  std::string password;
  /// Header From; its address is also the envelope sender (MAIL FROM).
  std::string from = "herald <noreply@herald.localhost>";
  /// Limit for connecting and for each server reply, and for the whole
  /// transfer.
  std::chrono::seconds timeout{30};
  /// CA bundle for verifying the server (empty: the system's).
  std::string ca_file;
  /// Detached workers, i.e. mails in flight at once.
  size_t workers = 2;
};

/// Checks settings before a node starts with them: scheme smtp or smtps, a
/// valid `from`, a positive timeout, credentials given together.
/// `invalid_argument` saying what is wrong.
/// Makes the error for option [smtp] `key` and what is wrong with it.
using setting_complaint
    = std::function<caf::error(const char* key, const std::string& what)>;

/// "smtp.<key>: <what>" as `invalid_argument`.
caf::error plain_complaint(const char* key, const std::string& what);

caf::error check_settings(const smtp_settings& settings,
                          const setting_complaint& invalid = plain_complaint);

/// Initializes libcurl once per process (std::call_once); spawn_smtp and
/// send_mail call it, before any thread uses curl.
void init_curl();

/// The verb of a command line curl sent ("RCPT TO:<a@b>" -> "RCPT"), one
/// of the SMTP verbs; any other line (a step of an AUTH exchange: base64 of
/// a user name or password) is "AUTH", so nothing of it reaches an error
/// text or a log.
std::string smtp_command_verb(std::string_view line);

/// Sends one mail and blocks until the server accepted it (250 after DATA)
/// or refused it. `handle` is reused when given (keeps the connection and
/// TLS session; options are reset first), else a handle is made for this
/// mail alone. Errors: `invalid_argument` for a mail that must not be sent
/// (see mime::compose), else as classify_smtp_failure() says; the message
/// names the server and quotes its refusal and the command it answered.
caf::error send_mail(CURL* handle, const smtp_settings& settings,
                     const mail& m);

/// What a failed SMTP dialogue means for the mail, from the refusal's
/// reply `code` (0: no refusal, the connection failed) and the `command`
/// it answered ("MAIL", "RCPT", "DATA" incl. the reply after the message;
/// "" for the greeting):
/// - 4xx to RCPT/DATA: `deferred` (this mail, for now: retry later);
/// - 5xx to RCPT/DATA: `rejected` (this mail, for good);
/// - anything else, i.e. connection refused, DNS, TLS, timeouts, a closed
///   connection, 421 to any command, a refused greeting, EHLO, STARTTLS,
///   AUTH or MAIL FROM (our configured sender): `unavailable` (the server is
///   out or misconfigured, not the mail's fault; the caller waits for it).
caf::error classify_smtp_failure(int code, const std::string& command,
                                 std::string text);

struct smtp_worker_state {
  static inline const char* name = "smtp_worker";
  smtp_settings settings;
  /// Made at the first mail, cleaned up with the state.
  CURL* curl = nullptr;
  ~smtp_worker_state();
};

/// One worker: answers each send with send_mail's outcome. Blocking: spawn
/// it detached.
smtp_actor::behavior_type
smtp_worker(smtp_actor::stateful_pointer<smtp_worker_state> self,
            smtp_settings settings);

/// Spawns `settings.workers` detached workers behind one dispatcher.
smtp_actor spawn_smtp(caf::actor_system& sys, smtp_settings settings);

} // namespace herald
