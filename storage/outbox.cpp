#include "storage/outbox.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include "messages/error.hpp"

namespace herald::storage {

namespace {

using mysql::column;

/// Rows one fetch answers at most, whatever the caller asks for.
constexpr uint32_t max_fetch = 1000;

/// Seqs one DELETE names at most.
constexpr size_t delete_chunk = 500;

/// Bytes of an error text the outbox keeps (a TEXT column holds 64 KiB).
constexpr size_t max_error_bytes = 2000;

/// The server's clock in unix milliseconds, as SQL.
constexpr const char* now_ms = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

/// Length of the UTF-8 sequence starting at `s[i]`, or 0 if it is invalid.
size_t utf8_length(const std::string& s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80           ? 1
             : (c >> 5) == 0x6  ? 2
             : (c >> 4) == 0xe  ? 3
             : (c >> 3) == 0x1e ? 4
                                : 0;
  if (n == 0 || i + n > s.size())
    return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80)
      return 0;
  return n;
}

/// Makes an error text fit its column: valid UTF-8 (invalid bytes become
/// '?', as strict SQL mode refuses them) and cut at a character boundary.
std::string storable(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    auto n = utf8_length(text, i);
    if (out.size() + std::max<size_t>(n, 1) > max_error_bytes)
      break;
    if (n == 0) {
      out += '?';
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

caf::expected<uint64_t> count(mysql::connection& db, const char* sql) {
  auto rows = db.query(sql, {}, {column::u64});
  if (!rows)
    return std::move(rows.error());
  return rows->empty() ? 0 : std::get<uint64_t>(rows->front()[0]);
}

} // namespace

caf::expected<std::string> make_event_id() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1)
    return caf::make_error(ec::internal,
                           std::string{"RAND_bytes failed: no event id"});
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40); // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80); // RFC 4122 variant
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out += '-';
    out += hex[b[i] >> 4];
    out += hex[b[i] & 0x0f];
  }
  return out;
}

caf::error write_event(mysql::connection& db, const event_origin& origin,
                       const char* topic, uint64_t user_id,
                       const nlohmann::json& data) {
  // Replacing invalid UTF-8 instead of throwing: values come from columns
  // that hold valid utf8mb4 only, so this never changes a real payload.
  auto text
      = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto id = make_event_id();
  if (!id)
    return std::move(id.error());
  // NULL rather than "" for a context nobody gave.
  auto or_null = [](const std::string& x) -> mysql::value {
    if (x.empty())
      return std::monostate{};
    return x;
  };
  auto res = db.execute(std::string{"INSERT INTO outbox (event_id, topic, "
                                    "event_key, source, data, request_id, "
                                    "caller, created_at_ms) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, "}
                            + now_ms + ")",
                        {std::move(*id), std::string{topic},
                         "user:" + std::to_string(user_id), origin.source, text,
                         or_null(origin.request_id), or_null(origin.caller)});
  if (!res)
    return annotate(res.error(), std::string{"cannot write event "} + topic);
  return caf::none;
}

namespace {

/// The columns to_event reads, in its order.
std::vector<column> event_columns() {
  return {column::u64,  column::text, column::text, column::text, column::text,
          column::text, column::i64,  column::u32,  column::text};
}

event to_event(mysql::row& r) {
  event ev;
  ev.seq = std::get<uint64_t>(r[0]);
  ev.id = std::move(std::get<std::string>(r[1]));
  ev.topic = std::move(std::get<std::string>(r[2]));
  ev.key = std::move(std::get<std::string>(r[3]));
  ev.source = std::move(std::get<std::string>(r[4]));
  ev.data = std::move(std::get<std::string>(r[5]));
  ev.time = std::get<int64_t>(r[6]);
  ev.attempts = std::get<uint32_t>(r[7]);
  // NULL in rows written before migration 004.
  if (auto request_id = std::get_if<std::string>(&r[8]))
    ev.request_id = std::move(*request_id);
  return ev;
}

} // namespace

caf::expected<std::vector<event>> fetch_events(mysql::connection& db,
                                               uint64_t after, uint32_t limit) {
  std::vector<event> result;
  limit = std::min(limit, max_fetch);
  if (limit == 0)
    return result;
  auto rows = db.query("SELECT seq, event_id, topic, event_key, source, data, "
                       "created_at_ms, attempts, request_id FROM outbox "
                       "WHERE dead_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                       {after, limit}, event_columns());
  if (!rows)
    return std::move(rows.error());
  for (auto& r : *rows)
    result.push_back(to_event(r));
  return result;
}

namespace {

/// A deadlock or lock wait (the server rolled the transaction back) on a link
/// that still works: the caller may simply try again.
bool is_busy(const mysql::connection& db, const caf::error& err) {
  return !db.broken() && err == ec::unavailable;
}

/// Runs `op` (one whole transaction) up to three times while the database
/// reports it busy: claims of several relays may deadlock now and then.
template <class F>
auto retry_busy(mysql::connection& db, F op) -> decltype(op()) {
  for (int attempt = 1;; ++attempt) {
    auto res = op();
    if (res || attempt == 3 || !is_busy(db, res.error()))
      return res;
  }
}

caf::expected<outbox_claim> claim_once(mysql::connection& db,
                                       const std::string& owner,
                                       uint32_t limit, int64_t lease_ms) {
  outbox_claim result;
  if (auto err = db.read_committed_next())
    return err;
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  auto lease = std::string{now_ms} + " + ?";
  if (auto res = db.execute("UPDATE outbox SET lease_until_ms = " + lease
                                + " WHERE claimed_by = ? AND dead_at IS NULL",
                            {lease_ms, owner});
      !res)
    return std::move(res.error());
  if (limit > 0) {
    // Candidates: free rows (nobody's, or a lease that ran out) by seq that
    // no live claim of another relay holds back; rows another claim has
    // locked right now are skipped. The NOT EXISTS only saves room in the
    // LIMIT; the check below is what keeps the order.
    auto rows = db.query(
        std::string{"SELECT o.seq, o.event_id, o.topic, o.event_key, "
                    "o.source, o.data, o.created_at_ms, o.attempts, "
                    "o.request_id FROM outbox o WHERE o.dead_at IS NULL AND "
                    "(o.claimed_by IS NULL OR o.lease_until_ms < "}
            + now_ms
            + ") AND NOT EXISTS (SELECT 1 FROM outbox p WHERE "
              "p.event_key = o.event_key AND p.seq < o.seq AND p.dead_at IS "
              "NULL AND p.claimed_by <> ? AND p.lease_until_ms >= "
            + now_ms + ") ORDER BY o.seq LIMIT ? FOR UPDATE SKIP LOCKED",
        {owner, limit}, event_columns());
    if (!rows)
      return std::move(rows.error());
    if (!rows->empty()) {
      auto lo = std::get<uint64_t>(rows->front()[0]);
      auto hi = std::get<uint64_t>(rows->back()[0]);
      // Every undelivered row before a candidate with its key that the
      // claimer does not hold, read as committed now: a candidate may go
      // only if each of them is claimed in this same go (earlier in it).
      // A row another relay is claiming this instant still reads as free
      // here and was skipped above, so the rows after it wait.
      auto earlier = db.query(
          "SELECT p.event_key, p.seq FROM outbox p WHERE p.dead_at IS NULL "
          "AND p.seq < ? AND NOT (p.claimed_by <=> ?) AND p.event_key IN "
          "(SELECT o.event_key FROM outbox o WHERE o.seq BETWEEN ? AND ?) "
          "ORDER BY p.seq",
          {hi, owner, lo, hi}, {column::text, column::u64});
      if (!earlier)
        return std::move(earlier.error());
      std::map<std::string, std::vector<uint64_t>> before;
      for (auto& r : *earlier)
        before[std::get<std::string>(r[0])].push_back(
            std::get<uint64_t>(r[1]));
      std::set<uint64_t> taken;
      for (auto& r : *rows) {
        auto ev = to_event(r);
        bool free = true;
        if (auto i = before.find(ev.key); i != before.end())
          for (auto seq : i->second) {
            if (seq >= ev.seq)
              break;
            if (taken.count(seq) == 0) {
              free = false;
              break;
            }
          }
        if (!free)
          continue;
        taken.insert(ev.seq);
        result.claimed.push_back(std::move(ev));
      }
      std::vector<uint64_t> seqs(taken.begin(), taken.end());
      for (size_t first = 0; first < seqs.size(); first += delete_chunk) {
        auto last = std::min(seqs.size(), first + delete_chunk);
        std::string sql = "UPDATE outbox SET claimed_by = ?, lease_until_ms = "
                          + lease + " WHERE seq IN (";
        std::vector<mysql::value> params{owner, lease_ms};
        for (auto i = first; i < last; ++i) {
          sql += i == first ? "?" : ", ?";
          params.emplace_back(seqs[i]);
        }
        sql += ")";
        if (auto res = db.execute(sql, params); !res)
          return std::move(res.error());
      }
    }
  }
  auto held = db.query("SELECT seq FROM outbox WHERE claimed_by = ? AND "
                       "dead_at IS NULL ORDER BY seq",
                       {owner}, {column::u64});
  if (!held)
    return std::move(held.error());
  for (auto& r : *held)
    result.held.push_back(std::get<uint64_t>(r[0]));
  if (auto err = tx.commit())
    return err;
  return result;
}

caf::expected<event_claim> claim_event_once(mysql::connection& db,
                                            const std::string& handler,
                                            const std::string& event_id,
                                            const std::string& owner,
                                            int64_t timeout_ms) {
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  // A new claim, or nothing if a row exists (then locked by this
  // transaction: a concurrent claimer waits for it to end).
  auto inserted = db.execute(
      std::string{"INSERT INTO processed_events (handler, event_id, "
                  "processed_at, claimed_by, claimed_at_ms) VALUES (?, ?, "
                  "UNIX_TIMESTAMP(), ?, "}
          + now_ms + ") ON DUPLICATE KEY UPDATE event_id = event_id",
      {handler, event_id, owner});
  if (!inserted)
    return std::move(inserted.error());
  // The caller's own claim again (a retry), or one whose owner went quiet.
  auto taken = db.execute(std::string{"UPDATE processed_events SET "
                                      "claimed_by = ?, claimed_at_ms = "}
                              + now_ms
                              + ", processed_at = UNIX_TIMESTAMP() WHERE "
                                "handler = ? AND event_id = ? AND "
                                "claimed_by IS NOT NULL AND (claimed_by = ? "
                                "OR claimed_at_ms <= "
                              + now_ms + " - ?)",
                          {owner, handler, event_id, owner, timeout_ms});
  if (!taken)
    return std::move(taken.error());
  auto rows = db.query("SELECT claimed_by FROM processed_events WHERE "
                       "handler = ? AND event_id = ?",
                       {handler, event_id}, {column::text});
  if (!rows)
    return std::move(rows.error());
  if (auto err = tx.commit())
    return err;
  if (rows->empty()) // Pruned in between: nobody else has it.
    return caf::make_error(ec::internal,
                           "the claim of event " + event_id + " vanished");
  auto by = std::get_if<std::string>(&rows->front()[0]);
  if (by == nullptr)
    return event_claim::done;
  return *by == owner ? event_claim::claimed : event_claim::held;
}

} // namespace

caf::expected<outbox_claim> claim_events(mysql::connection& db,
                                         const std::string& owner,
                                         uint32_t limit, int64_t lease_ms) {
  if (owner.empty() || lease_ms <= 0)
    return caf::make_error(ec::invalid_argument,
                           std::string{"a claim needs an owner and a lease"});
  limit = std::min(limit, max_fetch);
  return retry_busy(db, [&] { return claim_once(db, owner, limit, lease_ms); });
}

caf::error release_events(mysql::connection& db, const std::string& owner) {
  auto res = db.execute("UPDATE outbox SET claimed_by = NULL, "
                        "lease_until_ms = NULL WHERE claimed_by = ?",
                        {owner});
  if (!res)
    return std::move(res.error());
  return caf::none;
}

caf::expected<event_claim> claim_event(mysql::connection& db,
                                       const std::string& handler,
                                       const std::string& event_id,
                                       const std::string& owner,
                                       int64_t timeout_ms) {
  if (owner.empty() || timeout_ms <= 0)
    return caf::make_error(ec::invalid_argument,
                           std::string{"a claim needs an owner and a timeout"});
  return retry_busy(db, [&] {
    return claim_event_once(db, handler, event_id, owner, timeout_ms);
  });
}

caf::error release_event(mysql::connection& db, const std::string& handler,
                         const std::string& event_id,
                         const std::string& owner) {
  auto res = db.execute("DELETE FROM processed_events WHERE handler = ? AND "
                        "event_id = ? AND claimed_by = ?",
                        {handler, event_id, owner});
  if (!res)
    return std::move(res.error());
  return caf::none;
}

caf::error delete_events(mysql::connection& db,
                         const std::vector<uint64_t>& seqs) {
  // Each chunk is a statement of its own (autocommit): a row deleted stays
  // deleted even if a later chunk fails, which is what the caller wants.
  for (size_t first = 0; first < seqs.size(); first += delete_chunk) {
    auto last = std::min(seqs.size(), first + delete_chunk);
    std::string sql = "DELETE FROM outbox WHERE seq IN (";
    std::vector<mysql::value> params;
    for (auto i = first; i < last; ++i) {
      sql += i == first ? "?" : ", ?";
      params.emplace_back(seqs[i]);
    }
    sql += ")";
    if (auto res = db.execute(sql, params); !res)
      return std::move(res.error());
  }
  return caf::none;
}

caf::error record_failure(mysql::connection& db, uint64_t seq,
                          const std::string& error, bool dead) {
  // A transaction, not autocommit: if the link breaks, the retry knows that
  // the attempt was not counted (or that the outcome is in doubt).
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  auto res = db.execute(
      std::string{"UPDATE outbox SET attempts = attempts + 1, "
                  "last_error = ?, failed_at_ms = "}
          + now_ms + ", dead_at = IF(?, " + now_ms + ", dead_at) WHERE seq = ?",
      {storable(error), uint32_t{dead ? 1u : 0u}, seq});
  if (!res)
    return std::move(res.error());
  if (res->affected_rows == 0)
    return caf::make_error(ec::not_found,
                           "no outbox row with seq " + std::to_string(seq));
  return tx.commit();
}

caf::expected<outbox_status> read_outbox_status(mysql::connection& db) {
  outbox_status result;
  // One snapshot for the counts and the last error.
  mysql::transaction tx{db};
  if (auto err = tx.begin(true))
    return err;
  auto pending = db.query(std::string{"SELECT COUNT(*), COALESCE("} + now_ms
                              + " - MIN(created_at_ms), 0) FROM outbox "
                                "WHERE dead_at IS NULL",
                          {}, {column::u64, column::i64});
  if (!pending)
    return std::move(pending.error());
  if (!pending->empty()) {
    result.pending = std::get<uint64_t>(pending->front()[0]);
    result.oldest_age_ms
        = std::max<int64_t>(0, std::get<int64_t>(pending->front()[1]));
  }
  auto dead
      = count(db, "SELECT COUNT(*) FROM outbox WHERE dead_at IS NOT NULL");
  if (!dead)
    return std::move(dead.error());
  result.dead = *dead;
  auto last = db.query("SELECT topic, event_id, last_error FROM outbox "
                       "WHERE failed_at_ms IS NOT NULL "
                       "ORDER BY failed_at_ms DESC, seq DESC LIMIT 1",
                       {}, {column::text, column::text, column::text});
  if (!last)
    return std::move(last.error());
  if (!last->empty()) {
    auto& r = last->front();
    result.last_error = std::get<std::string>(r[0]) + " "
                        + std::get<std::string>(r[1]) + ": "
                        + std::get<std::string>(r[2]);
  }
  auto dead_rows = db.query(
      "SELECT topic, event_id, attempts, COALESCE(last_error, ''), dead_at "
      "FROM outbox WHERE dead_at IS NOT NULL ORDER BY dead_at DESC, seq DESC "
      "LIMIT "
          + std::to_string(outbox_status::max_dead_shown),
      {}, {column::text, column::text, column::u64, column::text, column::i64});
  if (!dead_rows)
    return std::move(dead_rows.error());
  for (auto& r : *dead_rows) {
    dead_event d;
    d.topic = std::get<std::string>(r[0]);
    d.id = std::get<std::string>(r[1]);
    d.attempts = static_cast<uint32_t>(std::get<uint64_t>(r[2]));
    d.error = std::get<std::string>(r[3]);
    d.dead_at_ms = std::get<int64_t>(r[4]);
    result.dead_events.push_back(std::move(d));
  }
  if (auto err = tx.commit())
    return err;
  return result;
}

caf::expected<bool> is_processed(mysql::connection& db,
                                 const std::string& handler,
                                 const std::string& event_id) {
  auto rows = db.query("SELECT 1 FROM processed_events WHERE handler = ? "
                       "AND event_id = ? AND claimed_by IS NULL",
                       {handler, event_id}, {column::u64});
  if (!rows)
    return std::move(rows.error());
  return !rows->empty();
}

caf::error mark_processed(mysql::connection& db, const std::string& handler,
                          const std::string& event_id) {
  // ON DUPLICATE KEY instead of INSERT IGNORE: IGNORE would also turn a value
  // that does not fit into a silent truncation.
  // One transaction, one commit: the time between the mail server's "250"
  // and this record is when a mailer dying sends the mail twice (the claim
  // is taken over), so it is kept short.
  mysql::transaction tx{db};
  if (auto err = tx.begin())
    return err;
  // A claim becomes the record (its time now the finish's).
  auto res = db.execute("INSERT INTO processed_events (handler, event_id, "
                        "processed_at) VALUES (?, ?, UNIX_TIMESTAMP()) "
                        "ON DUPLICATE KEY UPDATE processed_at = "
                        "IF(claimed_by IS NULL, processed_at, "
                        "UNIX_TIMESTAMP()), claimed_by = NULL, "
                        "claimed_at_ms = NULL",
                        {handler, event_id});
  if (!res)
    return std::move(res.error());
  // Housekeeping: each record prunes a few that outlived the retention, so
  // the table holds about the records of one retention period.
  auto pruned = db.execute("DELETE FROM processed_events WHERE processed_at <= "
                           "UNIX_TIMESTAMP() - ? ORDER BY processed_at LIMIT ?",
                           {processed_retention, processed_prune_batch});
  if (!pruned)
    return std::move(pruned.error());
  return tx.commit();
}

} // namespace herald::storage
