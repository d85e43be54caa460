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

/// Matches split segments; fills `params` on a match.
bool match_segments(const std::vector<std::string>& pattern,
                    const std::vector<std::string>& path,
                    std::map<std::string, std::string>* params) {
  if (pattern.size() != path.size())
    return false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    auto& p = pattern[i];
    if (!p.empty() && p.front() == '{') {
      if (path[i].empty())
        return false;
    } else if (p != path[i]) {
      return false;
    }
  }
  if (params) {
    params->clear();
    for (size_t i = 0; i < pattern.size(); ++i)
      if (!pattern[i].empty() && pattern[i].front() == '{')
        (*params)[pattern[i].substr(1, pattern[i].size() - 2)] = path[i];
  }
  return true;
}

} // namespace

bool match(const std::string& pattern, const std::string& path,
           std::map<std::string, std::string>* params) {
  if (path.empty() || path.front() != '/')
    return false;
  return match_segments(segments(pattern), segments(path), params);
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
  // Literal routes first ("/v1/users/me" before "/v1/users/{id}"), in the
  // order they were added otherwise.
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const route& a, const route& b) {
                     return literal_count(a.pattern) > literal_count(b.pattern);
                   });
  compiled_.clear();
  for (auto& x : routes_)
    compiled_.push_back({segments(x.pattern), literal_count(x.pattern)});
}

int router::best(const std::vector<std::string>& path,
                 std::map<std::string, std::string>* params) const {
  for (size_t i = 0; i < routes_.size(); ++i)
    if (match_segments(compiled_[i].segments, path, params))
      return static_cast<int>(i);
  return -1;
}

std::string router::allowed_for(const std::string& pattern) const {
  std::vector<std::string> methods;
  for (auto& r : routes_)
    if (r.pattern == pattern
        && std::find(methods.begin(), methods.end(), r.method) == methods.end())
      methods.push_back(r.method);
  std::string out;
  for (auto& m : methods)
    out += (out.empty() ? "" : ", ") + m;
  return out;
}

std::string router::allowed(const std::string& path) const {
  if (path.empty() || path.front() != '/')
    return {};
  auto i = best(segments(path), nullptr);
  return i < 0 ? std::string{} : allowed_for(routes_[i].pattern);
}

void router::dispatch(const exchange_ptr& ex) const {
  if (ex->path.empty() || ex->path.front() != '/') {
    reply_problem(ex, make_problem(404, "not_found",
                                   "no such resource; /v1/openapi.json lists "
                                   "the API"));
    return;
  }
  auto path = segments(ex->path);
  // Routes are sorted by literal segments: the first match is the best
  // pattern, and the routes of one pattern sit together.
  auto first = best(path, nullptr);
  if (first < 0) {
    reply_problem(ex, make_problem(404, "not_found",
                                   "no such resource; /v1/openapi.json lists "
                                   "the API"));
    return;
  }
  ex->route = routes_[first].pattern;
  auto method = ex->req.method_string();
  const route* found = nullptr;
  for (size_t i = first; i < routes_.size(); ++i) {
    if (routes_[i].pattern != ex->route)
      continue;
    if (routes_[i].method == method) {
      found = &routes_[i];
      match_segments(compiled_[i].segments, path, &ex->params);
      break;
    }
  }
  if (method == "OPTIONS") {
    // A CORS preflight or a plain question: the connection adds the CORS
    // headers when the origin is allowed.
    auto allow = allowed_for(ex->route);
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
    auto allow = allowed_for(ex->route);
    auto res = to_response(*ex, make_problem(405, "method_not_allowed",
                                             std::string{method}
                                                 + " is not allowed here; "
                                                   "allowed: "
                                                 + allow));
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
