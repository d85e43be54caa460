// Answers of the gateway: JSON documents and RFC 9457 problem details
// (`application/problem+json` with type, title, status, detail, and
// herald's `code`, `request_id` and, for bad input, `field`). A problem
// never carries a stack trace, SQL, a hash or a secret: its detail is the
// text a herald error was made with for the caller, or a fixed sentence.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <nlohmann/json_fwd.hpp>

#include "bridges/http/exchange.hpp"

namespace herald::http {

struct problem {
  unsigned status = 500;
  /// herald's code: "not_found", "invalid_argument", "rate_limited", ...
  std::string code;
  std::string detail;
  /// The request field at fault, if one is.
  std::string field;
  /// Seconds, for 429 and 503 (Retry-After); 0: none.
  int64_t retry_after = 0;
};

/// The problem for a herald error a service answered: not_found 404,
/// conflict 409, invalid_argument 422 (with the field its text starts
/// with), unauthenticated 401, forbidden 403, expired/already_used/revoked
/// 400, rate_limited 429, unavailable (and timeouts, lost actors) 503,
/// anything else 500 with a fixed detail.
problem problem_of(const caf::error& err);

/// A problem with `status` and `code`.
problem make_problem(unsigned status, std::string code, std::string detail,
                     std::string field = {});

/// The response for `p` to the request of `ex`.
response to_response(const exchange& ex, const problem& p);

/// A JSON response with `status`.
response json_response(const exchange& ex, unsigned status,
                       const nlohmann::json& body);

/// An empty response (204, 202 ...).
response empty_response(const exchange& ex, unsigned status);

/// Answers `ex` with the problem.
void reply_problem(const exchange_ptr& ex, const problem& p);

/// Answers `ex` with the problem for `err`.
void reply_error(const exchange_ptr& ex, const caf::error& err);

/// "https://herald.invalid/problems/<code>"-style type URI of a code.
std::string problem_type(const std::string& code);

} // namespace herald::http
