// Where and how storage reaches MySQL/MariaDB.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace herald::storage {

struct mysql_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 3306;
  /// If set, used instead of host/port.
  std::string socket;
  std::string user = "herald";
  /// Never logged or printed.
  std::string password;
  std::string database = "herald";
  /// Number of detached workers, each owning one connection.
  size_t pool_size = 4;
  std::chrono::seconds connect_timeout{5};
  /// Bound on each read from and write to the server; a longer silence counts
  /// as a lost connection. Keep it above the longest expected statement.
  std::chrono::seconds io_timeout{30};
  /// Name of this node, written as the `source` of every event it causes.
  std::string event_source = "herald";
};

/// Describes the target without the password, e.g.
/// "mysql://herald@127.0.0.1:3306/herald".
std::string describe(const mysql_settings& cfg);

} // namespace herald::storage
