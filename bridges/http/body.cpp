#include "bridges/http/body.hpp"

#include <set>

namespace herald::http {

namespace {

problem bad(std::string detail, std::string field = {}) {
  return make_problem(400, "bad_request", std::move(detail), std::move(field));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

std::optional<problem> json_body::parse(const std::string& text,
                                        const std::vector<std::string>& known,
                                        json_body& out) {
  using event = nlohmann::json::parse_event_t;
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  bool too_deep = false;
  auto check = [&](int depth, event ev, nlohmann::json& parsed) {
    if (depth > 16)
      too_deep = true;
    if (ev == event::object_start) {
      keys.emplace_back();
    } else if (ev == event::object_end) {
      if (!keys.empty())
        keys.pop_back();
    } else if (ev == event::key && !keys.empty()) {
      auto k = parsed.get<std::string>();
      if (!keys.back().insert(k).second && duplicate.empty())
        duplicate = k;
    }
    return true;
  };
  auto doc = nlohmann::json::parse(text, check, false);
  if (doc.is_discarded())
    return bad("the body is not valid JSON (RFC 8259, UTF-8)");
  if (too_deep)
    return bad("the body nests deeper than 16 levels");
  if (!duplicate.empty())
    return bad("the field '" + duplicate + "' appears twice", duplicate);
  if (!doc.is_object())
    return bad("the body must be a JSON object");
  for (auto& item : doc.items())
    if (std::find(known.begin(), known.end(), item.key()) == known.end())
      return bad("unknown field '" + item.key() + "'", item.key());
  out.doc_ = std::move(doc);
  return std::nullopt;
}

std::optional<problem> json_body::text(const std::string& name,
                                       std::string& out, bool required) const {
  auto i = doc_.find(name);
  if (i == doc_.end()) {
    if (required)
      return bad("the field '" + name + "' is required", name);
    return std::nullopt;
  }
  if (!i->is_string())
    return bad("the field '" + name + "' must be a string", name);
  out = i->get<std::string>();
  return std::nullopt;
}

bool url_decode(const std::string& in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size())
        return false;
      auto hi = hex_value(in[i + 1]);
      auto lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return true;
}

bool parse_form(const std::string& text,
                std::map<std::string, std::string>& out) {
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('&', start);
    if (end == std::string::npos)
      end = text.size();
    auto pair = text.substr(start, end - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      std::string name;
      std::string value;
      if (!url_decode(pair.substr(0, eq), name))
        return false;
      if (eq != std::string::npos && !url_decode(pair.substr(eq + 1), value))
        return false;
      if (!out.emplace(std::move(name), std::move(value)).second)
        return false;
    }
    start = end + 1;
  }
  return true;
}

bool parse_query(const std::string& query,
                 std::map<std::string, std::string>& out) {
  return parse_form(query, out);
}

} // namespace herald::http
