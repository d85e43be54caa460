#include "storage/mysql.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "messages/error.hpp"

namespace herald::storage::mysql {

namespace {

/// MySQL 8's "interactive/wait timeout reached", absent from MariaDB's header.
constexpr unsigned er_client_interaction_timeout = 4031;

caf::error internal(std::string text) {
  return caf::make_error(ec::internal, std::move(text));
}

/// Session settings applied on every (re)connect: strict SQL so that a value
/// that does not fit is an error instead of being cut, UTC so that nothing
/// depends on the server's zone, and lock waits shorter than the client's
/// read timeout so that a lock wait surfaces as an error, not a lost link.
std::string init_command(const mysql_settings& cfg) {
  auto lock_wait = std::max<long long>(1, cfg.io_timeout.count() / 2);
  return "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,"
         "NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION',"
         " time_zone = '+00:00', innodb_lock_wait_timeout = "
         + std::to_string(lock_wait);
}

unsigned int seconds(std::chrono::seconds x) {
  return static_cast<unsigned int>(std::max<long long>(1, x.count()));
}

} // namespace

// -- errors -------------------------------------------------------------------

bool is_connection_error(unsigned errnum) {
  switch (errnum) {
  case CR_SOCKET_CREATE_ERROR:
  case CR_CONNECTION_ERROR:
  case CR_CONN_HOST_ERROR:
  case CR_IPSOCK_ERROR:
  case CR_UNKNOWN_HOST:
  case CR_SERVER_GONE_ERROR:
  case CR_SERVER_HANDSHAKE_ERR:
  case CR_SERVER_LOST:
  case CR_SSL_CONNECTION_ERROR:
  case CR_SERVER_LOST_EXTENDED:
  case CR_ERR_NET_READ:
  case CR_ERR_NET_WRITE:
  case ER_CON_COUNT_ERROR:
  case ER_SERVER_SHUTDOWN:
  case ER_ABORTING_CONNECTION:
  case ER_NET_READ_ERROR:
  case ER_NET_READ_INTERRUPTED:
  case ER_NET_ERROR_ON_WRITE:
  case ER_NET_WRITE_INTERRUPTED:
  case ER_CONNECTION_KILLED:
  case er_client_interaction_timeout:
    return true;
  default:
    return false;
  }
}

caf::error to_error(unsigned errnum, const std::string& message) {
  switch (errnum) {
  case ER_DUP_ENTRY:
    return caf::make_error(ec::conflict,
                           std::string{"duplicate entry for a unique key"});
  case ER_DATA_TOO_LONG:
  case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
  case ER_BAD_NULL_ERROR:
  case ER_WARN_DATA_OUT_OF_RANGE:
    return caf::make_error(ec::invalid_argument, message);
  case ER_LOCK_WAIT_TIMEOUT:
  case ER_LOCK_DEADLOCK:
    return caf::make_error(ec::unavailable, "the database is busy: " + message);
  default:
    break;
  }
  if (is_connection_error(errnum))
    return caf::make_error(ec::unavailable,
                           "the database cannot be reached: " + message);
  return internal("MySQL error " + std::to_string(errnum) + ": " + message);
}

// -- library ------------------------------------------------------------------

void library_init() {
  static std::once_flag done;
  std::call_once(done, [] { mysql_library_init(0, nullptr, nullptr); });
}

void thread_init() {
  library_init();
  mysql_thread_init();
}

void thread_end() {
  mysql_thread_end();
}

// -- connection ---------------------------------------------------------------

caf::expected<std::unique_ptr<connection>>
connection::open(const mysql_settings& cfg) {
  thread_init();
  MYSQL* db = mysql_init(nullptr);
  if (db == nullptr)
    return internal("mysql_init failed: out of memory");
  auto connect_timeout = seconds(cfg.connect_timeout);
  auto io_timeout = seconds(cfg.io_timeout);
  unsigned int protocol
      = cfg.socket.empty() ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET;
  my_bool off = 0;
  unsigned int no_local_infile = 0;
  auto init = init_command(cfg);
  mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  mysql_options(db, MYSQL_OPT_PROTOCOL, &protocol);
  // Reconnecting is the owner's decision: a silent reconnect would lose
  // session state and an open transaction without anyone noticing.
  mysql_options(db, MYSQL_OPT_RECONNECT, &off);
  mysql_options(db, MYSQL_OPT_LOCAL_INFILE, &no_local_infile);
  mysql_options(db, MYSQL_INIT_COMMAND, init.c_str());
  const char* host = cfg.socket.empty() ? cfg.host.c_str() : "localhost";
  const char* schema = cfg.database.empty() ? nullptr : cfg.database.c_str();
  const char* socket = cfg.socket.empty() ? nullptr : cfg.socket.c_str();
  if (mysql_real_connect(db, host, cfg.user.c_str(), cfg.password.c_str(),
                         schema, cfg.port, socket, 0)
      == nullptr) {
    auto err = to_error(mysql_errno(db), mysql_error(db));
    mysql_close(db);
    return err;
  }
  return std::unique_ptr<connection>{new connection(db)};
}

connection::connection(st_mysql* db) : db_(db) {
  // nop
}

connection::~connection() {
  for (auto& entry : statements_)
    mysql_stmt_close(entry.second);
  mysql_close(db_);
}

caf::error connection::fail() {
  auto errnum = mysql_errno(db_);
  if (is_connection_error(errnum))
    broken_ = true;
  return to_error(errnum, mysql_error(db_));
}

caf::error connection::fail(const std::string& sql, st_mysql_stmt* stmt) {
  auto errnum = mysql_stmt_errno(stmt);
  auto err = to_error(errnum, mysql_stmt_error(stmt));
  if (is_connection_error(errnum))
    broken_ = true;
  // A statement that failed may be in any state; prepare it afresh next time.
  statements_.erase(sql);
  mysql_stmt_close(stmt);
  return err;
}

caf::expected<st_mysql_stmt*> connection::prepare(const std::string& sql) {
  if (auto i = statements_.find(sql); i != statements_.end())
    return i->second;
  MYSQL_STMT* stmt = mysql_stmt_init(db_);
  if (stmt == nullptr)
    return fail();
  if (mysql_stmt_prepare(stmt, sql.data(), sql.size()) != 0) {
    auto errnum = mysql_stmt_errno(stmt);
    auto err = to_error(errnum, mysql_stmt_error(stmt));
    if (is_connection_error(errnum))
      broken_ = true;
    mysql_stmt_close(stmt);
    return err;
  }
  // Lets query() size its buffers from the stored result, so that no value
  // is ever truncated.
  my_bool update_max_length = 1;
  mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max_length);
  statements_.emplace(sql, stmt);
  return stmt;
}

caf::error connection::run(const std::string& sql, st_mysql_stmt* stmt,
                           const std::vector<value>& params) {
  auto count = mysql_stmt_param_count(stmt);
  if (count != params.size())
    return internal("statement takes " + std::to_string(count)
                    + " parameters, got " + std::to_string(params.size()));
  std::vector<MYSQL_BIND> binds(count);
  std::vector<unsigned long> lengths(count);
  for (size_t i = 0; i < count; ++i) {
    auto& b = binds[i];
    auto& x = params[i];
    if (auto u64 = std::get_if<uint64_t>(&x)) {
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = const_cast<uint64_t*>(u64);
      b.is_unsigned = 1;
    } else if (auto i64 = std::get_if<int64_t>(&x)) {
      b.buffer_type = MYSQL_TYPE_LONGLONG;
      b.buffer = const_cast<int64_t*>(i64);
    } else if (auto u32 = std::get_if<uint32_t>(&x)) {
      b.buffer_type = MYSQL_TYPE_LONG;
      b.buffer = const_cast<uint32_t*>(u32);
      b.is_unsigned = 1;
    } else if (auto str = std::get_if<std::string>(&x)) {
      lengths[i] = static_cast<unsigned long>(str->size());
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = const_cast<char*>(str->data());
      b.buffer_length = lengths[i];
      b.length = &lengths[i];
    } else {
      b.buffer_type = MYSQL_TYPE_NULL;
    }
  }
  if (count > 0 && mysql_stmt_bind_param(stmt, binds.data()) != 0)
    return caf::make_error(ec::internal, std::string{mysql_stmt_error(stmt)});
  if (mysql_stmt_execute(stmt) != 0)
    return fail(sql, stmt);
  return caf::none;
}

caf::expected<outcome> connection::execute(const std::string& sql,
                                           const std::vector<value>& params) {
  if (broken_)
    return to_error(CR_SERVER_GONE_ERROR, "connection lost earlier");
  auto stmt = prepare(sql);
  if (!stmt)
    return std::move(stmt.error());
  if (auto err = run(sql, *stmt, params))
    return err;
  outcome out{mysql_stmt_affected_rows(*stmt), mysql_stmt_insert_id(*stmt)};
  if (mysql_stmt_field_count(*stmt) > 0) {
    // A statement with a result set run for its effect: discard the rows.
    if (mysql_stmt_store_result(*stmt) != 0)
      return fail(sql, *stmt);
    mysql_stmt_free_result(*stmt);
  }
  return out;
}

caf::expected<std::vector<row>>
connection::query(const std::string& sql, const std::vector<value>& params,
                  const std::vector<column>& columns) {
  if (broken_)
    return to_error(CR_SERVER_GONE_ERROR, "connection lost earlier");
  auto prepared = prepare(sql);
  if (!prepared)
    return std::move(prepared.error());
  auto stmt = *prepared;
  auto n = mysql_stmt_field_count(stmt);
  if (n != columns.size())
    return internal("query returns " + std::to_string(n) + " columns, "
                    + std::to_string(columns.size()) + " expected");
  if (auto err = run(sql, stmt, params))
    return err;
  if (mysql_stmt_store_result(stmt) != 0)
    return fail(sql, stmt);
  // Buffers: numbers in a 64-bit slot each, text sized to the longest value.
  std::vector<MYSQL_BIND> binds(n);
  std::vector<uint64_t> numbers(n);
  std::vector<std::vector<char>> texts(n);
  std::vector<unsigned long> lengths(n);
  std::vector<my_bool> nulls(n);
  std::vector<my_bool> errors(n);
  MYSQL_RES* meta = mysql_stmt_result_metadata(stmt);
  for (size_t i = 0; i < n; ++i) {
    auto& b = binds[i];
    b.length = &lengths[i];
    b.is_null = &nulls[i];
    b.error = &errors[i];
    if (columns[i] == column::text) {
      auto max_length = meta != nullptr ? meta->fields[i].max_length : 0;
      texts[i].resize(std::max<unsigned long>(1, max_length));
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = texts[i].data();
      b.buffer_length = static_cast<unsigned long>(texts[i].size());
    } else {
      b.buffer_type
          = columns[i] == column::u32 ? MYSQL_TYPE_LONG : MYSQL_TYPE_LONGLONG;
      b.buffer = &numbers[i];
      b.is_unsigned = columns[i] == column::i64 ? 0 : 1;
    }
  }
  if (meta != nullptr)
    mysql_free_result(meta);
  std::vector<row> rows;
  caf::error err;
  if (mysql_stmt_bind_result(stmt, binds.data()) != 0)
    err = internal(mysql_stmt_error(stmt));
  while (!err) {
    auto rc = mysql_stmt_fetch(stmt);
    if (rc == MYSQL_NO_DATA)
      break;
    if (rc == 1)
      return fail(sql, stmt);
    if (rc == MYSQL_DATA_TRUNCATED) {
      err = internal("a column of `" + sql + "` does not fit its C++ type");
      break;
    }
    row r(n);
    for (size_t i = 0; i < n; ++i) {
      if (nulls[i])
        continue;
      switch (columns[i]) {
      case column::u64:
        r[i] = numbers[i];
        break;
      case column::i64:
        r[i] = static_cast<int64_t>(numbers[i]);
        break;
      case column::u32: {
        uint32_t x = 0;
        std::memcpy(&x, &numbers[i], sizeof(x));
        r[i] = x;
        break;
      }
      case column::text:
        r[i] = std::string(texts[i].data(), lengths[i]);
        break;
      }
    }
    rows.push_back(std::move(r));
  }
  mysql_stmt_free_result(stmt);
  if (err)
    return err;
  return rows;
}

caf::error connection::ping() {
  if (broken_)
    return to_error(CR_SERVER_GONE_ERROR, "connection lost earlier");
  return mysql_ping(db_) == 0 ? caf::none : fail();
}

uint64_t connection::id() const {
  return mysql_thread_id(db_);
}

caf::error connection::control(const char* sql) {
  if (broken_)
    return to_error(CR_SERVER_GONE_ERROR, "connection lost earlier");
  return mysql_real_query(db_, sql, std::strlen(sql)) == 0 ? caf::none : fail();
}

caf::error connection::begin(bool read_only) {
  return control(read_only ? "START TRANSACTION READ ONLY"
                           : "START TRANSACTION");
}

caf::error connection::read_committed_next() {
  return control("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
}

caf::error connection::commit() {
  if (auto err = control("COMMIT")) {
    if (!broken_)
      return err;
    commit_in_doubt_ = true;
    return caf::make_error(ec::unavailable,
                           std::string{"the connection to the database was "
                                       "lost during commit; the outcome is "
                                       "unknown"});
  }
  return caf::none;
}

caf::error connection::rollback() {
  if (broken_)
    return caf::none;
  return control("ROLLBACK");
}

// -- transaction --------------------------------------------------------------

transaction::~transaction() {
  if (open_)
    conn_.rollback();
}

caf::error transaction::begin(bool read_only) {
  auto err = conn_.begin(read_only);
  open_ = !err;
  return err;
}

caf::error transaction::commit() {
  auto err = conn_.commit();
  if (!err)
    open_ = false;
  return err;
}

} // namespace herald::storage::mysql
