// Configuration of the AMQP bridge: the broker, and which topics go out to
// which exchange and which queues come in to which handler, in which wire
// format. Parsed from [amqp] in config/herald.ini (see the comments there).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace herald::amqp {

/// How an event looks on the wire.
enum class wire_format {
  /// CloudEvents 1.0 structured mode (application/cloudevents+json): the
  /// body is {specversion, id, source, type, time, datacontenttype, data}.
  cloudevents,
  /// go-micro's RabbitMQ broker plugin: the body is the event's data (JSON),
  /// headers are strings incl. Content-Type: application/json and
  /// Micro-Topic: <topic>.
  micro,
};

/// Topics (AMQP topic patterns: `*` one word, `#` any words) published to an
/// exchange (type topic, routing key = topic).
struct outbound_route {
  std::vector<std::string> topics;
  std::string exchange;
  bool durable = true;
  wire_format format = wire_format::cloudevents;
  /// Published with `mandatory`: an event no queue is bound for comes back
  /// (basic.return) and fails as the event's own (ec::rejected). false for
  /// topics nobody has to consume: the broker drops what no queue takes.
  bool mandatory = true;
};

/// A durable queue bound to `bindings` on `exchange`, whose deliveries go to
/// the local handler role `handler` (e.g. "mailer").
struct inbound_route {
  std::string queue;
  std::string exchange;
  std::vector<std::string> bindings;
  std::string handler;
  /// Durability of the exchange as declared (go-micro: false).
  bool exchange_durable = true;
  wire_format format = wire_format::cloudevents;
};

struct amqp_settings {
  /// amqp://user:password@host:port/vhost or amqps://... (TLS).
  std::string url = "amqp://guest:guest@127.0.0.1:5673/";
  /// CA bundle for amqps (empty: the system's).
  std::string ca_file;
  /// AMQP heartbeat; a dead peer is noticed in about two intervals.
  std::chrono::seconds heartbeat{10};
  /// Deliveries in flight per inbound queue (basic.qos), handled at once.
  uint16_t prefetch = 16;
  /// Handling attempts of an inbound message before the dead-letter queue.
  uint32_t max_attempts = 5;
  /// Delay before the second attempt; doubles with every further one.
  std::chrono::milliseconds retry_delay{1000};
  /// Deferrals (a peer said "not now", SMTP 4xx) of an inbound message
  /// before the dead-letter queue; they do not count as attempts. 0: no
  /// limit, the default: a mail server that answers 4xx to every RCPT is
  /// out, and an outage must not cost mail.
  uint32_t max_deferrals = 0;
  /// Time a handler gets for one delivery; no answer in time is an outage.
  std::chrono::seconds handler_timeout{30};
  /// An inbound route whose handler is out (`unavailable`, no answer in
  /// time) pauses this long before it probes with one delivery; doubles
  /// per failed probe up to outage_probe_max.
  std::chrono::milliseconds outage_probe_min{1000};
  std::chrono::milliseconds outage_probe_max{60000};
  /// Time the broker gets to confirm a publish.
  std::chrono::seconds confirm_timeout{10};
  /// Limit for TCP connect, TLS and login, and for each declaration.
  std::chrono::seconds connect_timeout{10};
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{30000};
  /// CloudEvents `source` (the node name).
  std::string source = "herald";
  std::vector<outbound_route> outbound;
  std::vector<inbound_route> inbound;
};

/// Parses "topics=user.*,password.* exchange=herald.events
/// [durable=true|false] [format=cloudevents|micro] [mandatory=true|false]".
caf::expected<outbound_route> parse_outbound(const std::string& spec);

/// Parses "queue=herald.mailer exchange=herald.events
/// bind=user.created,password.reset_requested handler=mailer
/// [durable=true|false] [format=cloudevents|micro]".
caf::expected<inbound_route> parse_inbound(const std::string& spec);

/// Whether `topic` matches the AMQP topic pattern `pattern`.
bool topic_matches(const std::string& pattern, const std::string& topic);

/// The URL without its password, for status and logs.
std::string describe_broker(const std::string& url);

} // namespace herald::amqp
