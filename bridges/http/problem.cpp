#include "bridges/http/problem.hpp"

#include <caf/sec.hpp>
#include <nlohmann/json.hpp>

#include "messages/error.hpp"

namespace herald::http {

namespace {

const char* title_of(unsigned status) {
  switch (status) {
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 413:
    return "Content Too Large";
  case 415:
    return "Unsupported Media Type";
  case 422:
    return "Unprocessable Content";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 503:
    return "Service Unavailable";
  default:
    return "Internal Server Error";
  }
}

/// The request field a service's message names first ("email has no
/// '@'", "reset token is empty"), or "".
std::string field_of(const std::string& text) {
  static const char* fields[] = {"name", "email", "password", "role"};
  for (auto f : fields) {
    std::string prefix = std::string{f} + ' ';
    if (text.rfind(prefix, 0) == 0)
      return f;
  }
  if (text.rfind("reset token", 0) == 0)
    return "token";
  return {};
}

} // namespace

std::string problem_type(const std::string& code) {
  return "urn:herald:problem:" + code;
}

problem make_problem(unsigned status, std::string code, std::string detail,
                     std::string field) {
  problem p;
  p.status = status;
  p.code = std::move(code);
  p.detail = std::move(detail);
  p.field = std::move(field);
  return p;
}

problem problem_of(const caf::error& err) {
  if (err.category() != caf::atom("herald")) {
    // Timeouts and actors that went away: a dependency, not the caller.
    return make_problem(503, "unavailable",
                        "a service did not answer in time; try again");
  }
  auto code = static_cast<ec>(err.code());
  auto text = message_of(err);
  switch (code) {
  case ec::not_found:
    return make_problem(404, "not_found", text);
  case ec::conflict:
    return make_problem(409, "conflict", text);
  case ec::invalid_argument:
    return make_problem(422, "invalid_argument", text, field_of(text));
  case ec::unauthenticated:
    return make_problem(401, "unauthenticated", text);
  case ec::forbidden:
    return make_problem(403, "forbidden", text);
  case ec::expired:
  case ec::already_used:
  case ec::revoked:
    return make_problem(400, to_string(code), text, "token");
  case ec::rate_limited: {
    auto p = make_problem(429, "rate_limited", text);
    p.retry_after = 3600;
    return p;
  }
  case ec::unavailable:
  case ec::deferred: {
    auto p = make_problem(503, "unavailable",
                          "a service herald depends on is unavailable; "
                          "try again");
    p.retry_after = 5;
    return p;
  }
  default:
    // internal, rejected, unknown: the text may describe our insides.
    return make_problem(500, "internal",
                        "herald could not complete the request; its log "
                        "has the request id");
  }
}

response to_response(const exchange& ex, const problem& p) {
  nlohmann::json body{{"type", problem_type(p.code)},
                      {"title", title_of(p.status)},
                      {"status", p.status},
                      {"detail", p.detail},
                      {"code", p.code},
                      {"request_id", ex.request_id}};
  if (!p.field.empty())
    body["field"] = p.field;
  response res{static_cast<bhttp::status>(p.status), ex.req.version()};
  res.set(bhttp::field::content_type, "application/problem+json");
  if (p.retry_after > 0)
    res.set(bhttp::field::retry_after, std::to_string(p.retry_after));
  if (p.status == 401)
    res.set(bhttp::field::www_authenticate, "Bearer realm=\"herald\"");
  res.body()
      = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

response json_response(const exchange& ex, unsigned status,
                       const nlohmann::json& body) {
  response res{static_cast<bhttp::status>(status), ex.req.version()};
  res.set(bhttp::field::content_type, "application/json");
  res.body()
      = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

response empty_response(const exchange& ex, unsigned status) {
  response res{static_cast<bhttp::status>(status), ex.req.version()};
  res.prepare_payload();
  return res;
}

void reply_problem(const exchange_ptr& ex, const problem& p) {
  ex->reply(to_response(*ex, p));
}

void reply_error(const exchange_ptr& ex, const caf::error& err) {
  reply_problem(ex, problem_of(err));
}

exchange::~exchange() {
  if (!answered())
    reply(to_response(*this, make_problem(500, "internal",
                                          "the request was dropped "
                                          "unanswered (a bug); its log has "
                                          "the request id")));
}

} // namespace herald::http
