#include "storage/named_lock.hpp"

#include <variant>

namespace herald::storage::mysql {

named_lock::named_lock(connection& db, std::string name)
    : db_(db), name_(std::move(name)) {
  // nop
}

named_lock::~named_lock() {
  // Closing the connection would release the lock too; this is the polite
  // way.
  if (held_ && !db_.broken())
    db_.query("SELECT RELEASE_LOCK(?)", {name_}, {column::i64});
}

caf::expected<bool> named_lock::acquire(int64_t seconds) {
  auto rows
      = db_.query("SELECT GET_LOCK(?, ?)", {name_, seconds}, {column::i64});
  if (!rows)
    return std::move(rows.error());
  held_ = !rows->empty() && std::holds_alternative<int64_t>(rows->front()[0])
          && std::get<int64_t>(rows->front()[0]) == 1;
  return held_;
}

} // namespace herald::storage::mysql
