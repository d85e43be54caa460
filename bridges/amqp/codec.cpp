#include "bridges/amqp/codec.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <optional>
#include <tuple>

#include <nlohmann/json.hpp>

#include "bridges/amqp/cloudevent_reader.hpp"
#include "messages/context.hpp"
#include "messages/digest.hpp"
#include "messages/error.hpp"

namespace herald::amqp {

namespace {

using json = nlohmann::json;

constexpr const char* json_content_type = "application/json";

caf::error undecodable(const std::string& why) {
  return caf::make_error(ec::invalid_argument, why);
}

/// Dumps without throwing on invalid UTF-8 (replaced by U+FFFD).
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Appends `text` as a JSON string. Printable ASCII (ids, topics, node
/// names) is written as it is; anything else goes through nlohmann, which
/// replaces invalid UTF-8.
void append_string(std::string& out, const std::string& text) {
  auto plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (!plain) {
    out += dump(text);
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

/// "Application/JSON; charset=utf-8" -> "application/json".
std::string media_type(const std::string& content_type) {
  std::string result;
  result.reserve(content_type.size());
  for (auto c : content_type) {
    if (c == ';')
      break;
    if (c == ' ' || (c >= '\t' && c <= '\r')) // isspace in the C locale
      continue;
    result += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return result;
}

bool is_json_media_type(const std::string& type) {
  return type == json_content_type
         || (type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0);
}

/// "user:<user_id>" when the data names a user, else `fallback`.
std::string key_of(const std::optional<std::string>& user_id,
                   const std::string& fallback) {
  return user_id ? "user:" + *user_id : fallback;
}

/// Reads `n` digits at `pos`.
bool digits(const std::string& s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size())
    return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i])))
      return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// -- per format ---------------------------------------------------------------

message encode_cloudevent(const event& ev, const std::string& source) {
  message msg;
  msg.content_type = cloudevents_content_type;
  auto& src = ev.source.empty() ? source : ev.source;
  auto time = format_rfc3339_ms(ev.time);
  // An event's data is a JSON object by contract: checked (without building
  // it) and spliced in as it is, rather than parsed and written again. (It
  // must start with the brace: a byte order mark, which a parser skips at
  // the start of a text, is not JSON inside the envelope.)
  auto first = ev.data.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && ev.data[first] == '{'
      && read_object(ev.data).object) {
    msg.body.reserve(ev.data.size() + ev.id.size() + src.size()
                     + ev.topic.size() + 160);
    msg.body += R"({"specversion":"1.0","id":)";
    append_string(msg.body, ev.id);
    msg.body += R"(,"source":)";
    append_string(msg.body, src);
    msg.body += R"(,"type":)";
    append_string(msg.body, ev.topic);
    msg.body += R"(,"time":")";
    msg.body += time;
    msg.body += '"';
    if (!ev.request_id.empty()) {
      msg.body += R"(,"requestid":)";
      append_string(msg.body, ev.request_id);
    }
    msg.body += R"(,"datacontenttype":")";
    msg.body += json_content_type;
    msg.body += R"(","data":)";
    msg.body += ev.data;
    msg.body += '}';
    return msg;
  }
  // Should it not be one, it travels as a string (and a consumer
  // dead-letters it) rather than vanish.
  json body{{"specversion", "1.0"}, {"id", ev.id},
            {"source", src},        {"type", ev.topic},
            {"time", time},         {"datacontenttype", json_content_type},
            {"data", ev.data}};
  if (!ev.request_id.empty())
    body["requestid"] = ev.request_id;
  msg.body = dump(body);
  return msg;
}

message encode_micro(const event& ev) {
  message msg;
  msg.body = ev.data;
  msg.content_type = json_content_type;
  msg.headers = {{"Content-Type", json_content_type},
                 {"Micro-Topic", ev.topic},
                 {"Micro-Id", ev.id}};
  return msg;
}

caf::expected<event> decode_cloudevent(const delivery& d) {
  auto type = media_type(d.msg.content_type);
  if (type != cloudevents_content_type && type != json_content_type)
    return undecodable("content type '" + d.msg.content_type + "' is not "
                       + cloudevents_content_type);
  auto body = read_cloudevent(d.msg.body);
  if (!body.json)
    return undecodable("body is not JSON");
  if (!body.object)
    return undecodable("body is not a JSON object");
  if (body.specversion.kind == json_member::missing)
    return undecodable("CloudEvent has no specversion");
  if (body.specversion.kind != json_member::string
      || body.specversion.value != "1.0")
    return undecodable("CloudEvent specversion " + body.specversion.json()
                       + " is not \"1.0\"");
  event ev;
  for (auto [name, member, field] : {std::tuple{"id", &body.id, &ev.id},
                                     {"source", &body.source, &ev.source},
                                     {"type", &body.type, &ev.topic}}) {
    if (member->kind == json_member::missing)
      return undecodable(std::string{"CloudEvent has no "} + name);
    if (member->kind != json_member::string || member->value.empty())
      return undecodable(std::string{"CloudEvent "} + name
                         + " is not a non-empty string");
    *field = std::move(member->value);
  }
  auto& dct = body.datacontenttype;
  if (dct.kind != json_member::missing)
    if (dct.kind != json_member::string
        || !is_json_media_type(media_type(dct.value)))
      return undecodable("CloudEvent datacontenttype " + dct.json()
                         + " is not JSON");
  if (body.data_base64.kind != json_member::missing)
    return undecodable("CloudEvent data_base64 is not supported");
  if (body.data.kind == json_member::missing)
    return undecodable("CloudEvent has no data");
  if (body.data.kind != json_member::object)
    return undecodable("CloudEvent data is not a JSON object");
  if (body.time.kind != json_member::missing) {
    auto time = body.time.kind == json_member::string
                    ? parse_rfc3339(body.time.value)
                    : std::optional<int64_t>{};
    if (!time)
      return undecodable("CloudEvent time " + body.time.json()
                         + " is not RFC 3339");
    ev.time = *time;
  } else {
    ev.time = d.msg.timestamp * 1000;
  }
  // A trace attribute: one that is not a well-formed request id is left out
  // rather than the whole event refused (or a forged log line let in).
  if (body.requestid.kind == json_member::string
      && is_request_id(body.requestid.value))
    ev.request_id = std::move(body.requestid.value);
  ev.key = key_of(body.user_id, ev.id);
  ev.data = std::move(body.data.value);
  return ev;
}

caf::expected<event> decode_micro(const delivery& d) {
  auto data = read_object(d.msg.body);
  if (!data.object)
    return undecodable("micro message body is not a JSON object");
  auto header = [&](const char* name) {
    auto i = d.msg.headers.find(name);
    return i != d.msg.headers.end() ? i->second : std::string{};
  };
  event ev;
  ev.topic = header("Micro-Topic");
  if (ev.topic.empty())
    ev.topic = d.routing_key;
  if (ev.topic.empty())
    return undecodable("micro message names no topic (no Micro-Topic header, "
                       "no routing key)");
  ev.id = header("Micro-Id");
  if (ev.id.empty())
    ev.id = d.msg.message_id;
  if (ev.id.empty())
    ev.id = "micro-" + sha256_hex(ev.topic + "\n" + d.msg.body);
  ev.source = "micro";
  ev.time = d.msg.timestamp * 1000;
  ev.key = key_of(data.user_id, ev.id);
  ev.data = d.msg.body;
  return ev;
}

} // namespace

// -- public -------------------------------------------------------------------

message encode(const event& ev, wire_format format, const std::string& source) {
  auto msg = format == wire_format::micro ? encode_micro(ev)
                                          : encode_cloudevent(ev, source);
  msg.message_id = ev.id;
  msg.timestamp = ev.time / 1000;
  msg.persistent = true;
  return msg;
}

caf::expected<event> decode(const delivery& d, wire_format format) {
  if (format == wire_format::micro)
    return decode_micro(d);
  return decode_cloudevent(d);
}

std::string format_rfc3339_ms(int64_t unix_ms) {
  // Floor division: -1 ms is 23:59:59.999 of the day before the epoch.
  constexpr int64_t ms_per_day = 86400000;
  auto days = unix_ms / ms_per_day;
  auto in_day = unix_ms % ms_per_day;
  if (in_day < 0) {
    in_day += ms_per_day;
    days -= 1;
  }
  // The civil date of a day count (the proleptic Gregorian calendar in eras
  // of 400 years, the year starting on March 1 so that leap days fall last).
  auto z = days + 719468;
  auto era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = z - era * 146097;
  auto yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  auto doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  auto mp = (5 * doy + 2) / 153;
  auto day = doy - (153 * mp + 2) / 5 + 1;
  auto month = mp < 10 ? mp + 3 : mp - 9;
  auto year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) { // Not four digits: as the C library does.
    auto t = static_cast<std::time_t>(unix_ms / 1000 - (unix_ms % 1000 < 0));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[80];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, static_cast<int>(in_day % 1000));
    return buf;
  }
  char out[] = "0000-00-00T00:00:00.000Z";
  auto put = [&out](size_t pos, int64_t value, int width) {
    for (auto i = pos + static_cast<size_t>(width); i > pos; value /= 10)
      out[--i] = static_cast<char>('0' + value % 10);
  };
  put(0, year, 4);
  put(5, month, 2);
  put(8, day, 2);
  put(11, in_day / 3600000, 2);
  put(14, in_day / 60000 % 60, 2);
  put(17, in_day / 1000 % 60, 2);
  put(20, in_day % 1000, 3);
  return out;
}

std::optional<int64_t> parse_rfc3339(const std::string& s) {
  auto bad = [] { return std::optional<int64_t>{}; };
  int year, month, day, hour, minute, second;
  if (!digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-'
      || !digits(s, 5, 2, month) || s[7] != '-' || !digits(s, 8, 2, day)
      || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
      || !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute)
      || s[16] != ':' || !digits(s, 17, 2, second))
    return bad();
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59
      || second > 60)
    return bad();
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t n = 0;
    for (++pos;
         pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]));
         ++pos, ++n)
      if (n < 3)
        ms = ms * 10 + (s[pos] - '0');
    if (n == 0)
      return bad();
    for (; n < 3; ++n)
      ms *= 10;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':'
        || !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return bad();
    offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size())
    return bad();
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  auto secs = static_cast<int64_t>(timegm(&tm));
  if (tm.tm_mday != day) // timegm moved February 30 into March
    return bad();
  return (secs - offset) * 1000 + ms;
}

} // namespace herald::amqp
