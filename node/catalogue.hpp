// The components a node can run, each defined beside its actor, and the
// plan that picks those of a node's roles in dependency order.
#pragma once

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "actors/account_policy.hpp"
#include "actors/token.hpp"
#include "actors/user.hpp"
#include "node/component.hpp"

namespace herald {

// -- the components (in the order a node starts them) -----------------------

/// [mysql]: migrations, then the MySQL pool (storage/spawn_storage.cpp).
component storage_component();
/// [hasher]: argon2id workers (actors/spawn_hasher.cpp).
component hasher_component();
/// [token]: validation and revocation (actors/spawn_token.cpp).
component token_component();
/// [outbox]: the local event bus (actors/spawn_outbox.cpp).
component event_bus_component();
/// [smtp]: the SMTP bridge's workers (bridges/smtp/spawn_smtp.cpp).
component smtp_component();
/// [mail]: the mailer, subscribed to the bus (actors/spawn_mailer.cpp).
component mailer_component();
/// [amqp]: the RabbitMQ bridge (bridges/amqp/spawn_bridge.cpp).
component amqp_bridge_component();
/// [outbox]: the outbox relay (actors/spawn_outbox.cpp).
component outbox_relay_component();
/// [password]: the user service (actors/spawn_user.cpp).
component user_component();
/// Login: [token]'s keys and policy (actors/spawn_session.cpp).
component session_component();
/// [reset]: password reset (actors/spawn_reset.cpp).
component reset_component();
/// bridges/http/spawn_gateway.cpp
component gateway_component();

/// [token] as configured and checked: keys (refusing the development key
/// outside dev mode), policy, cache; shared by the token and session
/// components (actors/spawn_token.cpp).
caf::expected<token_settings>
read_token_settings(const config::configuration& cfg, bool dev_mode);

/// The options of [token].
const std::vector<config::option>& token_options_declared();

/// [password] as configured and checked; shared by the user and reset
/// components (actors/spawn_user.cpp).
caf::expected<password_policy>
read_password_policy(const config::configuration& cfg);

/// [password]'s policy and a dummy hash from the hasher: what a user
/// service needs (actors/spawn_user.cpp); for the user and session
/// components.
caf::expected<user_settings> read_user_settings(component_context& ctx);

/// The options of [password].
const std::vector<config::option>& password_options_declared();

/// Every component, in dependency order.
const std::vector<component>& catalogue();

/// Every option a node reads: [herald], [cluster], then each component's,
/// each once, in catalogue order.
std::vector<config::option> node_options();

/// The components a node with `roles` runs, in the order they start;
/// `invalid_argument` if one needs a component those roles do not start.
caf::expected<std::vector<const component*>>
plan(const std::vector<component>& all, const std::vector<std::string>& roles);

/// The public development secrets: a node refuses them outside dev mode.
extern const char* development_mysql_password;
extern const char* development_key_secret;
extern const char* development_amqp_login;

} // namespace herald
