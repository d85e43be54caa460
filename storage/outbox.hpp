// The transactional outbox on one MySQL connection: writing an event inside
// the caller's transaction, and the relay's reads and bookkeeping. Blocking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json_fwd.hpp>

#include "messages/event.hpp"
#include "storage/mysql.hpp"

namespace herald::storage {

/// Returns a fresh random UUID (version 4) in its 36-character text form.
caf::expected<std::string> make_event_id();

/// Where an event comes from: the node that wrote it, and the request that
/// caused it (stored with the row for tracing; see messages/context.hpp).
struct event_origin {
  /// The node's name: the CloudEvent's `source`.
  std::string source;
  std::string request_id;
  std::string caller;
};

/// Appends an event about user `user_id` (key "user:<id>") with a new id and
/// the server's time to the outbox. Runs inside the caller's transaction, so
/// that the event commits or rolls back with the change it describes.
caf::error write_event(mysql::connection& db, const event_origin& origin,
                       const char* topic, uint64_t user_id,
                       const nlohmann::json& data);

/// Up to `limit` rows that are not dead with seq > `after`, ordered by seq.
caf::expected<std::vector<event>> fetch_events(mysql::connection& db,
                                               uint64_t after, uint32_t limit);

/// What a claim leaves a relay with.
struct outbox_claim {
  /// The rows claimed now, by seq.
  std::vector<event> claimed;
  /// Every row the relay holds after the claim (these and the ones it held
  /// before, their leases renewed), by seq. A row the relay thinks it holds
  /// and that is missing here was taken over: its lease ran out.
  std::vector<uint64_t> held;
};

/// For relay `owner` (its instance id), in one READ COMMITTED transaction:
/// renews the lease of every row it holds to `lease_ms` from now (the
/// server's clock), then claims up to `limit` more rows by seq (0: renew
/// only): rows not dead that nobody holds or whose lease ran out, locked with
/// FOR UPDATE SKIP LOCKED (a row another relay is claiming now is skipped),
/// and each only if every earlier undelivered row of its key is held by
/// `owner` or claimed in the same go: order per key holds across relays.
caf::expected<outbox_claim> claim_events(mysql::connection& db,
                                         const std::string& owner,
                                         uint32_t limit, int64_t lease_ms);

/// Gives up every row `owner` holds (at an orderly stop): other relays may
/// claim them at once.
caf::error release_events(mysql::connection& db, const std::string& owner);

/// Deletes the rows with these seqs; seqs that are gone already are ignored.
caf::error delete_events(mysql::connection& db,
                         const std::vector<uint64_t>& seqs);

/// Counts a failed delivery of row `seq` and records `error`; with `dead`,
/// the row is given up on. `not_found` if there is no such row.
caf::error record_failure(mysql::connection& db, uint64_t seq,
                          const std::string& error, bool dead);

/// Pending and dead counts, the oldest pending row's age, and the most recent
/// recorded error as "<topic> <event id>: <error>". `delivered` stays 0: only
/// the relay knows it.
caf::expected<outbox_status> read_outbox_status(mysql::connection& db);

/// What claiming an event for a handler found.
enum class event_claim {
  /// Claimed by the caller (new, its own, or taken over): go ahead.
  claimed,
  /// The handler finished the event already.
  done,
  /// Another instance of the handler claimed it less than the timeout ago.
  held,
};

/// Claims event `event_id` for instance `owner` of `handler`, atomically: a
/// claim row is inserted, or an existing claim is taken over if it is the
/// caller's own or older than `timeout_ms` (server clock). Of several
/// callers at the same instant exactly one gets `claimed`.
caf::expected<event_claim> claim_event(mysql::connection& db,
                                       const std::string& handler,
                                       const std::string& event_id,
                                       const std::string& owner,
                                       int64_t timeout_ms);

/// Drops `owner`'s unfinished claim of the event (after a failure, so that
/// the retry, here or on another node, claims it anew); a claim that is not
/// `owner`'s, or a finished record, stays.
caf::error release_event(mysql::connection& db, const std::string& handler,
                         const std::string& event_id,
                         const std::string& owner);

/// Whether `handler` recorded that it finished event `event_id` (a claim
/// that was not finished does not count).
caf::expected<bool> is_processed(mysql::connection& db,
                                 const std::string& handler,
                                 const std::string& event_id);

/// How long a record of a finished event is kept, in seconds: 30 days. Far
/// longer than any redelivery herald makes itself (with the default
/// settings, outbox retries end within about two hours and AMQP retry queues
/// within a minute), and a month for an operator to send dead-lettered
/// messages back without mailing anyone twice.
constexpr int64_t processed_retention = 30 * 86400;

/// Records one mark_processed prunes at most: more than the one it adds, so
/// the table keeps about a retention period's worth, and little at a time.
constexpr uint32_t processed_prune_batch = 100;

/// Records that `handler` finished event `event_id` (a claim of it becomes
/// the record); recording it again is not an error. Also deletes up to processed_prune_batch records older than
/// processed_retention.
caf::error mark_processed(mysql::connection& db, const std::string& handler,
                          const std::string& event_id);

} // namespace herald::storage
