#include "storage/throttle.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "messages/error.hpp"

namespace herald::storage {

namespace {

using mysql::column;

/// Rows past their forget_at one hit deletes at most.
constexpr uint64_t prune_batch = 100;

/// Times a hit runs again after the server chose it as a deadlock victim
/// (it rolled back entirely, so running again cannot count twice).
constexpr int deadlock_retries = 3;

/// forget_at of a row a hit has only just locked: never pruned, and never
/// committed as such (the hit either updates it or rolls back).
constexpr int64_t never = std::numeric_limits<int64_t>::max();

/// A key's stored state.
struct row_state {
  uint64_t events = 0;
  int64_t last_at = 0;
  int64_t blocked_until = 0;
  throttle_rule rule;
};

bool is_deadlock(const caf::error& err) {
  return err.category() == caf::atom("herald")
         && static_cast<ec>(err.code()) == ec::unavailable
         && message_of(err).find("Deadlock") != std::string::npos;
}

/// "(UNHEX(?), UNHEX(?), ...)" for `n` hashes.
std::string hash_list(size_t n) {
  std::string out = "(";
  for (size_t i = 0; i < n; ++i)
    out += i == 0 ? "UNHEX(?)" : ", UNHEX(?)";
  return out + ")";
}

/// Sorted, distinct hashes of `keys`: the order rows are locked in.
std::vector<std::string> hashes_of(const std::vector<std::string>& keys) {
  std::set<std::string> hs;
  for (auto& k : keys)
    hs.insert(throttle_key_hash(k));
  return {hs.begin(), hs.end()};
}

/// Deletes a few rows that no longer matter. Its failure costs nothing but
/// tidiness, so only a broken link is reported (the hit could not run).
caf::error prune(mysql::connection& db) {
  auto res = db.execute("DELETE FROM throttle WHERE forget_at <= "
                        "UNIX_TIMESTAMP() ORDER BY forget_at LIMIT ?",
                        {prune_batch});
  if (!res && db.broken())
    return std::move(res.error());
  return caf::none;
}

/// Starts a READ COMMITTED transaction: rows are locked one by one by key,
/// without the gap locks of REPEATABLE READ that make inserters wait for
/// each other.
caf::error begin(mysql::transaction& tx, mysql::connection& db) {
  auto set = db.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
  if (!set)
    return std::move(set.error());
  return tx.begin();
}

/// One attempt of a hit; `by_hash` is sorted by hash.
caf::expected<int64_t>
hit_once(mysql::connection& db,
         const std::map<std::string, const throttle_rule*>& by_hash) {
  mysql::transaction tx{db};
  if (auto err = begin(tx, db))
    return err;
  // Make every key's row exist and lock it, in hash order. A row inserted
  // here either gets its state below or goes away with the rollback.
  std::vector<mysql::value> hashes;
  for (auto& [hash, rule] : by_hash) {
    auto locked = db.execute(
        "INSERT INTO throttle (key_hash, events, last_at, blocked_until, "
        "threshold, increment_s, max_wait_s, window_s, forget_at) VALUES "
        "(UNHEX(?), 0, 0, 0, 1, 0, 0, 0, ?) "
        "ON DUPLICATE KEY UPDATE events = events",
        {hash, never});
    if (!locked)
      return std::move(locked.error());
    hashes.emplace_back(hash);
  }
  auto rows = db.query(
      "SELECT LOWER(HEX(key_hash)), events, last_at, blocked_until, "
      "UNIX_TIMESTAMP() FROM throttle WHERE key_hash IN "
          + hash_list(hashes.size()) + " FOR UPDATE",
      hashes,
      {column::text, column::u64, column::i64, column::i64, column::i64});
  if (!rows)
    return std::move(rows.error());
  if (rows->size() != by_hash.size())
    return caf::make_error(ec::internal, "throttle: a locked row is missing");
  std::map<std::string, row_state> state;
  int64_t now = 0;
  int64_t wait = 0;
  for (auto& r : *rows) {
    auto& s = state[std::get<std::string>(r[0])];
    s.events = std::get<uint64_t>(r[1]);
    s.last_at = std::get<int64_t>(r[2]);
    s.blocked_until = std::get<int64_t>(r[3]);
    now = std::get<int64_t>(r[4]);
  }
  for (auto& [hash, s] : state)
    wait = std::max(wait, s.blocked_until - now);
  if (wait > 0)
    return wait; // the transaction rolls back: nothing counted
  for (auto& [hash, rule] : by_hash) {
    auto& s = state[hash];
    auto events = s.events == 0 || now - s.last_at >= rule->window
                      ? uint64_t{1}
                      : s.events + 1;
    auto blocked_until = now + throttle_wait(*rule, events);
    auto forget_at = std::max(now + rule->window, blocked_until);
    auto updated = db.execute(
        "UPDATE throttle SET events = ?, last_at = ?, blocked_until = ?, "
        "threshold = ?, increment_s = ?, max_wait_s = ?, window_s = ?, "
        "forget_at = ? WHERE key_hash = UNHEX(?)",
        {events, now, blocked_until, rule->threshold, rule->increment,
         rule->max_wait, rule->window, forget_at, hash});
    if (!updated)
      return std::move(updated.error());
  }
  if (auto err = tx.commit())
    return err;
  return int64_t{0};
}

} // namespace

caf::expected<int64_t> throttle_hit(mysql::connection& db,
                                    const std::vector<throttle_rule>& rules) {
  if (auto err = check_throttle_rules(rules))
    return err;
  std::map<std::string, const throttle_rule*> by_hash;
  for (auto& r : rules)
    by_hash.emplace(throttle_key_hash(r.key), &r);
  if (auto err = prune(db))
    return err;
  for (int attempt = 0;; ++attempt) {
    auto res = hit_once(db, by_hash);
    if (res || attempt == deadlock_retries || db.broken()
        || !is_deadlock(res.error()))
      return res;
  }
}

caf::error throttle_undo(mysql::connection& db,
                         const std::vector<std::string>& keys) {
  if (auto err = check_throttle_keys(keys))
    return err;
  auto hashes = hashes_of(keys);
  std::vector<mysql::value> params{hashes.begin(), hashes.end()};
  for (int attempt = 0;; ++attempt) {
    mysql::transaction tx{db};
    auto res = [&]() -> caf::error {
      if (auto err = begin(tx, db))
        return err;
      auto rows = db.query(
          "SELECT LOWER(HEX(key_hash)), events, last_at, threshold, "
          "increment_s, max_wait_s, window_s FROM throttle WHERE key_hash IN "
              + hash_list(params.size()) + " FOR UPDATE",
          params,
          {column::text, column::u64, column::i64, column::u32, column::i64,
           column::i64, column::i64});
      if (!rows)
        return std::move(rows.error());
      for (auto& r : *rows) {
        auto& hash = std::get<std::string>(r[0]);
        auto events = std::get<uint64_t>(r[1]);
        if (events <= 1) {
          auto gone = db.execute(
              "DELETE FROM throttle WHERE key_hash = UNHEX(?)", {hash});
          if (!gone)
            return std::move(gone.error());
          continue;
        }
        throttle_rule rule;
        auto last_at = std::get<int64_t>(r[2]);
        rule.threshold = std::get<uint32_t>(r[3]);
        rule.increment = std::get<int64_t>(r[4]);
        rule.max_wait = std::get<int64_t>(r[5]);
        rule.window = std::get<int64_t>(r[6]);
        --events;
        auto blocked_until = last_at + throttle_wait(rule, events);
        auto forget_at = std::max(last_at + rule.window, blocked_until);
        auto updated = db.execute(
            "UPDATE throttle SET events = ?, blocked_until = ?, forget_at = ? "
            "WHERE key_hash = UNHEX(?)",
            {events, blocked_until, forget_at, hash});
        if (!updated)
          return std::move(updated.error());
      }
      return tx.commit();
    }();
    if (!res || attempt == deadlock_retries || db.broken() || !is_deadlock(res))
      return res;
  }
}

caf::error throttle_clear(mysql::connection& db,
                          const std::vector<std::string>& keys) {
  if (auto err = check_throttle_keys(keys))
    return err;
  auto hashes = hashes_of(keys);
  std::vector<mysql::value> params{hashes.begin(), hashes.end()};
  // One statement: a transaction of its own.
  auto res = db.execute("DELETE FROM throttle WHERE key_hash IN "
                            + hash_list(params.size()),
                        params);
  if (!res)
    return std::move(res.error());
  return caf::none;
}

} // namespace herald::storage
