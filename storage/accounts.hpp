// The account operations on one MySQL connection, each one unit of work (a
// transaction where it writes). The storage workers call these; they block.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/user.hpp"
#include "storage/mysql.hpp"
#include "storage/outbox.hpp"

namespace herald::storage {

/// Inserts an account and answers it as stored (id, timestamps);
/// `conflict` if the email is taken. Writes user.created from `origin` in the
/// same transaction.
caf::expected<account> insert_account(mysql::connection& db,
                                      const event_origin& origin,
                                      const new_account& x);

/// Reads an account by id; `not_found` if there is none.
caf::expected<account> select_account(mysql::connection& db, uint64_t id);

/// Reads an account by id and locks its row until the end of the caller's
/// transaction; `not_found` if there is none.
caf::expected<account> lock_account(mysql::connection& db, uint64_t id);

/// Reads an account by email, compared byte for byte; `not_found` if none.
caf::expected<account> select_account_by_email(mysql::connection& db,
                                               const std::string& email);

/// Reads up to `limit` users with id > `after`, ordered by id, with one
/// range read of the primary key (limit + 1 rows: the extra one only tells
/// whether there is a next page). `limit` 0 is `invalid_argument`.
caf::expected<user_page> list_users(mysql::connection& db, uint64_t after,
                                    uint32_t limit);

/// Applies `patch` in one transaction (the row locked first) and answers the
/// new state; `not_found`, or `conflict` with nothing changed. Writes, from
/// `origin`, user.updated if name, email or role took a new value, and
/// user.password_changed if the hash took a new value together with a token
/// version bump (a rehash at login changes only the hash: no event).
caf::expected<account> update_account(mysql::connection& db,
                                      const event_origin& origin, uint64_t id,
                                      const account_patch& patch);

/// Deletes an account (its reset tokens go by cascade); `not_found` if there
/// is none. Writes user.deleted from `origin` in the same transaction.
caf::error delete_account(mysql::connection& db, const event_origin& origin,
                          uint64_t id);

/// Estimates the number of accounts from InnoDB's table statistics
/// (information_schema.TABLES.TABLE_ROWS): O(1), where COUNT(*) reads the
/// whole index. It can be off by a good part (InnoDB samples pages and
/// updates its statistics in the background after about 10% of the rows
/// changed); fine for a status display, not for arithmetic.
caf::expected<uint64_t> estimate_accounts(mysql::connection& db);

} // namespace herald::storage
