// A small RAII layer over the MySQL C API (MariaDB Connector/C): one
// connection, prepared statements only, transactions, and the mapping of
// MySQL error numbers to herald's error codes. Every call blocks: use it from
// detached actors or plain threads only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "storage/mysql_settings.hpp"

struct st_mysql;
struct st_mysql_stmt;

namespace herald::storage::mysql {

// -- values -------------------------------------------------------------------

/// A parameter bound to a `?` placeholder or a column value read back;
/// `std::monostate` stands for SQL NULL.
using value
    = std::variant<std::monostate, uint64_t, int64_t, uint32_t, std::string>;

/// The C++ type a result column is read as.
enum class column { u64, i64, u32, text };

/// One row of a result, in the order of the requested columns.
using row = std::vector<value>;

/// What a statement without a result set did.
struct outcome {
  uint64_t affected_rows = 0;
  /// The AUTO_INCREMENT value the statement generated, if any.
  uint64_t insert_id = 0;
};

// -- errors -------------------------------------------------------------------

/// True if `errnum` means the link to the server is gone or was never made:
/// the connection is useless afterwards.
bool is_connection_error(unsigned errnum);

/// Maps a MySQL error to a herald error: duplicate key -> `conflict`, lost or
/// refused connection and lock timeouts -> `unavailable`, values that do not
/// fit their column -> `invalid_argument`, anything else -> `internal`.
/// The context text carries the server's message, which never contains the
/// password.
caf::error to_error(unsigned errnum, const std::string& message);

// -- library ------------------------------------------------------------------

/// Initializes the client library once per process; thread-safe. Called
/// before any thread of the process opens a connection.
void library_init();

/// Runs `library_init` and prepares the calling thread for the client
/// library. Every thread that uses a connection calls this
/// first; a thread that owns its whole lifetime calls `thread_end` at exit.
void thread_init();

/// Releases the calling thread's client-library state.
void thread_end();

// -- connection ---------------------------------------------------------------

/// One connection to the server with a cache of prepared statements. After a
/// connection error (`broken()`), every call fails: drop it and open anew.
class connection {
public:
  /// Connects with utf8mb4, the configured timeouts, strict SQL mode and
  /// UTC. An empty `cfg.database` connects without selecting a schema.
  static caf::expected<std::unique_ptr<connection>>
  open(const mysql_settings& cfg);

  ~connection();

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Runs a statement that returns no rows.
  caf::expected<outcome> execute(const std::string& sql,
                                 const std::vector<value>& params = {});

  /// Runs a statement and reads all of its rows as `columns`.
  caf::expected<std::vector<row>> query(const std::string& sql,
                                        const std::vector<value>& params,
                                        const std::vector<column>& columns);

  /// Checks that the server still answers.
  caf::error ping();

  /// The server's id of this connection (what `KILL` takes).
  uint64_t id() const;

  /// True once a call failed because the link to the server is gone.
  bool broken() const { return broken_; }

  /// True if the link broke while a COMMIT was on its way: whether the
  /// transaction took effect is unknown, so the work must not be repeated.
  bool commit_in_doubt() const { return commit_in_doubt_; }

  /// Starts a transaction; `read_only` gives a consistent snapshot for reads.
  caf::error begin(bool read_only = false);

  /// Makes the next transaction (only that one) READ COMMITTED: its plain
  /// reads see what others committed since, and its locking reads lock only
  /// the rows they return, with no gap locks (claims with SKIP LOCKED).
  caf::error read_committed_next();

  /// Commits the open transaction.
  caf::error commit();

  /// Rolls back the open transaction; a no-op on a broken connection (the
  /// server rolls back on disconnect).
  caf::error rollback();

private:
  explicit connection(st_mysql* db);

  /// Returns a prepared statement for `sql`, from the cache if possible.
  caf::expected<st_mysql_stmt*> prepare(const std::string& sql);

  /// Binds `params` and executes `stmt`, the prepared form of `sql`.
  caf::error run(const std::string& sql, st_mysql_stmt* stmt,
                 const std::vector<value>& params);

  /// Turns the connection's last error into a herald error and notes a
  /// broken link.
  caf::error fail();

  /// Same for a statement's last error; also drops it from the cache.
  caf::error fail(const std::string& sql, st_mysql_stmt* stmt);

  /// Sends a fixed control statement (no parameters, no user data).
  caf::error control(const char* sql);

  st_mysql* db_;
  std::map<std::string, st_mysql_stmt*> statements_;
  bool broken_ = false;
  bool commit_in_doubt_ = false;
};

// -- transaction --------------------------------------------------------------

/// Scope of one transaction: rolls back on destruction unless committed.
class transaction {
public:
  explicit transaction(connection& conn) : conn_(conn) {
    // nop
  }

  ~transaction();

  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  /// Starts the transaction.
  caf::error begin(bool read_only = false);

  /// Commits; afterwards the destructor does nothing.
  caf::error commit();

private:
  connection& conn_;
  bool open_ = false;
};

} // namespace herald::storage::mysql
