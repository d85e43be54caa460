#include "bridges/amqp/settings.hpp"

#include <cctype>
#include <map>
#include <string_view>

#include <amqp.h>
#include <openssl/crypto.h>

#include "messages/error.hpp"

namespace herald::amqp {

namespace {

caf::error invalid(const char* what, const std::string& text) {
  return caf::make_error(ec::invalid_argument, std::string{what} + ": " + text);
}

/// Splits at `sep`, keeping empty pieces ("a..b" -> a, "", b).
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> result;
  std::string::size_type start = 0;
  for (;;) {
    auto end = text.find(sep, start);
    result.push_back(text.substr(start, end - start));
    if (end == std::string::npos)
      return result;
    start = end + 1;
  }
}

/// The key=value words of a route spec; refuses anything else, unknown and
/// repeated keys.
caf::expected<std::map<std::string, std::string>>
parse_words(const std::string& spec, const char* what,
            std::initializer_list<std::string_view> known) {
  std::map<std::string, std::string> result;
  std::string::size_type pos = 0;
  for (;;) {
    auto start = spec.find_first_not_of(" \t", pos);
    if (start == std::string::npos)
      break;
    auto end = spec.find_first_of(" \t", start);
    auto word = spec.substr(start, end - start);
    pos = end;
    auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0)
      return invalid(what, "'" + word + "' is not key=value");
    auto key = word.substr(0, eq);
    bool is_known = false;
    for (auto k : known)
      is_known = is_known || k == key;
    if (!is_known)
      return invalid(what, "unknown key '" + key + "'");
    if (!result.emplace(key, word.substr(eq + 1)).second)
      return invalid(what, "key '" + key + "' given twice");
    if (end == std::string::npos)
      break;
  }
  return result;
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'
         || c == '.' || c == ':';
}

/// Exchange and queue names: 1-255 letters, digits, '-', '_', '.', ':'
/// (AMQP 0-9-1); "amq." is reserved by the broker.
caf::error check_name(const std::string& name, const char* what,
                      const char* key) {
  if (name.empty())
    return invalid(what, std::string{key} + " must not be empty");
  if (name.size() > 255)
    return invalid(what, std::string{key} + " is longer than 255 characters");
  for (auto c : name)
    if (!name_char(c))
      return invalid(what, std::string{key} + " '" + name
                               + "' may hold only letters, digits, '-', "
                                 "'_', '.' and ':'");
  if (name.rfind("amq.", 0) == 0)
    return invalid(what, std::string{key} + " '" + name
                             + "': names starting with amq. belong to the "
                               "broker");
  return caf::none;
}

/// A comma list of topic patterns: words of name characters, or a whole
/// word '*' or '#'.
caf::expected<std::vector<std::string>>
parse_patterns(const std::string& list, const char* what, const char* key) {
  if (list.empty())
    return invalid(what, std::string{key} + " must name at least one topic");
  auto patterns = split(list, ',');
  for (auto& pattern : patterns) {
    if (pattern.empty())
      return invalid(what,
                     std::string{key} + " '" + list + "' has an empty topic");
    if (pattern.size() > 255)
      return invalid(what, "topic pattern '" + pattern
                               + "' is longer than 255 characters");
    for (auto& word : split(pattern, '.')) {
      if (word == "*" || word == "#")
        continue;
      for (auto c : word)
        if (c == '*' || c == '#')
          return invalid(what, "topic pattern '" + pattern
                                   + "': '*' and '#' stand for whole words");
        else if (!name_char(c))
          return invalid(what, "topic pattern '" + pattern
                                   + "' may hold only letters, digits, "
                                     "'-', '_', ':', '*' and '#' between dots");
    }
  }
  return patterns;
}

caf::expected<bool> parse_bool(const std::string& value, const char* what,
                               const char* key) {
  if (value == "true")
    return true;
  if (value == "false")
    return false;
  return invalid(what, std::string{key} + " must be true or false, not '"
                           + value + "'");
}

caf::expected<wire_format> parse_format(const std::string& value,
                                        const char* what) {
  if (value == "cloudevents")
    return wire_format::cloudevents;
  if (value == "micro")
    return wire_format::micro;
  return invalid(what,
                 "format must be cloudevents or micro, not '" + value + "'");
}

/// The value of a required key, or an error naming it.
caf::expected<std::string>
required(const std::map<std::string, std::string>& words, const char* key,
         const char* what) {
  auto i = words.find(key);
  if (i == words.end())
    return invalid(what, std::string{"missing "} + key + "=");
  return i->second;
}

/// Sets the optional durable= and format= keys.
caf::error parse_options(const std::map<std::string, std::string>& words,
                         const char* what, bool& durable, wire_format& format) {
  if (auto i = words.find("durable"); i != words.end()) {
    auto value = parse_bool(i->second, what, "durable");
    if (!value)
      return std::move(value.error());
    durable = *value;
  }
  if (auto i = words.find("format"); i != words.end()) {
    auto value = parse_format(i->second, what);
    if (!value)
      return std::move(value.error());
    format = *value;
  }
  return caf::none;
}

bool matches(const std::vector<std::string>& pattern, size_t i,
             const std::vector<std::string>& topic, size_t j) {
  if (i == pattern.size())
    return j == topic.size();
  if (pattern[i] == "#") {
    for (auto k = j; k <= topic.size(); ++k)
      if (matches(pattern, i + 1, topic, k))
        return true;
    return false;
  }
  if (j == topic.size())
    return false;
  return (pattern[i] == "*" || pattern[i] == topic[j])
         && matches(pattern, i + 1, topic, j + 1);
}

std::vector<std::string> topic_words(const std::string& text) {
  if (text.empty())
    return {};
  return split(text, '.');
}

} // namespace

namespace {

/// A required word that names an exchange or queue.
caf::expected<std::string>
required_name(const std::map<std::string, std::string>& words, const char* key,
              const char* what) {
  auto value = required(words, key, what);
  if (!value)
    return value;
  if (auto err = check_name(*value, what, key))
    return err;
  return value;
}

/// A required word that lists topic patterns.
caf::expected<std::vector<std::string>>
required_patterns(const std::map<std::string, std::string>& words,
                  const char* key, const char* what) {
  auto value = required(words, key, what);
  if (!value)
    return std::move(value.error());
  return parse_patterns(*value, what, key);
}

} // namespace

caf::expected<outbound_route> parse_outbound(const std::string& spec) {
  constexpr auto what = "amqp outbound route";
  auto words = parse_words(spec, what,
                           {"topics", "exchange", "durable", "format",
                            "mandatory"});
  if (!words)
    return std::move(words.error());
  outbound_route route;
  auto topics = required_patterns(*words, "topics", what);
  if (!topics)
    return std::move(topics.error());
  route.topics = std::move(*topics);
  auto exchange = required_name(*words, "exchange", what);
  if (!exchange)
    return std::move(exchange.error());
  route.exchange = std::move(*exchange);
  if (auto err = parse_options(*words, what, route.durable, route.format))
    return err;
  if (auto i = words->find("mandatory"); i != words->end()) {
    auto value = parse_bool(i->second, what, "mandatory");
    if (!value)
      return std::move(value.error());
    route.mandatory = *value;
  }
  return route;
}

caf::expected<inbound_route> parse_inbound(const std::string& spec) {
  constexpr auto what = "amqp inbound route";
  auto words = parse_words(
      spec, what,
      {"queue", "exchange", "bind", "handler", "durable", "format"});
  if (!words)
    return std::move(words.error());
  inbound_route route;
  auto queue = required_name(*words, "queue", what);
  if (!queue)
    return std::move(queue.error());
  route.queue = std::move(*queue);
  auto exchange = required_name(*words, "exchange", what);
  if (!exchange)
    return std::move(exchange.error());
  route.exchange = std::move(*exchange);
  auto bind = required_patterns(*words, "bind", what);
  if (!bind)
    return std::move(bind.error());
  route.bindings = std::move(*bind);
  auto handler = required(*words, "handler", what);
  if (!handler)
    return std::move(handler.error());
  if (handler->empty())
    return invalid(what, "handler must not be empty");
  for (auto c : *handler)
    if (!name_char(c))
      return invalid(what, "handler '" + *handler
                               + "' may hold only letters, digits, '-', "
                                 "'_', '.' and ':'");
  route.handler = std::move(*handler);
  if (auto err
      = parse_options(*words, what, route.exchange_durable, route.format))
    return err;
  return route;
}

bool topic_matches(const std::string& pattern, const std::string& topic) {
  return matches(topic_words(pattern), 0, topic_words(topic), 0);
}

std::string describe_broker(const std::string& url) {
  std::string copy = url;
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  std::string result;
  if (amqp_parse_url(copy.data(), &info) != AMQP_STATUS_OK) {
    result = "<invalid amqp url>";
  } else {
    std::string host = info.host;
    if (host.find(':') != std::string::npos)
      host = "[" + host + "]";
    std::string vhost = info.vhost;
    if (vhost == "/")
      vhost.clear();
    result = std::string{info.ssl ? "amqps" : "amqp"} + "://" + info.user + "@"
             + host + ":" + std::to_string(info.port) + "/" + vhost;
  }
  OPENSSL_cleanse(copy.data(), copy.size());
  return result;
}

} // namespace herald::amqp
