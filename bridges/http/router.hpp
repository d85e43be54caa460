// The gateway's routes: method and path template to handler. The router
// answers what no handler should have to: 404 for an unknown path, 405 with
// `Allow` for a known path and another method, 415 for a body in a type the
// route does not take, and CORS preflights. The OpenAPI document
// (openapi.json) lists the same routes; a test holds the two together.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bridges/http/exchange.hpp"

namespace herald::http {

/// What a route takes as its body.
enum class body_kind {
  /// Nothing; a body is ignored.
  none,
  /// application/json (UTF-8), an object.
  json,
  /// application/x-www-form-urlencoded (the reset page's form).
  form,
};

using handler = std::function<void(const exchange_ptr&)>;

struct route {
  std::string method;
  /// Literal segments and {name} placeholders: "/v1/users/{id}".
  std::string pattern;
  body_kind body = body_kind::none;
  handler fn;
};

class router {
public:
  void add(route r);

  /// Finds the route of `ex`, fills its params and route name, checks the
  /// method and content type, and runs its handler (or answers the
  /// problem).
  void dispatch(const exchange_ptr& ex) const;

  const std::vector<route>& routes() const { return routes_; }

  /// The methods the routes of `path` take ("GET, PATCH, DELETE"), or "".
  std::string allowed(const std::string& path) const;

private:
  /// A route's pattern split once, at add().
  struct compiled {
    std::vector<std::string> segments;
    size_t literals = 0;
  };

  /// Index of the route of `path` whose pattern matches it with the most
  /// literal segments (-1: none), and its params.
  int best(const std::vector<std::string>& path,
           std::map<std::string, std::string>* params) const;

  std::string allowed_for(const std::string& pattern) const;

  std::vector<route> routes_;
  std::vector<compiled> compiled_;
};

/// Whether `pattern` matches `path`; fills `params` when it does.
bool match(const std::string& pattern, const std::string& path,
           std::map<std::string, std::string>* params);

/// The media type of a Content-Type value, lower-cased, without
/// parameters ("application/json; charset=utf-8" -> "application/json").
std::string media_type(const std::string& content_type);

} // namespace herald::http
