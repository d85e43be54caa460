// One AMQP 0-9-1 connection (rabbitmq-c) with one channel. Blocking: used by
// exactly one thread (a detached actor) for its whole life; never shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "bridges/amqp/settings.hpp"

namespace herald::amqp {

/// A message as published or delivered. Header values are strings (what
/// go-micro uses; numbers such as attempt counts are written as decimal
/// text).
struct message {
  std::string body;
  std::string content_type;
  std::string message_id;
  /// Unix seconds (AMQP timestamp).
  int64_t timestamp = 0;
  /// delivery_mode 2.
  bool persistent = true;
  std::map<std::string, std::string> headers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, message& x) {
  return f(caf::meta::type_name("herald::amqp::message"), x.body,
           x.content_type, x.message_id, x.timestamp, x.persistent, x.headers);
}

struct delivery {
  uint64_t tag = 0;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  message msg;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery& x) {
  return f(caf::meta::type_name("herald::amqp::delivery"), x.tag, x.redelivered,
           x.exchange, x.routing_key, x.msg);
}

/// Queue arguments for declare_queue.
struct queue_options {
  bool durable = true;
  /// x-dead-letter-exchange / x-dead-letter-routing-key ("" = none).
  std::string dead_letter_exchange;
  std::string dead_letter_routing_key;
  /// x-message-ttl in ms (0 = none).
  uint32_t message_ttl_ms = 0;
  /// x-expires in ms: the queue is deleted after this long unused (0 = never;
  /// for throw-away queues of tools and tests).
  uint32_t expires_ms = 0;
  /// x-max-length in messages (0 = none).
  uint32_t max_length = 0;
  /// x-overflow=reject-publish: at max_length the broker nacks new
  /// messages instead of dropping the oldest (tools and tests).
  bool reject_publish = false;
};

/// One message of a batch that may span exchanges.
struct outgoing {
  std::string exchange;
  std::string routing_key;
  message msg;
  /// Published with `mandatory`: a message no queue takes comes back as
  /// basic.return (a failure). Without it the broker drops such a message
  /// and acks it (for events nobody has to consume).
  bool mandatory = true;
};

/// The broker's answer to one published message, as the outbox sees it:
/// whose failure is it, and may it pass?
struct confirm_result {
  enum class outcome : uint8_t {
    /// basic.ack, no return before it. `error` is none.
    confirmed,
    /// basic.return (unroutable with mandatory: 312 NO_ROUTE), whatever
    /// comes after it: the message's own failure, ec::rejected.
    returned,
    /// basic.nack: the broker refused this message for now (a queue at its
    /// x-max-length with x-overflow=reject-publish, a broker in trouble):
    /// ec::deferred, publish it again later. Never a confirm.
    nacked,
    /// No confirm within the timeout, or the connection went before it:
    /// an outage, ec::unavailable. The message may or may not have arrived.
    failed,
  };
  outcome what = outcome::confirmed;
  caf::error error;
};

/// What the broker answered about messages sent with connection::send().
struct confirm_event {
  enum class kind : uint8_t {
    /// basic.ack: `tag`, and with `multiple` every unconfirmed one below.
    ack,
    /// basic.nack, the same way.
    nack,
    /// basic.return (unroutable): the message named by exchange, routing
    /// key and message_id; its ack follows.
    returned,
  };
  kind what = kind::ack;
  uint64_t tag = 0;
  bool multiple = false;
  std::string exchange;
  std::string routing_key;
  std::string message_id;
  /// Why (nack, return), for the error text: "amqp <broker>: unroutable:
  /// no queue bound for user.deleted on herald.events (312 NO_ROUTE)".
  std::string reason;
};

/// Messages sent and not yet confirmed, for whoever sends them: turns the
/// broker's answers into one result per message (see confirm_result for
/// which answer becomes which error). Ids are the caller's. Answers for
/// tags it does not hold (settled already, e.g. timed out) are ignored.
class confirm_tracker {
public:
  struct settled {
    size_t id;
    confirm_result result;
  };

  /// `out` went out as `tag`.
  void add(uint64_t tag, const outgoing& out, size_t id);

  /// Applies one answer; appends the messages it settles, in tag order. A
  /// return only marks its message (the first open one that matches and is
  /// not marked yet) for the ack or nack that follows: that message is
  /// settled as returned.
  void apply(const confirm_event& ev, std::vector<settled>& out);

  /// Settles every message sent as `tag` or before with `err` (a timeout
  /// or a lost connection: outcome failed; a late confirm then finds
  /// nothing). A message returned already is settled as returned: the
  /// broker said it had nowhere to go.
  void fail_through(uint64_t tag, const caf::error& err,
                    std::vector<settled>& out);

  bool empty() const noexcept { return open_.empty(); }

  size_t size() const noexcept { return open_.size(); }

private:
  struct entry {
    size_t id;
    std::string exchange;
    std::string routing_key;
    std::string message_id;
    /// Set by a return (its reason); the ack that follows settles the
    /// message as returned.
    std::optional<std::string> returned;
  };

  /// The result of `x` for a nack (`nacked`) or an ack.
  static confirm_result result_of(const entry& x, bool nacked,
                                  const std::string& nack_reason);

  std::map<uint64_t, entry> open_;
};

/// A timeout for log and error texts: "10 s", or "250 ms" when it is no
/// whole number of seconds.
std::string timeout_text(std::chrono::milliseconds d);

class connection {
public:
  /// Connects (TCP or TLS per URL scheme), logs in with heartbeats on, opens
  /// channel 1. Errors: ec::unavailable (cannot reach / lost), ec::forbidden
  /// (login refused), ec::invalid_argument (bad URL, unreadable CA file).
  /// amqps verifies the broker's certificate and host name against
  /// `settings.ca_file` (else the system's CAs). An empty vhost ("...:5672/")
  /// means "/". Error texts name the broker without the password.
  static caf::expected<std::unique_ptr<connection>>
  open(const amqp_settings& settings);

  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// False after any error that broke the connection or channel: the owner
  /// drops it and opens a new one.
  bool usable() const;

  // Declarations answer ec::forbidden (403 ACCESS_REFUSED),
  // ec::invalid_argument (404 NOT_FOUND, 406 PRECONDITION_FAILED, e.g. an
  // exchange that exists with other durability) or ec::unavailable, with the
  // broker's reply text; every such refusal closes the channel (usable()
  // turns false).

  /// Declares a topic exchange.
  caf::error declare_exchange(const std::string& name, bool durable);
  caf::error declare_queue(const std::string& name, const queue_options& opts);
  caf::error bind(const std::string& queue, const std::string& exchange,
                  const std::string& routing_key);
  /// Deletes a queue with whatever it holds (tools and tests).
  caf::error delete_queue(const std::string& name);
  /// Deletes an exchange (tools and tests).
  caf::error delete_exchange(const std::string& name);

  /// Puts the channel in confirm mode (once, before publishing).
  caf::error enable_confirms();

  /// Publishes with `mandatory` and waits for the broker's answer to each:
  /// answers one error per message, in order — none for basic.ack;
  /// ec::rejected for basic.return (unroutable: "no queue bound for <key>"),
  /// ec::deferred for basic.nack, ec::unavailable for a timeout or a lost
  /// connection. All messages are sent before the first wait, so a batch
  /// costs about one round trip.
  /// Enables confirms first if enable_confirms() was not called.
  std::vector<caf::error>
  publish(const std::string& exchange,
          const std::vector<std::pair<std::string, message>>& keyed,
          std::chrono::milliseconds confirm_timeout);

  /// Like publish(), for a batch that may span exchanges (each message with
  /// its own `mandatory`), with the outcome of each. A return is matched to its message by exchange, routing key
  /// and message_id (so give every message of a batch its own message_id).
  /// A message that timed out leaves the connection usable; its late
  /// confirm is ignored.
  std::vector<confirm_result>
  publish_batch(const std::vector<outgoing>& batch,
                std::chrono::milliseconds confirm_timeout);

  /// Publishes one message (with `mandatory` if out.mandatory) in confirm
  /// mode without waiting; answers its delivery tag, which confirms() reports on.
  /// Enables confirms first if enable_confirms() was not called.
  caf::expected<uint64_t> send(const outgoing& out);

  /// Waits up to `timeout`, or until `wake_fd` (if not negative) is
  /// readable, for the broker's answers to sent messages; answers all that
  /// arrived by then (empty: timeout or wake). Deliveries that come are kept
  /// for next(). Also sends heartbeats when due: a connection that only
  /// publishes calls this at least every heartbeat / 2, or the broker drops
  /// it. An error when the connection broke or the broker closed it.
  caf::expected<std::vector<confirm_event>>
  confirms(std::chrono::milliseconds timeout, int wake_fd = -1);

  /// basic.qos(prefetch) then basic.consume(queue, no_ack = false).
  caf::error consume(const std::string& queue, uint16_t prefetch);

  /// Waits up to `timeout` for the next delivery; nullopt on timeout (the
  /// library answers heartbeats meanwhile), or as soon as `wake_fd` (if not
  /// negative) is readable; an error if the connection broke. Header values
  /// of other types than strings come as decimal text (numbers, timestamps)
  /// or "true"/"false"; nested tables and arrays (x-death) are left out.
  caf::expected<std::optional<delivery>> next(std::chrono::milliseconds timeout,
                                              int wake_fd = -1);

  /// basic.get with no_ack: takes one message off `queue` at once (tools and
  /// tests); nullopt when the queue is empty.
  caf::expected<std::optional<delivery>> get(const std::string& queue);

  /// basic.ack; `multiple` acks every unacked delivery up to `tag`, too.
  caf::error ack(uint64_t tag, bool multiple = false);
  /// basic.reject; requeue = false drops it (or dead-letters per queue args).
  caf::error reject(uint64_t tag, bool requeue);

private:
  connection();
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace herald::amqp
