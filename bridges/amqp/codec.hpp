// Events on the wire: CloudEvents 1.0 structured JSON, or the conventions of
// go-micro's RabbitMQ broker plugin. Pure functions: no connection, no actor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <caf/expected.hpp>

#include "bridges/amqp/connection.hpp"
#include "bridges/amqp/settings.hpp"
#include "messages/event.hpp"

namespace herald::amqp {

/// Content type of a CloudEvent in structured mode.
constexpr const char* cloudevents_content_type = "application/cloudevents+json";

/// The AMQP message for `ev` (routing key = ev.topic, set by the caller).
/// - cloudevents: body {specversion "1.0", id, source, type = topic, time
///   (RFC 3339 UTC with milliseconds), requestid (the extension attribute
///   naming the request that caused the event, when the event has one),
///   datacontenttype "application/json", data (the event's JSON object
///   itself)}; content type application/cloudevents+json.
/// - micro: body = ev.data; headers Content-Type: application/json,
///   Micro-Topic: topic, Micro-Id: id; content type application/json.
/// Both: message_id = id, timestamp = time in seconds, persistent.
/// `source` is the CloudEvents source when the event names none.
message encode(const event& ev, wire_format format, const std::string& source);

/// The event in a delivery, or ec::invalid_argument saying why it is not
/// one (such messages go to the dead-letter queue).
/// - cloudevents: content type application/cloudevents+json (or
///   application/json with a CloudEvent body); specversion "1.0"; id,
///   source, type non-empty strings; time (optional) RFC 3339; data a JSON
///   object; datacontenttype, if given, JSON; requestid, if it is a
///   well-formed request id (messages/context.hpp), becomes the event's
///   request_id (else it is left out: the event is still taken).
/// - micro: the body a JSON object; topic from the Micro-Topic header, else
///   the routing key; id from Micro-Id, else message_id, else "micro-" +
///   SHA-256 of topic and body (a redelivered message keeps its id).
/// Both: data is the object's JSON text as it was sent (not rewritten);
/// key "user:<data.user_id>" when data has a user_id, else the id;
/// time from the message when the body has none; seq and attempts 0.
caf::expected<event> decode(const delivery& d, wire_format format);

/// Unix milliseconds as RFC 3339 UTC with milliseconds,
/// "2026-11-22T21:03:04.123Z".
std::string format_rfc3339_ms(int64_t unix_ms);

/// RFC 3339 date-time ("...Z" or "...+02:00", fraction optional) as Unix
/// milliseconds (fraction digits beyond milliseconds are cut off); nullopt
/// if `text` is not one.
std::optional<int64_t> parse_rfc3339(const std::string& text);

} // namespace herald::amqp
