// An in-memory account store behind the storage_actor interface, for
// actor-level tests. Tests reach into its data to arrange and check state and
// flip `down` to make every request fail with `unavailable`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "messages/storage_actor.hpp"
#include "messages/throttle.hpp"

namespace herald::test {

/// A stored reset token, or a reset request (no token).
struct fake_reset {
  uint64_t user_id = 0;
  int64_t expires_at = 0;
  bool used = false;
  bool voided = false;
  /// The password.reset_requested event it belongs to.
  std::string event_id;
};

/// A throttling counter as storage keeps it (messages/throttle.hpp).
struct fake_throttle {
  uint64_t events = 0;
  int64_t last_at = 0;
  int64_t blocked_until = 0;
  /// The rule of the last hit (its key left empty).
  throttle_rule rule;
};

struct fake_store {
  std::map<uint64_t, account> accounts;
  uint64_t next_id = 1;
  /// Outbox rows by seq; `failed` records outbox_failed calls.
  std::map<uint64_t, event> outbox;
  std::set<uint64_t> dead;
  /// What the status shows of the dead rows, oldest first.
  std::vector<dead_event> dead_events;
  /// If set, outbox_failed is neither recorded nor answered until the flag
  /// is cleared: the next outbox_fetch then runs `held_failures` first.
  bool hold_failures = false;
  std::vector<std::function<void()>> held_failures;
  std::string last_error;
  uint64_t next_seq = 1;
  /// token hash -> reset.
  std::map<std::string, fake_reset> resets;
  /// event id -> reset request (what reset_issue issues tokens for).
  std::map<std::string, fake_reset> reset_requested;
  /// reset_issue requests received.
  size_t issues = 0;
  /// Reset requests per email (timestamps, unix seconds).
  std::map<std::string, std::vector<int64_t>> reset_requests;
  /// (handler, event id) pairs marked processed.
  std::set<std::pair<std::string, std::string>> processed;
  /// Throttling counters by key hash (throttle_key_hash), as in MySQL.
  std::map<std::string, fake_throttle> throttles;
  /// Unix seconds; tests move it.
  int64_t now = 1700000000;
  /// Source node written into events.
  std::string source = "test-node";
  /// When true, every request answers ec::unavailable.
  bool down = false;
  /// When true, reset_issue alone answers ec::unavailable.
  bool issue_down = false;
  /// Number of requests received, by kind.
  size_t creates = 0;
  size_t updates = 0;
  /// The request context of every write, in order.
  std::vector<request_context> contexts;
  /// Outbox claims by seq: (relay, lease end in unix ms of `now`).
  std::map<uint64_t, std::pair<std::string, int64_t>> claims;
  /// The `limit` of every outbox_claim, in order.
  std::vector<uint32_t> claim_limits;
  /// Unfinished event claims: (handler, event id) -> (owner, claimed at ms).
  std::map<std::pair<std::string, std::string>,
           std::pair<std::string, int64_t>>
      event_claims;
  /// The `after` of every outbox_fetch, in order.
  std::vector<uint64_t> fetched_after;
  /// Called (on the storage actor) after delivered rows were deleted; a
  /// benchmark learns that the outbox emptied without asking in a loop.
  std::function<void(const fake_store&)> after_outbox_done;
};

/// Spawnable behavior: `sys.spawn(fake_storage, store)`.
storage_actor::behavior_type fake_storage(storage_actor::pointer self,
                                          std::shared_ptr<fake_store> store);

} // namespace herald::test
