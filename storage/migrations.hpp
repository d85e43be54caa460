// Versioned schema migrations, compiled in from storage/migrations/*.sql
// (file names `NNN_description.sql`, applied in name order).
#pragma once

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

} // namespace herald::storage
