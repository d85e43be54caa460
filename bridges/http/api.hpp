// The gateway's routes and what they share. Who may call what:
//   - anyone: POST /v1/users (sign-up), POST /v1/sessions (the password is
//     the proof), POST /v1/tokens/validate (tells only what the token
//     says), POST /v1/password-resets[/confirm] and the reset page (the
//     mailed token is the proof), /healthz, /readyz, /v1/openapi.json;
//   - a user with a valid Bearer token: GET /v1/users/me and GET, PATCH,
//     DELETE /v1/users/{id} on its own id (a password or email change needs
//     the current password);
//   - an admin (a token whose role is admin; a role change revokes older
//     tokens, so the role in a valid token is the stored one): the same on
//     any id, role changes, and GET /v1/users;
//   - /metrics: anyone who can reach the gateway (it shows counts only; put
//     it behind the proxy's access rules where that matters).
// Nothing here signs, reads another user's data or changes a role for a
// caller that did not prove the right to it.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include <caf/actor_system.hpp>

#include "bridges/http/metrics.hpp"
#include "bridges/http/router.hpp"
#include "bridges/http/settings.hpp"
#include "messages/bridge.hpp"
#include "messages/hasher_actor.hpp"
#include "messages/node_actor.hpp"
#include "messages/reset_actor.hpp"
#include "messages/session_actor.hpp"
#include "messages/storage_actor.hpp"
#include "messages/throttle.hpp"
#include "messages/token.hpp"
#include "messages/token_actor.hpp"
#include "messages/user_actor.hpp"

namespace herald {
class token_verifier;
} // namespace herald

namespace herald::http {

/// What the routes use: the services (through the node's registry), the
/// gateway's settings and metrics.
struct gateway_env {
  caf::actor_system& sys;
  settings cfg;
  user_actor users;
  session_actor sessions;
  token_actor tokens;
  password_reset_actor resets;
  /// Throttling state (MariaDB, shared by every gateway).
  storage_actor store;
  hasher_actor hasher;
  amqp_bridge_actor bridge;
  /// Validates tokens on the I/O thread when this node runs the token
  /// service; null otherwise (then the token service is asked).
  std::shared_ptr<token_verifier> verifier;
  std::shared_ptr<metrics> stats;
  /// The OpenAPI document served at /v1/openapi.json.
  std::string openapi;

  gateway_env(caf::actor_system& s, settings c) : sys(s), cfg(std::move(c)) {}

  /// The node actor, known once the node runs (readyz, metrics).
  node_actor node() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return node_;
  }

  void node(node_actor x) {
    std::lock_guard<std::mutex> guard{mtx_};
    node_ = std::move(x);
  }

  caf::timespan timeout() const {
    return std::chrono::duration_cast<caf::timespan>(cfg.request_timeout);
  }

private:
  mutable std::mutex mtx_;
  node_actor node_;
};

using env_ptr = std::shared_ptr<gateway_env>;

/// /v1/users, /v1/sessions, /v1/tokens/validate.
void add_account_routes(router& r, env_ptr env);

/// /v1/password-resets, /v1/password-resets/confirm, /reset-password.
void add_reset_routes(router& r, env_ptr env);

/// /healthz, /readyz, /metrics, /v1/openapi.json.
void add_operation_routes(router& r, env_ptr env);

/// The request context of `ex` ("http:<client>" or "user:<id>@<client>").
request_context context_of(const exchange& ex, uint64_t user = 0);

/// Validates the Bearer token of `ex` and calls `then` with its claims
/// (on an I/O or actor thread), or answers 401.
void authenticate(const env_ptr& env, const exchange_ptr& ex,
                  std::function<void(const claims&)> then);

/// Asks storage to count one event on each rule; calls `go` if none is
/// blocked, else answers 429 with Retry-After (and calls `throttled`).
/// A throttle that cannot be checked (storage down) answers 503: without
/// the count, the limit could not hold.
void throttle(const env_ptr& env, const exchange_ptr& ex,
              std::vector<throttle_rule> rules, std::function<void()> go,
              std::function<void()> throttled = nullptr);

/// Takes back one event of each key (a request that turned out fine), or
/// forgets them (`clear`). Best effort: nothing waits for it.
void unthrottle(const env_ptr& env, std::vector<std::string> keys, bool clear);

/// A rule for `key` with `limit`.
throttle_rule rule(std::string key, const throttle_limit& limit);

} // namespace herald::http
