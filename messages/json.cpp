#include "messages/json.hpp"

#include <ctime>

#include "messages/error.hpp"

namespace herald {

std::string format_time(int64_t unix_seconds) {
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void to_json(nlohmann::json& j, const user& x) {
  j = nlohmann::json{{"id", x.id},
                     {"name", x.name},
                     {"email", x.email},
                     {"role", x.role},
                     {"token_version", x.token_version},
                     {"created_at", format_time(x.created_at)},
                     {"updated_at", format_time(x.updated_at)}};
}

void to_json(nlohmann::json& j, const user_page& x) {
  // `next` is null at the end, so that no id is mistaken for a cursor.
  j = nlohmann::json{{"items", x.items}, {"next", nullptr}};
  if (x.next != 0)
    j["next"] = x.next;
}

void to_json(nlohmann::json& j, const issued_token& x) {
  j = nlohmann::json{{"token", x.token},
                     {"token_type", "Bearer"},
                     {"expires_at", format_time(x.expires_at)}};
}

void to_json(nlohmann::json& j, const session& x) {
  to_json(j, x.token);
  j["user"] = x.profile;
}

void to_json(nlohmann::json& j, const claims& x) {
  j = nlohmann::json{{"sub", std::to_string(x.subject)},
                     {"iss", x.issuer},
                     {"aud", x.audience},
                     {"jti", x.jwt_id},
                     {"role", x.role},
                     {"ver", x.token_version},
                     {"iat", x.issued_at},
                     {"nbf", x.not_before},
                     {"exp", x.expires_at},
                     {"kid", x.key_id}};
}

void to_json(nlohmann::json& j, const node_status& x) {
  j = nlohmann::json{{"name", x.name},
                     {"version", x.version},
                     {"roles", x.roles},
                     {"cluster_endpoint", x.cluster_endpoint},
                     {"storage", x.storage},
                     {"storage_state", x.storage_state},
                     {"started_at", format_time(x.started_at)},
                     {"users_estimate", x.users_estimate},
                     {"instance", x.instance},
                     {"components", x.components}};
}

void to_json(nlohmann::json& j, const component_status& x) {
  j = nlohmann::json{{"name", x.name},
                     {"state", x.state},
                     {"restarts", x.restarts},
                     {"since", format_time(x.since)}};
}

void to_json(nlohmann::json& j, const dead_event& x) {
  j = nlohmann::json{{"topic", x.topic},
                     {"id", x.id},
                     {"attempts", x.attempts},
                     {"error", x.error},
                     {"dead_at", format_time(x.dead_at_ms / 1000)}};
}

void to_json(nlohmann::json& j, const outbox_status& x) {
  j = nlohmann::json{{"pending", x.pending},
                     {"dead", x.dead},
                     {"oldest_age_ms", x.oldest_age_ms},
                     {"last_error", x.last_error},
                     {"delivered", x.delivered},
                     {"dead_events", x.dead_events}};
}

void to_json(nlohmann::json& j, const route_stats& x) {
  j = nlohmann::json{
      {"route", x.route},         {"published", x.published},
      {"confirmed", x.confirmed}, {"returned", x.returned},
      {"consumed", x.consumed},   {"acked", x.acked},
      {"retried", x.retried},     {"dead_lettered", x.dead_lettered}};
  j["nacked"] = x.nacked;
}

void to_json(nlohmann::json& j, const bridge_status& x) {
  j = nlohmann::json{
      {"broker", x.broker}, {"state", x.state}, {"routes", x.routes}};
}

nlohmann::json error_to_json(const caf::error& err) {
  auto text = render(err);
  std::string code = text;
  std::string message;
  if (auto pos = text.find(": "); pos != std::string::npos) {
    code = text.substr(0, pos);
    message = text.substr(pos + 2);
  }
  return nlohmann::json{{"error", {{"code", code}, {"message", message}}}};
}

} // namespace herald
