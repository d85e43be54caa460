// Schema migrations: applies the compiled-in SQL files not yet recorded in
// `schema_migrations`, one node at a time.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "messages/digest.hpp"
#include "messages/error.hpp"
#include "storage/migrations.hpp"
#include "storage/mysql.hpp"
#include "storage/mysql_storage.hpp"
#include "storage/named_lock.hpp"

namespace herald::storage {

namespace {

using mysql::column;

/// Server-wide name of the lock that serializes migrating nodes.
constexpr const char* lock_name = "herald_migrations";

/// Seconds a node waits for another node's migrations before giving up.
constexpr int64_t lock_wait = 60;

/// A compiled-in migration with what identifies it in the database.
struct compiled {
  const migration* source;
  int64_t version;
  std::string checksum;
};

caf::error fault(std::string text) {
  return caf::make_error(ec::internal, std::move(text));
}

/// Reads the version from a name like "001_users.sql".
caf::expected<std::vector<compiled>> compiled_migrations() {
  std::vector<compiled> out;
  for (auto& m : migrations()) {
    int64_t version = 0;
    auto name = m.name;
    size_t i = 0;
    for (; std::isdigit(static_cast<unsigned char>(name[i])); ++i)
      version = version * 10 + (name[i] - '0');
    if (i == 0 || name[i] != '_' || version == 0)
      return fault(std::string{"migration file name "} + name
                   + " does not start with a version like 001_");
    if (!out.empty() && out.back().version >= version)
      return fault(std::string{"migration "} + name
                   + " does not have a version above its predecessor");
    out.push_back(compiled{&m, version, sha256_hex(m.sql)});
  }
  return out;
}

/// Applies what is missing; the caller holds the migration lock.
caf::error apply_pending(mysql::connection& db) {
  auto wanted = compiled_migrations();
  if (!wanted)
    return std::move(wanted.error());
  auto created = db.execute(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
      "checksum CHAR(64) CHARACTER SET ascii NOT NULL, "
      "applied_at BIGINT NOT NULL"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
  if (!created)
    return annotate(created.error(), "cannot create schema_migrations");
  auto rows = db.query("SELECT version, name, checksum FROM schema_migrations "
                       "ORDER BY version",
                       {}, {column::i64, column::text, column::text});
  if (!rows)
    return annotate(rows.error(), "cannot read schema_migrations");
  std::map<int64_t, std::pair<std::string, std::string>> applied;
  for (auto& r : *rows)
    applied.emplace(std::get<int64_t>(r[0]),
                    std::make_pair(std::get<std::string>(r[1]),
                                   std::get<std::string>(r[2])));
  for (auto& [version, recorded] : applied) {
    auto known = std::any_of(wanted->begin(), wanted->end(),
                             [v = version](auto& m) { return m.version == v; });
    if (!known)
      return fault("the database has migration " + recorded.first
                   + " which this build does not know; refusing to start "
                     "(is a newer herald using this database?)");
  }
  for (auto& m : *wanted) {
    auto i = applied.find(m.version);
    if (i != applied.end()) {
      if (i->second.second != m.checksum)
        return fault(std::string{"migration "} + m.source->name
                     + " was changed after it was applied (recorded sha256 "
                     + i->second.second + ", compiled " + m.checksum
                     + "); restore the file and add a new migration instead");
      continue;
    }
    // DDL commits implicitly, so a file cannot be one transaction: the record
    // is written only after every statement succeeded.
    auto statements = split_statements(m.source->sql);
    for (size_t k = 0; k < statements.size(); ++k)
      if (auto res = db.execute(statements[k]); !res)
        return annotate(res.error(), std::string{"migration "} + m.source->name
                                         + ", statement "
                                         + std::to_string(k + 1));
    auto recorded
        = db.execute("INSERT INTO schema_migrations (version, name, "
                     "checksum, applied_at) VALUES (?, ?, ?, "
                     "UNIX_TIMESTAMP())",
                     {m.version, std::string{m.source->name}, m.checksum});
    if (!recorded)
      return annotate(recorded.error(),
                      std::string{"cannot record migration "} + m.source->name);
  }
  return caf::none;
}

} // namespace

/// Splits a file into statements: each ends with ";" at the end of a line.
/// Lines that are `--` comments are left out.
std::vector<std::string> split_statements(const std::string& sql) {
  std::vector<std::string> out;
  std::string current;
  auto flush = [&] {
    auto first = current.find_first_not_of(" \t\r\n");
    if (first != std::string::npos)
      out.push_back(current.substr(first));
    current.clear();
  };
  size_t pos = 0;
  while (pos < sql.size()) {
    auto end = sql.find('\n', pos);
    if (end == std::string::npos)
      end = sql.size();
    auto line = sql.substr(pos, end - pos);
    pos = end + 1;
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line.compare(first, 2, "--") == 0)
      continue;
    auto last = line.find_last_not_of(" \t\r");
    if (line[last] == ';') {
      current += line.substr(0, last);
      flush();
    } else {
      current += line;
      current += '\n';
    }
  }
  flush();
  return out;
}

caf::error migrate(const mysql_settings& cfg) {
  if (cfg.database.empty())
    return caf::make_error(ec::invalid_argument,
                           std::string{"no database configured to migrate"});
  auto opened = mysql::connection::open(cfg);
  if (!opened)
    return annotate(opened.error(), "cannot migrate " + describe(cfg));
  auto& db = **opened;
  mysql::named_lock lock{db, lock_name};
  auto granted = lock.acquire(lock_wait);
  if (!granted)
    return annotate(granted.error(), "cannot take the migration lock");
  if (!*granted)
    return caf::make_error(ec::unavailable,
                           "waited " + std::to_string(lock_wait)
                               + " s for lock " + lock_name
                               + " held by another node's migrations");
  return apply_pending(db);
}

} // namespace herald::storage
