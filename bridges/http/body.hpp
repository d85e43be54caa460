// Reading request bodies strictly: JSON objects (RFC 8259, UTF-8, no
// duplicate keys, no fields the route does not know, every field of the
// right type) and HTML form bodies. Each refusal names the field at fault.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bridges/http/problem.hpp"

namespace herald::http {

/// A JSON object read from a request body.
class json_body {
public:
  /// Parses `text` as one JSON object whose keys are all in `known`;
  /// answers the problem (400, naming the field) otherwise.
  static std::optional<problem> parse(const std::string& text,
                                      const std::vector<std::string>& known,
                                      json_body& out);

  /// The string `name`: a problem if it is absent (when `required`) or
  /// not a string.
  std::optional<problem> text(const std::string& name, std::string& out,
                              bool required = true) const;

  bool has(const std::string& name) const { return doc_.contains(name); }

  const nlohmann::json& doc() const { return doc_; }

private:
  nlohmann::json doc_;
};

/// Parses application/x-www-form-urlencoded; false for a malformed body
/// (bad percent escape, a name twice).
bool parse_form(const std::string& text,
                std::map<std::string, std::string>& out);

/// Percent-decodes a query or form component ('+' is a space).
bool url_decode(const std::string& in, std::string& out);

/// The query parameters of a request (same rules as a form).
bool parse_query(const std::string& query,
                 std::map<std::string, std::string>& out);

} // namespace herald::http
