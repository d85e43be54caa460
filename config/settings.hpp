// herald's configuration: the CAF config with herald's options, the
// environment layer, and the validated settings a node is wired from.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include "actors/account_policy.hpp"
#include "actors/hasher.hpp"
#include "actors/outbox_relay.hpp"
#include "bridges/amqp/settings.hpp"
#include "storage/mysql_settings.hpp"

namespace herald {

/// The actor system config of a node: CAF's options plus herald's sections
/// (herald, cluster, mysql, token, password, hasher), its message types and
/// error category, and the middleman and OpenSSL modules.
class node_config : public caf::actor_system_config {
public:
  node_config();
};

/// Turns HERALD_SECTION_KEY=value environment entries into
/// `--section.key=value` arguments for the known sections (underscores after
/// the section become dashes: HERALD_TOKEN_KEYS_FILE -> --token.keys-file).
/// `env` is a NULL-terminated array like `environ`.
std::vector<std::string> environment_arguments(char** env);

/// Builds the argument list for parse(): environment arguments first, so the
/// command line overrides them, then argv[1..].
std::vector<std::string> layered_arguments(int argc, char** argv, char** env);

/// Parses defaults, then the config file (`--config-file`, else
/// `default_file` if it exists), then the environment, then the command line.
/// Boolean options accept `--key`, `--key=true` and `--key=false` (CAF 0.17
/// alone takes only the bare flag).
caf::error parse_layered(caf::actor_system_config& cfg, int argc, char** argv,
                         char** env, const char* default_file);

/// Everything a node needs, read and checked once at start.
struct node_settings {
  std::string node_name;
  std::vector<std::string> roles;
  bool dev_mode = false;
  std::string log_level;
  std::string cluster_host;
  uint16_t cluster_port = 4710;
  storage::mysql_settings mysql;
  /// "kid:secret" specs, first signs.
  std::vector<std::string> token_keys;
  std::string token_issuer;
  std::string token_audience;
  std::chrono::seconds token_ttl{900};
  std::chrono::seconds token_leeway{30};
  std::chrono::seconds version_cache_ttl{30};
  password_policy passwords;
  argon2_params argon2;
  size_t hasher_workers = 2;
  std::chrono::seconds reset_ttl{900};
  uint32_t reset_max_per_hour = 5;
  outbox_settings outbox;
  /// SMTP bridge: URL (smtp:// or smtps://), STARTTLS required, credentials,
  /// From header, timeout, workers, CA file.
  std::string smtp_url;
  bool smtp_starttls = false;
  std::string smtp_username;
  std::string smtp_password;
  std::string smtp_from;
  std::chrono::seconds smtp_timeout{30};
  size_t smtp_workers = 2;
  std::string smtp_ca_file;
  /// Mail templates folder and the base URL of links in mails.
  std::string mail_templates;
  std::string public_base_url;
  std::string app_name;
  /// The AMQP bridge (role "bridge").
  amqp::amqp_settings amqp;
};

/// Reads the settings from a parsed config, reading secrets from files where
/// configured (mysql.password-file, token.keys-file). Answers an
/// invalid_argument error naming the bad key.
caf::expected<node_settings> read_settings(const caf::actor_system_config& cfg);

/// The development signing key shipped in config/herald.ini. A node refuses
/// it unless started with herald.dev-mode = true.
extern const char* development_key_secret;

/// The MariaDB password scripts/local-servers sets up by default. Refused
/// outside dev mode like the development key.
extern const char* development_mysql_password;

} // namespace herald
