// The storage component: [mysql], migrations, the connection pool.
#include <thread>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"
#include "node/catalogue.hpp"
#include "storage/migrations.hpp"
#include "storage/mysql_storage.hpp"

namespace herald {

namespace {

/// [mysql] as configured: the connection settings and a password file.
struct mysql_options : storage::mysql_settings {
  std::string password_file;
};

const config::section<mysql_options>& mysql_section() {
  using std::chrono::seconds;
  static const auto s
      = config::section<mysql_options>{"mysql"}
            .add(&mysql_options::host, "host", "MySQL/MariaDB host")
            .add(&mysql_options::port, "port", "MySQL/MariaDB port")
            .add(&mysql_options::socket, "socket",
                 "unix socket, used instead of host and port")
            .add(&mysql_options::user, "user", "database user")
            .add(&mysql_options::password, "password",
                 "database password (prefer HERALD_MYSQL_PASSWORD or "
                 "password-file)")
            .secret()
            .add(&mysql_options::password_file, "password-file",
                 "file holding the database password")
            .add(&mysql_options::database, "database", "database name")
            .add(&mysql_options::pool_size, "pool-size",
                 "connections, each owned by one detached worker")
            .range(1, 64)
            .add(&mysql_options::connect_timeout, "connect-timeout",
                 "time to connect")
            .range(seconds{1}, seconds{300})
            .add(&mysql_options::io_timeout, "io-timeout",
                 "longest silence of the server within one statement before "
                 "the connection counts as lost")
            .range(seconds{1}, seconds{3600});
  return s;
}

/// A database that is still starting gets a few seconds; a wrong password
/// or a broken migration fails at once.
caf::error migrate_with_retry(const storage::mysql_settings& db) {
  caf::error err;
  for (int attempt = 1; attempt <= 15; ++attempt) {
    err = storage::migrate(db);
    if (!err || err != ec::unavailable)
      return err;
    spdlog::warn("database not reachable yet ({}), retrying", render(err));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return err;
}

/// [mysql] as configured and checked, the password read from its file.
caf::expected<mysql_options> read_mysql(const component_context& ctx) {
  auto s = mysql_section().read(ctx.cfg);
  if (!s.password_file.empty()) {
    auto password = config::read_secret_file(ctx.cfg, "mysql.password-file",
                                             s.password_file);
    if (!password)
      return std::move(password.error());
    s.password = std::move(*password);
  }
  if (s.password == development_mysql_password && !ctx.node.dev_mode)
    return ctx.cfg.invalid(s.password_file.empty() ? "mysql.password"
                                                   : "mysql.password-file",
                           "is the public development password; set "
                           "HERALD_MYSQL_PASSWORD or mysql.password-file, or "
                           "start with --herald.dev-mode");
  return s;
}

caf::expected<caf::actor> spawn_storage(component_context& ctx) {
  auto read = read_mysql(ctx);
  if (!read)
    return std::move(read.error());
  auto& s = *read;
  storage::mysql_settings db = s;
  db.event_source = ctx.node.node_name;
  if (auto err = migrate_with_retry(db)) {
    // A refused login is a setting: say which one, and where it came from.
    auto text = message_of(err);
    if (text.find("Access denied") != std::string::npos) {
      auto key
          = s.password_file.empty() ? "mysql.password" : "mysql.password-file";
      return ctx.cfg.invalid(key, "the database refused user '" + s.user
                                      + "' with this password ("
                                      + storage::describe(db) + ")");
    }
    return annotate(err, "migrations");
  }
  spdlog::info("storage: {} (migrations: {})", storage::describe(db),
               storage::migrations().size());
  return caf::actor_cast<caf::actor>(storage::spawn_mysql_storage(ctx.sys, db));
}

} // namespace

const char* development_mysql_password = "herald-dev-password";

component storage_component() {
  component c{"storage",     {},  {}, options_of(mysql_section()),
              spawn_storage, true};
  c.check
      = [](const component_context& ctx) { return error_of(read_mysql(ctx)); };
  return c;
}

} // namespace herald
