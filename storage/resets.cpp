#include "storage/resets.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "messages/digest.hpp"
#include "messages/error.hpp"
#include "storage/accounts.hpp"
#include "storage/named_lock.hpp"
#include "storage/outbox.hpp"

namespace herald::storage {

namespace {

using mysql::column;

/// The window of the rate limit, in seconds.
constexpr int64_t window = 3600;

/// Stale request rows one reset request prunes at most.
constexpr uint32_t prune_batch = 100;

/// Seconds a request waits for another request of the same email.
constexpr int64_t lock_wait = 10;

caf::error fault(ec code, const char* text) {
  return caf::make_error(code, std::string{text});
}

bool is(const caf::error& err, ec code) {
  return err.category() == caf::atom("herald")
         && static_cast<ec>(err.code()) == code;
}

/// True for 64 lower-case hex digits, the only form a token hash takes.
bool is_token_hash(const std::string& x) {
  return x.size() == 64 && std::all_of(x.begin(), x.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string lower_ascii(std::string x) {
  for (auto& c : x)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return x;
}

/// State of a reset row as the checks need it.
struct reset_row {
  uint64_t user_id = 0;
  bool used = false;
  bool voided = false;
  bool expired = false;
};

/// Reads the reset row of `hash`, locked with `suffix` " FOR UPDATE" or not.
caf::expected<reset_row>
read_reset(mysql::connection& db, const std::string& hash, const char* suffix) {
  if (!is_token_hash(hash))
    return fault(ec::not_found, "unknown reset token");
  auto rows
      = db.query(std::string{"SELECT user_id, used_at IS NOT NULL, "
                             "voided_at IS NOT NULL, expires_at <= "
                             "UNIX_TIMESTAMP() FROM password_resets "
                             "WHERE token_hash = ?"}
                     + suffix,
                 {hash}, {column::u64, column::u64, column::u64, column::u64});
  if (!rows)
    return std::move(rows.error());
  if (rows->empty())
    return fault(ec::not_found, "unknown reset token");
  auto& r = rows->front();
  return reset_row{std::get<uint64_t>(r[0]), std::get<uint64_t>(r[1]) != 0,
                   std::get<uint64_t>(r[2]) != 0,
                   std::get<uint64_t>(r[3]) != 0};
}

/// The checks, in the order the codes are documented.
caf::error usable(const reset_row& r) {
  if (r.used)
    return fault(ec::already_used, "reset token was used already");
  if (r.voided)
    return fault(ec::revoked, "reset token was voided");
  if (r.expired)
    return fault(ec::expired, "reset token expired");
  return caf::none;
}

} // namespace

caf::error request_reset(mysql::connection& db, const event_origin& origin,
                         const reset_ticket& t) {
  auto email_hash = sha256_hex(lower_ascii(t.email));
  // Named locks have at most 64 characters; 48 hex digits of the hash keep
  // emails apart well enough (a collision only makes two emails wait).
  // The guard outlives the transaction so that the next request of this
  // email sees its commit.
  mysql::named_lock lock{db, "herald_reset_" + email_hash.substr(0, 48)};
  auto locked = lock.acquire(lock_wait);
  if (!locked)
    return std::move(locked.error());
  if (!*locked)
    return fault(ec::unavailable, "the database is busy: waited too long "
                                  "for another reset request");
  // Pruning is housekeeping for every email, outside the transaction so that
  // its locks on old rows last one statement only.
  auto pruned = db.execute("DELETE FROM reset_requests WHERE requested_at <= "
                           "UNIX_TIMESTAMP() - ? ORDER BY requested_at LIMIT ?",
                           {window, prune_batch});
  if (!pruned)
    return std::move(pruned.error());
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  // Known and unknown emails run the same statements up to the user lookup;
  // only a known email adds the event and the request row.
  auto counted = db.query("SELECT COUNT(*) FROM reset_requests WHERE "
                          "email_hash = ? AND requested_at > "
                          "UNIX_TIMESTAMP() - ?",
                          {email_hash, window}, {column::u64});
  if (!counted)
    return std::move(counted.error());
  auto recent = counted->empty() ? 0 : std::get<uint64_t>(counted->front()[0]);
  if (recent >= t.max_per_hour)
    return fault(ec::rate_limited,
                 "too many reset requests for this email; try again later");
  auto recorded = db.execute("INSERT INTO reset_requests (email_hash, "
                             "requested_at) VALUES (?, UNIX_TIMESTAMP())",
                             {email_hash});
  if (!recorded)
    return std::move(recorded.error());
  // Shared lock: the user cannot vanish before the request row refers to it.
  auto users = db.query("SELECT id, name, email FROM users WHERE email = ? "
                        "LOCK IN SHARE MODE",
                        {t.email}, {column::u64, column::text, column::text});
  if (!users)
    return std::move(users.error());
  if (!users->empty()) {
    auto& u = users->front();
    auto id = std::get<uint64_t>(u[0]);
    nlohmann::json data{{"user_id", id},
                        {"name", std::get<std::string>(u[1])},
                        {"email", std::get<std::string>(u[2])},
                        {"expires_at", t.expires_at}};
    if (auto err = write_event(db, origin, topic_reset_requested, id, data))
      return err;
    // write_event does not answer the id it made; the outbox row it added is
    // this connection's last insert.
    auto written = db.query("SELECT event_id FROM outbox "
                            "WHERE seq = LAST_INSERT_ID()",
                            {}, {column::text});
    if (!written)
      return std::move(written.error());
    if (written->empty())
      return fault(ec::internal, "the reset event just written is gone");
    // The request: no token yet (token_hash NULL matches no link).
    auto stored = db.execute("INSERT INTO password_resets (user_id, event_id, "
                             "created_at, expires_at) VALUES "
                             "(?, ?, UNIX_TIMESTAMP(), ?)",
                             {id, std::get<std::string>(written->front()[0]),
                              t.expires_at});
    if (!stored)
      return std::move(stored.error());
  }
  return tx.commit();
}

caf::expected<int64_t> issue_reset(mysql::connection& db,
                                   const std::string& event_id,
                                   uint64_t user_id,
                                   const std::string& token_hash,
                                   const std::string& legacy_hash) {
  if (!is_token_hash(token_hash)
      || (!legacy_hash.empty() && !is_token_hash(legacy_hash)))
    return fault(ec::invalid_argument,
                 "a reset token hash is 64 lower-case hex digits");
  if (event_id.empty() || event_id.size() > 128)
    return fault(ec::invalid_argument,
                 "an event id has 1 to 128 characters");
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  // The user's row first, as confirm_reset and every account write lock it:
  // issues and confirms of one user take turns.
  if (auto user = lock_account(db, user_id); !user)
    return std::move(user.error());
  auto find_request = [&] {
    return db.query("SELECT expires_at, used_at IS NOT NULL, voided_at IS NOT "
                    "NULL, expires_at <= UNIX_TIMESTAMP() FROM "
                    "password_resets WHERE event_id = ? AND user_id = ? AND "
                    "token_hash IS NULL FOR UPDATE",
                    {event_id, user_id},
                    {column::i64, column::u64, column::u64, column::u64});
  };
  auto request = find_request();
  if (!request)
    return std::move(request.error());
  if (request->empty() && !legacy_hash.empty()) {
    // An event of an older herald: its token's row stands for the request.
    // The token itself was in the event, so it is voided; the request keeps
    // its expiry and its state (used, voided).
    auto adopted = db.execute(
        "INSERT INTO password_resets (user_id, event_id, created_at, "
        "expires_at, used_at, voided_at) SELECT user_id, ?, created_at, "
        "expires_at, used_at, voided_at FROM password_resets WHERE "
        "token_hash = ? AND user_id = ? AND event_id IS NULL",
        {event_id, legacy_hash, user_id});
    if (!adopted)
      return std::move(adopted.error());
    if (adopted->affected_rows > 0) {
      auto voided = db.execute(
          "UPDATE password_resets SET event_id = ?, voided_at = "
          "COALESCE(voided_at, UNIX_TIMESTAMP()) WHERE token_hash = ?",
          {event_id, legacy_hash});
      if (!voided)
        return std::move(voided.error());
      request = find_request();
      if (!request)
        return std::move(request.error());
    }
  }
  if (request->empty())
    return fault(ec::not_found, "no reset request of this user for the event");
  auto& r = request->front();
  auto expires_at = std::get<int64_t>(r[0]);
  // A request is never used itself; a confirm voids it with every other
  // unused row of the user.
  if (auto err = usable(reset_row{user_id, std::get<uint64_t>(r[1]) != 0,
                                  std::get<uint64_t>(r[2]) != 0,
                                  std::get<uint64_t>(r[3]) != 0}))
    return err;
  auto voided = db.execute("UPDATE password_resets SET voided_at = "
                           "UNIX_TIMESTAMP() WHERE event_id = ? AND "
                           "token_hash IS NOT NULL AND used_at IS NULL AND "
                           "voided_at IS NULL",
                           {event_id});
  if (!voided)
    return std::move(voided.error());
  auto stored = db.execute("INSERT INTO password_resets (user_id, event_id, "
                           "token_hash, created_at, expires_at) VALUES "
                           "(?, ?, ?, UNIX_TIMESTAMP(), ?)",
                           {user_id, event_id, token_hash, expires_at});
  if (!stored)
    return std::move(stored.error());
  if (auto err = tx.commit())
    return err;
  return expires_at;
}

caf::error check_reset(mysql::connection& db, const std::string& token_hash) {
  auto row = read_reset(db, token_hash, "");
  if (!row)
    return std::move(row.error());
  return usable(*row);
}

caf::expected<account> confirm_reset(mysql::connection& db,
                                     const event_origin& origin,
                                     const std::string& token_hash,
                                     const std::string& password_hash) {
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  // Locks in the order every account write takes them, user row first, so
  // that a confirm and a delete of the same user cannot deadlock: find the
  // user, lock it, then lock and check the reset row.
  auto peek = read_reset(db, token_hash, "");
  if (!peek)
    return std::move(peek.error());
  if (auto user = lock_account(db, peek->user_id); !user)
    // Deleted since the peek, and its tokens with it.
    return is(user.error(), ec::not_found)
               ? fault(ec::not_found, "unknown reset token")
               : std::move(user.error());
  auto row = read_reset(db, token_hash, " FOR UPDATE");
  if (!row)
    return std::move(row.error());
  if (auto err = usable(*row))
    return err;
  auto id = row->user_id;
  auto res = db.execute("UPDATE users SET password_hash = ?, token_version = "
                        "token_version + 1, updated_at = UNIX_TIMESTAMP() "
                        "WHERE id = ?",
                        {password_hash, id});
  if (!res)
    return std::move(res.error());
  res = db.execute("UPDATE password_resets SET used_at = UNIX_TIMESTAMP() "
                   "WHERE token_hash = ?",
                   {token_hash});
  if (!res)
    return std::move(res.error());
  res = db.execute(
      "UPDATE password_resets SET voided_at = UNIX_TIMESTAMP() "
      "WHERE user_id = ? AND used_at IS NULL AND voided_at IS NULL",
      {id});
  if (!res)
    return std::move(res.error());
  auto acc = select_account(db, id);
  if (!acc)
    return acc;
  nlohmann::json data{{"user_id", id},
                      {"name", acc->profile.name},
                      {"email", acc->profile.email}};
  if (auto err = write_event(db, origin, topic_password_changed, id, data))
    return err;
  if (auto err = tx.commit())
    return err;
  return acc;
}

} // namespace herald::storage
