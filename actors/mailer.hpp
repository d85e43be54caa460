// The mailer: turns events into mails. user.created -> welcome,
// password.reset_requested -> the reset link, user.password_changed ->
// notice; other topics are answered ok at once. It answers ok only once the
// SMTP server accepted the mail (or there is nothing to send), and at most
// once per event id: it claims the event in storage (atomically, so that of
// several mailer nodes that get it at once one sends) before it sends, and
// records it as finished after. A claim whose owner died is taken over after
// the claim timeout.
//
// At most `in_flight` events are worked on at once, from the claim to the
// record: those are the only mails a crash can leave in doubt (the server
// may have accepted one in the moment before the record), and after a
// SIGKILL only they are sent again once their claims lapse, with the same
// Message-ID. The other events wait unclaimed, so another mailer may take
// them at once. An orderly stop finishes the events under way and answers
// the waiting ones `unavailable` (their callers deliver them again, here
// after a restart or on another mailer). A mail whose record failed after
// the send (storage unreachable at that moment) is also in doubt until a
// retry on this node records it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/mail_template.hpp"
#include "actors/open_requests.hpp"
#include "messages/event_actors.hpp"
#include "messages/mail_actor.hpp"
#include "messages/storage_actor.hpp"

namespace herald {

/// What the mailer needs; the node fills it from [mail] and loads the
/// templates with load_templates() before spawning.
struct mailer_settings {
  mail_templates templates;
  /// Base of every link, e.g. "https://accounts.example.org" (trailing '/'
  /// ignored). Only ever from config, never from a request.
  std::string public_base_url;
  /// Fills {{app_name}}.
  std::string app_name = "herald";
  /// Time allowed for each storage and SMTP reply; longer than the SMTP
  /// bridge's own timeout, so the bridge reports first.
  std::chrono::seconds timeout{60};
  /// At a shutdown, how long mails under way may take to finish.
  std::chrono::milliseconds drain_grace{10000};
  /// A claim of an event by another mailer instance older than this is
  /// taken over (that instance died): longer than a live mailer may work on
  /// one event, or a slow send could be mailed twice.
  std::chrono::seconds claim_timeout{300};
  /// Events worked on at once (claimed, mailed, not yet recorded). Each
  /// one's claim blocks it for other mailers until recorded.
  size_t in_flight = 2;
  /// Time allowed for the SMTP bridge's answer to one send. A send the
  /// mailer stopped waiting for may still go out, and the retry would send
  /// it again: so this covers the sends that may queue before it at one
  /// SMTP connection (in_flight times smtp.timeout), not only its own.
  std::chrono::seconds send_timeout{60};
};

/// The handler name in storage's processed-events record.
constexpr const char* mailer_handler_name = "mailer";

struct mailer_state {
  static inline const char* name = "mailer";
  mailer_settings settings;
  storage_actor store;
  smtp_actor smtp;
  /// This mailer's instance id, the owner of its claims in storage: random,
  /// new with every mailer.
  std::string instance;
  /// Event id -> every delivery of it waiting for the one being worked on;
  /// a duplicate arriving meanwhile joins instead of sending again.
  std::map<std::string, std::vector<open_requests::promise<caf::ok_atom>>>
      in_flight;
  /// Events being worked on (claimed or claiming), at most
  /// settings.in_flight.
  size_t working = 0;
  /// Events (id, how to start it) that wait for one of those places, in
  /// arrival order.
  std::deque<std::pair<std::string, std::function<void()>>> queued;
  /// Set at an orderly stop: queued events were answered `unavailable`,
  /// nothing new starts, the events under way are finished.
  bool stopping = false;
  /// Every delivery waiting for an answer (drained at a shutdown).
  open_requests requests;
  /// Ids whose mail the server accepted but whose processed mark failed: a
  /// retry only marks. Bounded: the oldest are dropped.
  std::set<std::string> sent_unmarked;
  std::deque<std::string> sent_order;
};

/// Handles (handle, event). Errors: `invalid_argument` for an event whose id
/// or payload is not as documented in messages/event.hpp, else the storage
/// or SMTP error (annotated; timeouts become `unavailable`), which the
/// outbox relay retries. A user who is gone gets no mail: ok.
event_handler_actor::behavior_type
mailer(event_handler_actor::stateful_pointer<mailer_state> self,
       mailer_settings settings, storage_actor store, smtp_actor smtp);

/// "15 minutes", "1 minute", "2 hours", "3 days", "less than a minute":
/// `seconds` rounded to the nearest unit.
std::string describe_duration(int64_t seconds);

} // namespace herald
