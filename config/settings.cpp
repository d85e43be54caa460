#include "config/settings.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <caf/config_option_adder.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/settings.hpp>

#include "messages/error.hpp"
#include "messages/type_ids.hpp"

namespace herald {

const char* development_key_secret
    = "ZGV2ZWxvcG1lbnQtb25seS1rZXktZG8tbm90LXVzZS1pbi1wcm9kdWN0aW9u";

const char* development_mysql_password = "herald-dev-password";

namespace {

const char* sections[] = {"herald", "cluster", "mysql",  "token", "password",
                          "hasher", "reset",   "outbox", "smtp",  "mail"};

const char* known_roles[] = {"user", "token", "reset", "mailer", "bridge"};

caf::error invalid(std::string what) {
  return caf::make_error(ec::invalid_argument, std::move(what));
}

std::string trim(std::string str) {
  while (!str.empty() && std::isspace(static_cast<unsigned char>(str.back())))
    str.pop_back();
  size_t i = 0;
  while (i < str.size() && std::isspace(static_cast<unsigned char>(str[i])))
    ++i;
  return str.substr(i);
}

caf::expected<std::string> read_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return invalid("cannot read file " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

template <class Rep, class Period>
std::chrono::seconds to_seconds(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d);
}

} // namespace

node_config::node_config() {
  load<caf::io::middleman>();
  load<caf::openssl::manager>();
  herald::add_message_types(*this);
  // Our defaults for CAF's own options; file, environment and CLI override.
  set("middleman.app-identifiers", std::vector<std::string>{"herald"});
  set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds(1)});
  set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(5)});
  // Idle scheduler workers that spin compete with the detached hashing and
  // MySQL threads for the same cores; measured with bench/ on 2 cores, no
  // spinning raised logins from 79% to 95% of raw argon2id and did not slow
  // token validation (see the closing note of issue 2).
  set("work-stealing.aggressive-poll-attempts", size_t{0});
  set("work-stealing.moderate-poll-attempts", size_t{0});
  caf::config_option_adder{custom_options_, "herald"}
      .add<std::string>("node-name", "name of this node")
      .add<std::vector<std::string>>("roles", "services this node hosts")
      .add<bool>("dev-mode", "allow development secrets (never in production)")
      .add<std::string>("log-level", "trace, debug, info, warn or error");
  caf::config_option_adder{custom_options_, "cluster"}
      .add<std::string>("host", "address the node publishes its actors on")
      .add<uint16_t>("port", "port the node publishes its actors on");
  caf::config_option_adder{custom_options_, "mysql"}
      .add<std::string>("host", "MySQL/MariaDB host")
      .add<uint16_t>("port", "MySQL/MariaDB port")
      .add<std::string>("socket", "unix socket (instead of host and port)")
      .add<std::string>("user", "database user")
      .add<std::string>("password",
                        "database password (prefer the environment)")
      .add<std::string>("password-file", "file holding the database password")
      .add<std::string>("database", "database name")
      .add<size_t>("pool-size", "connections (one detached worker each)")
      .add<caf::timespan>("connect-timeout", "timeout for connecting");
  caf::config_option_adder{custom_options_, "token"}
      .add<std::string>("issuer",
                        "iss of issued tokens, required on validation")
      .add<std::string>("audience",
                        "aud of issued tokens, required on validation")
      .add<caf::timespan>("ttl", "lifetime of issued tokens")
      .add<caf::timespan>("leeway", "clock skew tolerated for exp/nbf (<= 60s)")
      .add<std::vector<std::string>>("keys", "signing keys as kid:secret")
      .add<std::string>("keys-file", "file with one kid:secret per line")
      .add<caf::timespan>("version-cache-ttl",
                          "how long token versions are cached");
  caf::config_option_adder{custom_options_, "password"}
      .add<size_t>("min-length", "minimum password length in characters")
      .add<size_t>("max-bytes", "maximum password length in bytes");
  caf::config_option_adder{custom_options_, "reset"}
      .add<caf::timespan>("ttl", "lifetime of a password reset token")
      .add<uint32_t>("max-per-hour",
                     "reset requests allowed per email per hour");
  caf::config_option_adder{custom_options_, "outbox"}
      .add<caf::timespan>("poll-interval", "how often the outbox is read")
      .add<uint32_t>("batch", "rows read at once; most events out at once")
      .add<uint32_t>("max-attempts", "delivery attempts before a row is dead")
      .add<caf::timespan>("backoff-min", "first retry delay")
      .add<caf::timespan>("backoff-max", "longest retry delay")
      .add<caf::timespan>("delivery-timeout", "time subscribers get per event");
  caf::config_option_adder{custom_options_, "smtp"}
      .add<std::string>("url", "smtp://host:port (STARTTLS optional) or "
                               "smtps://host:port (implicit TLS)")
      .add<bool>("starttls", "require STARTTLS on smtp://")
      .add<std::string>("username", "SMTP user (empty: no AUTH)")
      .add<std::string>("password", "SMTP password (prefer the environment)")
      .add<std::string>("password-file", "file holding the SMTP password")
      .add<std::string>("from",
                        "From header, e.g. herald <noreply@example.org>")
      .add<caf::timespan>("timeout", "time for one mail transaction")
      .add<size_t>("workers", "parallel SMTP connections")
      .add<std::string>("ca-file", "CA bundle for the server's certificate");
  caf::config_option_adder{custom_options_, "mail"}
      .add<std::string>("templates", "folder of the mail templates")
      .add<std::string>("public-base-url", "base of links in mails")
      .add<std::string>("app-name", "product name used in mails");
  caf::config_option_adder{custom_options_, "amqp"}
      .add<std::string>("url", "amqp://user:password@host:port/vhost or "
                               "amqps://... (prefer HERALD_AMQP_URL)")
      .add<std::string>("ca-file", "CA bundle for amqps")
      .add<caf::timespan>("heartbeat", "AMQP heartbeat interval")
      .add<uint16_t>("prefetch", "deliveries in flight per inbound queue")
      .add<uint32_t>("max-attempts", "handling attempts before the dead-letter "
                                     "queue")
      .add<caf::timespan>("retry-delay", "delay before the second attempt "
                                         "(doubles each time)")
      .add<caf::timespan>("handler-timeout", "time a handler gets per delivery")
      .add<caf::timespan>("confirm-timeout", "time the broker gets to confirm")
      .add<caf::timespan>("reconnect-min", "first reconnect delay")
      .add<caf::timespan>("reconnect-max", "longest reconnect delay")
      .add<std::vector<std::string>>("outbound",
                                     "routes: topics=... exchange=..."
                                     " [durable=] [format=]")
      .add<std::vector<std::string>>("inbound",
                                     "routes: queue=... exchange=... "
                                     "bind=... handler=... "
                                     "[durable=] [format=]");
  caf::config_option_adder{custom_options_, "hasher"}
      .add<size_t>("workers", "detached argon2id workers")
      .add<uint32_t>("memory-kib", "argon2id memory cost in KiB")
      .add<uint32_t>("iterations", "argon2id time cost")
      .add<uint32_t>("parallelism", "argon2id lanes");
}

std::vector<std::string> environment_arguments(char** env) {
  std::vector<std::string> result;
  for (auto p = env; p != nullptr && *p != nullptr; ++p) {
    std::string entry{*p};
    if (entry.rfind("HERALD_", 0) != 0)
      continue;
    auto eq = entry.find('=');
    if (eq == std::string::npos)
      continue;
    auto name = entry.substr(7, eq - 7);
    std::transform(name.begin(), name.end(), name.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    auto sep = name.find('_');
    if (sep == std::string::npos)
      continue;
    auto section = name.substr(0, sep);
    if (std::find(std::begin(sections), std::end(sections), section)
        == std::end(sections))
      continue;
    auto key = name.substr(sep + 1);
    std::replace(key.begin(), key.end(), '_', '-');
    result.push_back("--" + section + "." + key + "=" + entry.substr(eq + 1));
  }
  return result;
}

std::vector<std::string> layered_arguments(int argc, char** argv, char** env) {
  auto result = environment_arguments(env);
  for (int i = 1; i < argc; ++i)
    result.emplace_back(argv[i]);
  return result;
}

caf::error parse_layered(caf::actor_system_config& cfg, int argc, char** argv,
                         char** env, const char* default_file) {
  static constexpr const char* bool_options[]
      = {"herald.dev-mode", "smtp.starttls"};
  std::vector<std::pair<std::string, bool>> bools;
  std::vector<std::string> args;
  for (auto& arg : layered_arguments(argc, argv, env)) {
    bool taken = false;
    for (auto name : bool_options) {
      if (arg == std::string{"--"} + name) {
        bools.emplace_back(name, true);
        taken = true;
        continue;
      }
      auto prefix = std::string{"--"} + name + "=";
      if (arg.rfind(prefix, 0) != 0)
        continue;
      auto value = arg.substr(prefix.size());
      if (value != "true" && value != "false")
        return invalid(std::string{name} + " must be true or false, not '"
                       + value + "'");
      bools.emplace_back(name, value == "true");
      taken = true;
    }
    if (!taken)
      args.push_back(std::move(arg));
  }
  if (auto err = cfg.parse(std::move(args), default_file))
    return err;
  // Later entries (command line) win over earlier ones (environment).
  for (auto& [name, value] : bools)
    cfg.set(name, value);
  return caf::none;
}

namespace {

caf::error read_amqp(const caf::actor_system_config& cfg, node_settings& s) {
  using std::chrono::milliseconds;
  auto& a = s.amqp;
  auto ms = [&](const char* key, milliseconds fallback) {
    return std::chrono::duration_cast<milliseconds>(
        caf::get_or(cfg, key, caf::timespan{fallback}));
  };
  a.url = caf::get_or(cfg, "amqp.url", a.url);
  a.ca_file = caf::get_or(cfg, "amqp.ca-file", a.ca_file);
  a.heartbeat = std::chrono::duration_cast<std::chrono::seconds>(
      ms("amqp.heartbeat", a.heartbeat));
  a.prefetch = caf::get_or(cfg, "amqp.prefetch", a.prefetch);
  a.max_attempts = caf::get_or(cfg, "amqp.max-attempts", a.max_attempts);
  a.retry_delay = ms("amqp.retry-delay", a.retry_delay);
  a.handler_timeout = std::chrono::duration_cast<std::chrono::seconds>(
      ms("amqp.handler-timeout", a.handler_timeout));
  a.confirm_timeout = std::chrono::duration_cast<std::chrono::seconds>(
      ms("amqp.confirm-timeout", a.confirm_timeout));
  a.reconnect_min = ms("amqp.reconnect-min", a.reconnect_min);
  a.reconnect_max = ms("amqp.reconnect-max", a.reconnect_max);
  a.source = s.node_name;
  if (a.url.rfind("amqp://", 0) != 0 && a.url.rfind("amqps://", 0) != 0)
    return invalid("amqp.url must start with amqp:// or amqps://");
  if (a.url.find("://guest:guest@") != std::string::npos && !s.dev_mode
      && std::find(s.roles.begin(), s.roles.end(), "bridge") != s.roles.end())
    return invalid("amqp.url uses RabbitMQ's development login guest/guest; "
                   "set HERALD_AMQP_URL or start with --herald.dev-mode");
  if (a.heartbeat.count() < 1 || a.prefetch < 1 || a.max_attempts < 1
      || a.retry_delay.count() <= 0 || a.handler_timeout.count() < 1
      || a.confirm_timeout.count() < 1 || a.reconnect_min.count() <= 0
      || a.reconnect_max < a.reconnect_min)
    return invalid("amqp: heartbeat, handler-timeout and confirm-timeout of "
                   "at least 1s, prefetch and max-attempts of at least 1, "
                   "0 < retry-delay and 0 < reconnect-min <= reconnect-max");
  a.outbound.clear();
  for (auto& spec :
       caf::get_or(cfg, "amqp.outbound", std::vector<std::string>{})) {
    auto route = amqp::parse_outbound(spec);
    if (!route)
      return annotate(route.error(), "amqp.outbound '" + spec + "'");
    a.outbound.push_back(std::move(*route));
  }
  a.inbound.clear();
  for (auto& spec :
       caf::get_or(cfg, "amqp.inbound", std::vector<std::string>{})) {
    auto route = amqp::parse_inbound(spec);
    if (!route)
      return annotate(route.error(), "amqp.inbound '" + spec + "'");
    if (route->handler != "mailer")
      return invalid("amqp.inbound '" + spec + "': unknown handler '"
                     + route->handler + "' (known: mailer)");
    a.inbound.push_back(std::move(*route));
  }
  return caf::none;
}

} // namespace

caf::expected<node_settings>
read_settings(const caf::actor_system_config& cfg) {
  using std::chrono::seconds;
  node_settings s;
  auto str = [&](const char* key, const char* fallback) {
    return caf::get_or(cfg, key, std::string{fallback});
  };
  auto span = [&](const char* key, seconds fallback) {
    return to_seconds(caf::get_or(cfg, key, caf::timespan{fallback}));
  };
  s.node_name = str("herald.node-name", "herald-1");
  s.roles = caf::get_or(
      cfg, "herald.roles",
      std::vector<std::string>{"user", "token", "reset", "mailer"});
  s.dev_mode = caf::get_or(cfg, "herald.dev-mode", false);
  s.log_level = str("herald.log-level", "info");
  for (auto& role : s.roles)
    if (std::find(std::begin(known_roles), std::end(known_roles), role)
        == std::end(known_roles))
      return invalid("herald.roles: unknown role '" + role
                     + "' (this version hosts: user, token, reset, mailer, "
                       "bridge)");
  s.cluster_host = str("cluster.host", "127.0.0.1");
  s.cluster_port = caf::get_or(cfg, "cluster.port", uint16_t{4710});
  auto& db = s.mysql;
  db.host = str("mysql.host", "127.0.0.1");
  db.port = caf::get_or(cfg, "mysql.port", uint16_t{3306});
  db.socket = str("mysql.socket", "");
  db.user = str("mysql.user", "herald");
  db.database = str("mysql.database", "herald");
  db.pool_size = caf::get_or(cfg, "mysql.pool-size", size_t{4});
  db.connect_timeout = span("mysql.connect-timeout", seconds{5});
  db.password = str("mysql.password", "");
  if (auto file = str("mysql.password-file", ""); !file.empty()) {
    auto content = read_file(file);
    if (!content)
      return invalid("mysql.password-file: " + render(content.error()));
    db.password = trim(*content);
  }
  if (db.password == development_mysql_password && !s.dev_mode)
    return invalid("mysql.password is the public development password; set "
                   "HERALD_MYSQL_PASSWORD or mysql.password-file, or start "
                   "with --herald.dev-mode");
  if (db.pool_size < 1 || db.pool_size > 64)
    return invalid("mysql.pool-size must be 1 to 64");
  s.token_issuer = str("token.issuer", "herald");
  s.token_audience = str("token.audience", "herald");
  s.token_ttl = span("token.ttl", seconds{900});
  s.token_leeway = span("token.leeway", seconds{30});
  s.version_cache_ttl = span("token.version-cache-ttl", seconds{30});
  if (s.token_ttl < seconds{1})
    return invalid("token.ttl must be at least 1s");
  if (s.token_leeway > seconds{60} || s.token_leeway < seconds{0})
    return invalid("token.leeway must be between 0s and 60s");
  s.token_keys = caf::get_or(cfg, "token.keys", std::vector<std::string>{});
  if (auto file = str("token.keys-file", ""); !file.empty()) {
    auto content = read_file(file);
    if (!content)
      return invalid("token.keys-file: " + render(content.error()));
    s.token_keys.clear();
    std::istringstream lines{*content};
    for (std::string line; std::getline(lines, line);) {
      line = trim(line);
      if (!line.empty() && line[0] != '#')
        s.token_keys.push_back(line);
    }
  }
  if (s.token_keys.empty())
    return invalid("token.keys: no signing key configured");
  for (auto& spec : s.token_keys) {
    auto colon = spec.find(':');
    if (colon != std::string::npos
        && spec.substr(colon + 1) == development_key_secret && !s.dev_mode)
      return invalid("token.keys: key '" + spec.substr(0, colon)
                     + "' is the public development key; configure a real "
                       "key (HERALD_TOKEN_KEYS or token.keys-file) or start "
                       "with --herald.dev-mode");
  }
  s.passwords.min_length = caf::get_or(cfg, "password.min-length", size_t{15});
  s.passwords.max_bytes = caf::get_or(cfg, "password.max-bytes", size_t{1024});
  if (s.passwords.min_length < 8
      || s.passwords.min_length > s.passwords.max_bytes)
    return invalid("password.min-length must be at least 8 and at most "
                   "password.max-bytes");
  s.hasher_workers = caf::get_or(cfg, "hasher.workers", size_t{2});
  s.argon2.memory_kib = caf::get_or(cfg, "hasher.memory-kib", uint32_t{19456});
  s.argon2.iterations = caf::get_or(cfg, "hasher.iterations", uint32_t{2});
  s.argon2.parallelism = caf::get_or(cfg, "hasher.parallelism", uint32_t{1});
  if (s.hasher_workers < 1 || s.hasher_workers > 256)
    return invalid("hasher.workers must be 1 to 256");
  if (!s.dev_mode
      && (s.argon2.memory_kib < 19456 || s.argon2.iterations < 2
          || s.argon2.parallelism < 1))
    return invalid("hasher: argon2id parameters below OWASP's minimum "
                   "(m=19456, t=2, p=1) need dev mode");
  s.reset_ttl = span("reset.ttl", seconds{900});
  s.reset_max_per_hour = caf::get_or(cfg, "reset.max-per-hour", uint32_t{5});
  if (s.reset_ttl < seconds{60} || s.reset_ttl > seconds{86400})
    return invalid("reset.ttl must be between 1min and 24h");
  if (s.reset_max_per_hour < 1)
    return invalid("reset.max-per-hour must be at least 1");
  auto ms = [&](const char* key, std::chrono::milliseconds fallback) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        caf::get_or(cfg, key, caf::timespan{fallback}));
  };
  auto& ob = s.outbox;
  ob.poll_interval = ms("outbox.poll-interval", ob.poll_interval);
  ob.batch = caf::get_or(cfg, "outbox.batch", ob.batch);
  ob.max_attempts = caf::get_or(cfg, "outbox.max-attempts", ob.max_attempts);
  ob.backoff_min = ms("outbox.backoff-min", ob.backoff_min);
  ob.backoff_max = ms("outbox.backoff-max", ob.backoff_max);
  ob.delivery_timeout = span("outbox.delivery-timeout", ob.delivery_timeout);
  if (ob.poll_interval < std::chrono::milliseconds{10} || ob.batch < 2
      || ob.max_attempts < 1 || ob.backoff_min.count() <= 0
      || ob.backoff_max < ob.backoff_min)
    return invalid("outbox: poll-interval >= 10ms, batch >= 2, max-attempts "
                   ">= 1 and 0 < backoff-min <= backoff-max are required");
  s.smtp_url = str("smtp.url", "smtp://127.0.0.1:2525");
  s.smtp_starttls = caf::get_or(cfg, "smtp.starttls", false);
  s.smtp_username = str("smtp.username", "");
  s.smtp_password = str("smtp.password", "");
  if (auto file = str("smtp.password-file", ""); !file.empty()) {
    auto content = read_file(file);
    if (!content)
      return invalid("smtp.password-file: " + render(content.error()));
    s.smtp_password = trim(*content);
  }
  s.smtp_from = str("smtp.from", "herald <noreply@herald.localhost>");
  s.smtp_timeout = span("smtp.timeout", seconds{30});
  s.smtp_workers = caf::get_or(cfg, "smtp.workers", size_t{2});
  s.smtp_ca_file = str("smtp.ca-file", "");
  if (s.smtp_url.rfind("smtp://", 0) != 0
      && s.smtp_url.rfind("smtps://", 0) != 0)
    return invalid("smtp.url must start with smtp:// or smtps://");
  if (s.smtp_workers < 1 || s.smtp_workers > 64)
    return invalid("smtp.workers must be 1 to 64");
  s.mail_templates = str("mail.templates", "templates");
  // A relative folder is relative to the config file that names it (or to
  // the working directory without one).
  if (!s.mail_templates.empty() && s.mail_templates[0] != '/'
      && !cfg.config_file_path.empty()) {
    auto dir = cfg.config_file_path;
    auto slash = dir.rfind('/');
    dir = slash == std::string::npos ? "." : dir.substr(0, slash);
    s.mail_templates = dir + "/" + s.mail_templates;
  }
  s.public_base_url = str("mail.public-base-url", "http://127.0.0.1:8080");
  s.app_name = str("mail.app-name", "herald");
  if (s.public_base_url.rfind("https://", 0) != 0
      && s.public_base_url.rfind("http://", 0) != 0)
    return invalid("mail.public-base-url must start with https:// or http://");
  if (s.public_base_url.find_first_of("\r\n\"'<> ") != std::string::npos)
    return invalid("mail.public-base-url contains characters not allowed "
                   "in a URL");
  while (!s.public_base_url.empty() && s.public_base_url.back() == '/')
    s.public_base_url.pop_back();
  if (auto err = read_amqp(cfg, s))
    return err;
  return s;
}

} // namespace herald
