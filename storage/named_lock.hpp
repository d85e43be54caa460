// Server-wide named locks (MariaDB's GET_LOCK): they serialize work between
// nodes that share a database, such as migrations or the reset requests of
// one email. Blocking, like everything on a connection.
#pragma once

#include <cstdint>
#include <string>

#include <caf/expected.hpp>

#include "storage/mysql.hpp"

namespace herald::storage::mysql {

/// A named lock, released when the scope ends. Named locks belong to the
/// session, not the transaction: a guard that outlives a transaction lets the
/// next holder see that transaction's commit.
class named_lock {
public:
  named_lock(connection& db, std::string name);

  ~named_lock();

  named_lock(const named_lock&) = delete;
  named_lock& operator=(const named_lock&) = delete;

  /// Waits up to `seconds` for the lock: true if it is held now, false if
  /// another session kept it that long, an error if the server failed.
  caf::expected<bool> acquire(int64_t seconds);

private:
  connection& db_;
  std::string name_;
  bool held_ = false;
};

} // namespace herald::storage::mysql
