#include "storage/mysql_settings.hpp"

namespace herald::storage {

std::string describe(const mysql_settings& cfg) {
  // The password is deliberately absent: this text goes to logs and status.
  std::string out = "mysql://" + cfg.user + "@";
  if (!cfg.socket.empty())
    return out + "localhost/" + cfg.database + "?socket=" + cfg.socket;
  return out + cfg.host + ":" + std::to_string(cfg.port) + "/" + cfg.database;
}

} // namespace herald::storage
