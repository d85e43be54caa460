// The request context: who asks, and under which id. Every request that can
// come from outside a node (the cluster port, later HTTP) carries one. The
// id appears in the node's log lines for that request and is stored with
// the outbox events the request causes, so one id follows a request from a
// gateway through the node to RabbitMQ and the mailer.
#pragma once

#include <string>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/fwd.hpp"

namespace herald {

struct request_context {
  /// 1 to 64 characters of [A-Za-z0-9._:-]; a caller that has an id of its
  /// own (a gateway, another node) passes it, else the service makes one.
  std::string id;
  /// Who the caller says it is: "operator:heraldctl" (the cluster port is
  /// the door for operators and peer nodes), later "user:42" from a gateway
  /// that validated that user's token, or "node:<name>". For logs and audit
  /// only: what a request may do is decided by what it proves (a password, a
  /// token), never by this text. At most 128 printable ASCII characters.
  std::string caller;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_context& x) {
  return f(caf::meta::type_name("herald::request_context"), x.id, x.caller);
}

/// True for a well-formed request id: 1 to 64 characters of
/// [A-Za-z0-9._:-] (what `admit` lets through, nothing that could forge a
/// log line).
bool is_request_id(const std::string& id);

/// A fresh request id: "r-" and 16 hex digits, unique per thread (a
/// counter through a bijection) and random across threads and processes.
std::string new_request_id();

/// Checks a context from outside and gives it an id if it has none;
/// `invalid_argument` naming the field for an id or caller that could
/// forge log lines (control characters, spaces) or is too long.
caf::error admit(request_context& ctx);

/// "[r-0123abcd...]" or "[r-... by operator:heraldctl]" for log lines.
std::string tag(const request_context& ctx);

} // namespace herald
