// Throttling counters on one MySQL connection, shared by every node through
// the `throttle` table (migration 006). Each operation is one transaction
// with the rows of its keys locked in key-hash order, so concurrent hits on
// a key from any node count exactly and never deadlock each other. Only the
// SHA-256 of a key is stored. Time is the server's clock (UNIX_TIMESTAMP()),
// one clock for all nodes. Blocking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/throttle.hpp"
#include "storage/mysql.hpp"

namespace herald::storage {

/// If a rule's key is blocked, answers the longest remaining wait (seconds,
/// > 0) and changes nothing; else counts one event on every rule and answers
/// 0 (see storage_actor's throttle_hit). First deletes up to 100 rows that
/// no longer matter (past their forget_at), outside the transaction.
caf::expected<int64_t> throttle_hit(mysql::connection& db,
                                    const std::vector<throttle_rule>& rules);

/// Takes back one event of each key and recomputes its block; forgets a key
/// whose count drops to 0. Unknown keys are ignored.
caf::error throttle_undo(mysql::connection& db,
                         const std::vector<std::string>& keys);

/// Forgets the keys' counts and blocks.
caf::error throttle_clear(mysql::connection& db,
                          const std::vector<std::string>& keys);

} // namespace herald::storage
