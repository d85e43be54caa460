// Versioned schema migrations, compiled in from storage/migrations/*.sql
// (file names `NNN_description.sql`, applied in name order).
#pragma once

#include <string>
#include <vector>

namespace herald::storage {

struct migration {
  /// File name, e.g. "001_users.sql"; its number is the version.
  const char* name;
  /// One or more SQL statements separated by ";\n".
  const char* sql;
};

/// All migrations in order.
const std::vector<migration>& migrations();

/// Splits a migration into its statements: each ends with ";" at the end of
/// a line; lines that are `--` comments are left out.
std::vector<std::string> split_statements(const std::string& sql);

} // namespace herald::storage
