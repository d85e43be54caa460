#include "bridges/http/router.hpp"

#include <algorithm>
#include <cctype>

#include "bridges/http/problem.hpp"

namespace herald::http {

namespace {

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

/// Literal routes win over placeholders ("/v1/users/me" before
/// "/v1/users/{id}"): the first route whose literals match most.
size_t literal_count(const std::string& pattern) {
  size_t n = 0;
  for (auto& s : segments(pattern))
    if (s.empty() || s.front() != '{')
      ++n;
  return n;
}

} // namespace

bool match(const std::string& pattern, const std::string& path,
           std::map<std::string, std::string>* params) {
  if (path.empty() || path.front() != '/')
    return false;
  auto ps = segments(pattern);
  auto xs = segments(path);
  if (ps.size() != xs.size())
    return false;
  std::map<std::string, std::string> found;
  for (size_t i = 0; i < ps.size(); ++i) {
    auto& p = ps[i];
    if (!p.empty() && p.front() == '{') {
      if (xs[i].empty())
        return false;
      found[p.substr(1, p.size() - 2)] = xs[i];
    } else if (p != xs[i]) {
      return false;
    }
  }
  if (params)
    *params = std::move(found);
  return true;
}

std::string media_type(const std::string& content_type) {
  auto semi = content_type.find(';');
  auto type = content_type.substr(0, semi);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
    type.pop_back();
  size_t lead = 0;
  while (lead < type.size() && (type[lead] == ' ' || type[lead] == '\t'))
    ++lead;
  type.erase(0, lead);
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return type;
}

void router::add(route r) {
  routes_.push_back(std::move(r));
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const route& a, const route& b) {
                     return literal_count(a.pattern) > literal_count(b.pattern);
                   });
}

std::string router::allowed(const std::string& path) const {
  std::vector<std::string> methods;
  std::string best;
  size_t best_literals = 0;
  // Only the routes of the best-matching pattern: "/v1/users/me" takes
  // GET, not what "/v1/users/{id}" takes.
  for (auto& r : routes_)
    if (match(r.pattern, path, nullptr)) {
      auto n = literal_count(r.pattern);
      if (best.empty() || n > best_literals) {
        best = r.pattern;
        best_literals = n;
      }
    }
  for (auto& r : routes_)
    if (r.pattern == best
        && std::find(methods.begin(), methods.end(), r.method) == methods.end())
      methods.push_back(r.method);
  std::string out;
  for (auto& m : methods)
    out += (out.empty() ? "" : ", ") + m;
  return out;
}

void router::dispatch(const exchange_ptr& ex) const {
  auto method = std::string{ex->req.method_string()};
  const route* found = nullptr;
  bool path_known = false;
  for (auto& r : routes_) {
    std::map<std::string, std::string> params;
    if (!match(r.pattern, ex->path, &params))
      continue;
    if (!path_known) {
      path_known = true;
      ex->route = r.pattern;
    }
    if (r.pattern != ex->route)
      continue;
    if (r.method == method) {
      found = &r;
      ex->params = std::move(params);
      break;
    }
  }
  if (!path_known) {
    reply_problem(ex, make_problem(404, "not_found",
                                   "no such resource; /v1/openapi.json lists "
                                   "the API"));
    return;
  }
  auto allow = allowed(ex->path);
  if (method == "OPTIONS") {
    // A CORS preflight or a plain question: the connection adds the CORS
    // headers when the origin is allowed.
    auto res = empty_response(*ex, 204);
    res.set(bhttp::field::allow, allow + ", OPTIONS");
    res.set(bhttp::field::access_control_allow_methods, allow);
    res.set(bhttp::field::access_control_allow_headers,
            "Authorization, Content-Type, X-Request-Id");
    res.set(bhttp::field::access_control_max_age, "600");
    ex->reply(std::move(res));
    return;
  }
  if (!found) {
    auto res = to_response(
        *ex, make_problem(405, "method_not_allowed",
                          method + " is not allowed here; allowed: " + allow));
    res.set(bhttp::field::allow, allow);
    ex->reply(std::move(res));
    return;
  }
  if (found->body != body_kind::none) {
    auto type = media_type(std::string{ex->req[bhttp::field::content_type]});
    auto wanted = found->body == body_kind::json
                      ? "application/json"
                      : "application/x-www-form-urlencoded";
    if (type != wanted) {
      reply_problem(ex,
                    make_problem(415, "unsupported_media_type",
                                 std::string{"the body must be "} + wanted));
      return;
    }
  }
  found->fn(ex);
}

} // namespace herald::http
