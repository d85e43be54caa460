#include "storage/accounts.hpp"

#include <nlohmann/json.hpp>

#include "messages/error.hpp"
#include "messages/event.hpp"
#include "storage/outbox.hpp"

namespace herald::storage {

namespace {

using mysql::column;

/// Every read of an account selects these columns in this order.
constexpr const char* account_columns
    = "SELECT id, name, email, role, token_version, created_at, updated_at, "
      "password_hash FROM users ";

const std::vector<column> account_types{
    column::u64, column::text, column::text, column::text,
    column::u32, column::i64,  column::i64,  column::text,
};

account to_account(mysql::row& r) {
  account x;
  x.profile.id = std::get<uint64_t>(r[0]);
  x.profile.name = std::move(std::get<std::string>(r[1]));
  x.profile.email = std::move(std::get<std::string>(r[2]));
  x.profile.role = std::move(std::get<std::string>(r[3]));
  x.profile.token_version = std::get<uint32_t>(r[4]);
  x.profile.created_at = std::get<int64_t>(r[5]);
  x.profile.updated_at = std::get<int64_t>(r[6]);
  x.password_hash = std::move(std::get<std::string>(r[7]));
  return x;
}

caf::error missing(uint64_t id) {
  return caf::make_error(ec::not_found,
                         "no user with id " + std::to_string(id));
}

/// The only unique key besides the id is the email.
caf::error explain(caf::error err) {
  if (err.category() == caf::atom("herald")
      && static_cast<ec>(err.code()) == ec::conflict)
    return caf::make_error(ec::conflict,
                           std::string{"email is already registered"});
  return err;
}

caf::expected<account> select_one(mysql::connection& db,
                                  const std::string& where,
                                  const mysql::value& key,
                                  caf::error if_missing) {
  auto rows = db.query(account_columns + where, {key}, account_types);
  if (!rows)
    return std::move(rows.error());
  if (rows->empty())
    return if_missing;
  return to_account(rows->front());
}

/// Writes the events of an update from the states before and after it.
caf::error write_update_events(mysql::connection& db,
                               const event_origin& origin,
                               const account& before, const account& after,
                               const account_patch& patch) {
  auto& x = before.profile;
  auto& y = after.profile;
  auto changed = nlohmann::json::array();
  if (x.name != y.name)
    changed.push_back("name");
  if (x.email != y.email)
    changed.push_back("email");
  if (x.role != y.role)
    changed.push_back("role");
  if (!changed.empty()) {
    nlohmann::json data{{"user_id", y.id},
                        {"name", y.name},
                        {"email", y.email},
                        {"role", y.role},
                        {"changed", changed}};
    if (auto err = write_event(db, origin, topic_user_updated, y.id, data))
      return err;
  }
  if (patch.bump_token_version && before.password_hash != after.password_hash) {
    nlohmann::json data{
        {"user_id", y.id}, {"name", y.name}, {"email", y.email}};
    if (auto err = write_event(db, origin, topic_password_changed, y.id, data))
      return err;
  }
  return caf::none;
}

} // namespace

caf::expected<account> insert_account(mysql::connection& db,
                                      const event_origin& origin,
                                      const new_account& x) {
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  auto res = db.execute("INSERT INTO users (name, email, role, password_hash, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, "
                        "UNIX_TIMESTAMP(), UNIX_TIMESTAMP())",
                        {x.name, x.email, x.role, x.password_hash});
  if (!res)
    return explain(std::move(res.error()));
  auto acc = select_account(db, res->insert_id);
  if (!acc)
    return acc;
  auto& p = acc->profile;
  nlohmann::json data{{"user_id", p.id},
                      {"name", p.name},
                      {"email", p.email},
                      {"role", p.role}};
  if (auto err = write_event(db, origin, topic_user_created, p.id, data))
    return err;
  if (auto err = tx.commit())
    return err;
  return acc;
}

caf::expected<account> select_account(mysql::connection& db, uint64_t id) {
  return select_one(db, "WHERE id = ?", id, missing(id));
}

caf::expected<account> lock_account(mysql::connection& db, uint64_t id) {
  return select_one(db, "WHERE id = ? FOR UPDATE", id, missing(id));
}

caf::expected<account> select_account_by_email(mysql::connection& db,
                                               const std::string& email) {
  return select_one(
      db, "WHERE email = ?", email,
      caf::make_error(ec::not_found, std::string{"no user with email"}));
}

caf::expected<user_page> list_users(mysql::connection& db, uint64_t after,
                                    uint32_t limit) {
  if (limit == 0)
    return caf::make_error(ec::invalid_argument,
                           std::string{"limit must be at least 1"});
  auto rows = db.query(std::string{account_columns}
                           + "WHERE id > ? ORDER BY id LIMIT ?",
                       {after, uint64_t{limit} + 1}, account_types);
  if (!rows)
    return std::move(rows.error());
  user_page result;
  auto more = rows->size() > limit;
  if (more)
    rows->pop_back();
  result.items.reserve(rows->size());
  for (auto& r : *rows)
    result.items.push_back(to_account(r).profile);
  if (more)
    result.next = result.items.back().id;
  return result;
}

caf::expected<account> update_account(mysql::connection& db,
                                      const event_origin& origin, uint64_t id,
                                      const account_patch& patch) {
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  auto before = lock_account(db, id);
  if (!before)
    return before;
  if (!patch.only_if_hash.empty()
      && before->password_hash != patch.only_if_hash)
    return caf::make_error(ec::conflict,
                           std::string{"the password changed meanwhile"});
  // Column names are fixed text; every value goes through a placeholder.
  std::string sql = "UPDATE users SET ";
  std::vector<mysql::value> params;
  auto set = [&](bool wanted, const char* assignment, const std::string& x) {
    if (wanted) {
      sql += assignment;
      params.emplace_back(x);
    }
  };
  set(patch.set_name, "name = ?, ", patch.name);
  set(patch.set_email, "email = ?, ", patch.email);
  set(patch.set_password_hash, "password_hash = ?, ", patch.password_hash);
  set(patch.set_role, "role = ?, ", patch.role);
  if (patch.bump_token_version)
    sql += "token_version = token_version + 1, ";
  sql += "updated_at = UNIX_TIMESTAMP() WHERE id = ?";
  params.emplace_back(id);
  if (auto res = db.execute(sql, params); !res)
    return explain(std::move(res.error()));
  auto acc = select_account(db, id);
  if (!acc)
    return acc;
  if (auto err = write_update_events(db, origin, *before, *acc, patch))
    return err;
  if (auto err = tx.commit())
    return err;
  return acc;
}

caf::error delete_account(mysql::connection& db, const event_origin& origin,
                          uint64_t id) {
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  auto acc = lock_account(db, id);
  if (!acc)
    return std::move(acc.error());
  auto res = db.execute("DELETE FROM users WHERE id = ?", {id});
  if (!res)
    return std::move(res.error());
  if (res->affected_rows == 0)
    return missing(id);
  nlohmann::json data{{"user_id", id}, {"email", acc->profile.email}};
  if (auto err = write_event(db, origin, topic_user_deleted, id, data))
    return err;
  return tx.commit();
}

caf::expected<uint64_t> estimate_accounts(mysql::connection& db) {
  // With both names given, the server opens only this table's statistics
  // (innodb_stats_on_metadata is off by default: nothing is recomputed).
  auto rows = db.query("SELECT TABLE_ROWS FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                       {std::string{"users"}}, {column::u64});
  if (!rows)
    return std::move(rows.error());
  if (rows->empty())
    return caf::make_error(ec::internal,
                           std::string{"no statistics for table users"});
  // NULL (no statistics yet) counts as none.
  if (auto n = std::get_if<uint64_t>(&rows->front()[0]))
    return *n;
  return uint64_t{0};
}

} // namespace herald::storage
