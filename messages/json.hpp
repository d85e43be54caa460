// JSON codecs of the value types, for heraldctl --json and (later) the HTTP
// gateway. Secrets never appear: there is no codec for account or new_user.
#pragma once

#include <nlohmann/json.hpp>

#include <caf/error.hpp>

#include "messages/bridge.hpp"
#include "messages/event.hpp"
#include "messages/node.hpp"
#include "messages/token.hpp"
#include "messages/user.hpp"

namespace herald {

void to_json(nlohmann::json& j, const user& x);
void to_json(nlohmann::json& j, const user_page& x);
void to_json(nlohmann::json& j, const issued_token& x);
void to_json(nlohmann::json& j, const session& x);
void to_json(nlohmann::json& j, const claims& x);
void to_json(nlohmann::json& j, const component_status& x);
void to_json(nlohmann::json& j, const node_status& x);
void to_json(nlohmann::json& j, const dead_event& x);
void to_json(nlohmann::json& j, const outbox_status& x);
void to_json(nlohmann::json& j, const route_stats& x);
void to_json(nlohmann::json& j, const bridge_status& x);

/// {"error": {"code": "not_found", "message": "no user with id 4"}}
nlohmann::json error_to_json(const caf::error& err);

/// Unix seconds as RFC 3339 UTC, e.g. "2026-11-22T21:03:04Z".
std::string format_time(int64_t unix_seconds);

} // namespace herald
