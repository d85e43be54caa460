// Events: what happened, written to the outbox in the transaction that made
// it happen, then delivered to subscribers (and, later, to RabbitMQ).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/fwd.hpp"

namespace herald {

// -- topics --------------------------------------------------------------------

constexpr const char* topic_user_created = "user.created";
constexpr const char* topic_user_updated = "user.updated";
constexpr const char* topic_user_deleted = "user.deleted";
constexpr const char* topic_password_changed = "user.password_changed";
constexpr const char* topic_reset_requested = "password.reset_requested";

/// One event. `data` is a JSON object whose fields depend on the topic:
/// - user.created:            {"user_id", "name", "email", "role"}
/// - user.updated:            {"user_id", "name", "email", "role", "changed": [...]}
/// - user.deleted:            {"user_id", "email"}
/// - user.password_changed:   {"user_id", "name", "email"}
/// - password.reset_requested {"user_id", "name", "email", "expires_at"}
///                             (no token: the mailer makes one when it mails
///                             the link and stores only its hash, see
///                             storage_actor's reset_issue; a "token" in an
///                             event of an older herald is never used)
struct event {
  /// Unique id (UUID text); handlers deduplicate by it.
  std::string id;
  std::string topic;
  /// Unix milliseconds when the change committed.
  int64_t time = 0;
  /// Name of the node that wrote it.
  std::string source;
  /// Events with the same key are delivered in order ("user:<id>").
  std::string key;
  /// JSON object text.
  std::string data;
  /// Position in the outbox; 0 for an event that did not come from it.
  uint64_t seq = 0;
  /// Delivery attempts so far.
  uint32_t attempts = 0;
  /// Id of the request that caused it (request_context::id); "" if unknown
  /// (rows written before migration 004, events from peers that name none).
  /// Published as the CloudEvents extension attribute `requestid`.
  std::string request_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("herald::event"), x.id, x.topic, x.time,
           x.source, x.key, x.data, x.seq, x.attempts, x.request_id);
}

/// What `heraldctl outbox status` shows.
/// An outbox row given up on, as the status shows it.
struct dead_event {
  std::string topic;
  std::string id;
  /// Attempts it failed on its own (outages are not counted).
  uint32_t attempts = 0;
  /// Why its last attempt failed.
  std::string error;
  /// When it was given up on, unix milliseconds.
  int64_t dead_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dead_event& x) {
  return f(caf::meta::type_name("herald::dead_event"), x.topic, x.id,
           x.attempts, x.error, x.dead_at_ms);
}

struct outbox_status {
  /// Rows waiting for delivery (not dead).
  uint64_t pending = 0;
  /// Rows given up on after the configured attempts.
  uint64_t dead = 0;
  /// Age of the oldest pending row in milliseconds (0 if none).
  int64_t oldest_age_ms = 0;
  /// The last delivery error ("" if none), with its event's topic and id.
  std::string last_error;
  /// Events delivered since this relay started.
  uint64_t delivered = 0;
  /// The most recently dead rows (at most `max_dead_shown`), newest first.
  std::vector<dead_event> dead_events;
  static constexpr size_t max_dead_shown = 20;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbox_status& x) {
  return f(caf::meta::type_name("herald::outbox_status"), x.pending, x.dead,
           x.oldest_age_ms, x.last_error, x.delivered, x.dead_events);
}

/// A password reset request as storage records it. It carries no token: the
/// mailer makes the token when it mails the link (storage_actor's
/// reset_issue).
struct reset_ticket {
  /// Lower-cased, syntax-checked email as requested.
  std::string email;
  /// When a link mailed for this request stops working, unix seconds.
  int64_t expires_at = 0;
  /// Requests allowed per email per hour (counted for every email, known or
  /// not, so the limit reveals nothing).
  uint32_t max_per_hour = 5;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reset_ticket& x) {
  return f(caf::meta::type_name("herald::reset_ticket"), x.email,
           x.expires_at, x.max_per_hour);
}

/// A mail ready for the SMTP bridge. Header values never contain CR or LF.
struct mail {
  /// Envelope and header recipient: a bare address.
  std::string to;
  std::string subject;
  std::string text;
  /// Optional HTML alternative.
  std::string html;
  /// Message-ID without brackets, derived from the event id (idempotency at
  /// the receiving end, too).
  std::string message_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mail& x) {
  return f(caf::meta::type_name("herald::mail"), x.to, x.subject, x.text,
           x.html, x.message_id);
}

} // namespace herald
