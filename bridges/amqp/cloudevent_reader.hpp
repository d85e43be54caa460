// Event bodies read in one pass, without building a tree: a CloudEvent's
// attributes, `data` as the JSON text it was sent as, and data.user_id (the
// ordering key). The consumer reads every delivery this way; a tree of the
// whole body, written out again for `data`, cost more than the rest of the
// bridge's work per message.
//
// What counts as JSON is what json_text.hpp's scanner takes: exactly what
// nlohmann::json::accept takes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bridges/amqp/json_text.hpp"

namespace herald::amqp {

/// One top-level member of a body.
struct json_member {
  enum kind_t : uint8_t { missing, string, object, other };
  kind_t kind = missing;
  /// The string itself (escapes resolved) for `string`; the value as it was
  /// written otherwise.
  std::string value;

  /// The value as JSON text (for messages that say what was wrong).
  std::string json() const;
};

/// What read_cloudevent found. A member that appears twice counts with its
/// last value, as in nlohmann's tree.
struct ce_fields {
  /// The body is JSON (one value, nothing after it).
  bool json = false;
  /// ... and that value is an object; the members below are set only then.
  bool object = false;
  json_member specversion;
  json_member id;
  json_member source;
  json_member type;
  json_member time;
  json_member datacontenttype;
  json_member data;
  json_member data_base64;
  /// The extension attribute herald publishes the request id in.
  json_member requestid;
  /// data.user_id as text when it is an integer or a non-empty string.
  std::optional<std::string> user_id;
};

/// Reads a CloudEvent in structured mode; never throws on bad input.
ce_fields read_cloudevent(const std::string& body);

/// What read_object found in a body that should be one JSON object.
struct object_fields {
  bool json = false;
  bool object = false;
  /// user_id as text when it is an integer or a non-empty string.
  std::optional<std::string> user_id;
};

/// Reads `text` as a JSON object (go-micro bodies, an event's data).
object_fields read_object(const std::string& text);

} // namespace herald::amqp
