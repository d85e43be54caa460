// The outbox relay: reads undelivered events from the outbox (written in the
// transactions that caused them), hands them to the event bus in order per
// key, and deletes a row only after the bus reported success. What a failure
// costs depends on whose it is:
// - `unavailable` (broker or mail server down, no answer): an outage. Every
//   key pauses, one event probes with a pause that doubles up to
//   backoff-max, and no attempt is counted: an outage costs time, no data.
// - `deferred` (refused for now for this event: a full queue): its key
//   waits, doubling, without counting an attempt; the others go on.
// - anything else (unroutable, rejected, invalid, a bug): the event's own
//   failure. Its key retries with a doubling delay; after max_attempts the
//   row is marked dead (kept, with its reason, in the status) and the key
//   moves on.
// Several relays share the outbox (one per mailer or bridge node): each has
// a random instance id, new at every start, and only delivers rows it
// claimed in storage under that id. Every poll renews the lease of the rows
// it holds; rows of a relay that stopped renewing are claimed by another one
// once their lease ran out, and rows it finds taken over it drops. Storage
// hands out a row only when every earlier undelivered row of its key is the
// claimer's own, so order per key holds across relays.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/deadlines.hpp"
#include "messages/event_actors.hpp"
#include "messages/storage_actor.hpp"

namespace herald {

struct outbox_settings {
  /// How often the outbox is read when nobody wakes the relay.
  std::chrono::milliseconds poll_interval{250};
  /// Rows read per fetch, and the most events with the bus at once. The
  /// next batch is read while one is out: at most 2 * batch events are held
  /// in memory.
  uint32_t batch = 100;
  /// Attempts before a row is marked dead.
  uint32_t max_attempts = 25;
  std::chrono::milliseconds backoff_min{1000};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(5)};
  /// Time the bus (all subscribers) gets for one event.
  std::chrono::seconds delivery_timeout{60};
  /// Time storage gets for one request.
  std::chrono::seconds storage_timeout{10};
  /// How long a claim of a row holds without being renewed (every poll
  /// renews it): a relay that died leaves its rows to the others this long.
  std::chrono::milliseconds lease{std::chrono::seconds{30}};
  /// At an orderly stop, how long the deliveries under way get to finish
  /// before the relay deletes what it delivered and releases the rest (half
  /// the node's stop timeout).
  std::chrono::milliseconds drain_grace{std::chrono::seconds{5}};
};

/// A random instance id (32 hex digits) for a relay's or a mailer's claims
/// in storage: new at every start, never shared by two instances.
std::string random_instance_id();

/// Delay before attempt `attempt + 1` after `attempt` failures: doubling from
/// backoff_min, capped at backoff_max.
std::chrono::milliseconds backoff(const outbox_settings& cfg, uint32_t attempt);

struct outbox_relay_state {
  static inline const char* name = "outbox_relay";
  using clock = caf::actor_clock;
  outbox_settings settings;
  storage_actor store;
  event_bus_actor bus;
  /// This relay's instance id, the owner of its claims: random, new with
  /// every relay.
  std::string instance;
  /// Seqs of the rows this relay holds: queued, or delivered and not yet
  /// deleted. A fetch skips them.
  std::set<uint64_t> known;
  /// Rows marked dead while a read was under way: known until it ends.
  std::vector<uint64_t> forget_after_fetch;
  /// Events read and not yet delivered, per key, in seq order.
  std::map<std::string, std::deque<event>> queues;
  size_t queued = 0;
  /// Keys whose head event is with the bus now.
  std::set<std::string> busy;
  /// Their requests to the bus, failed after delivery_timeout (checked at
  /// each poll tick; deadlines.hpp).
  deadlines<std::string> in_flight;
  /// Keys whose head event can go (not busy, no retry pending), by the
  /// head's seq: the oldest go first.
  std::set<std::pair<uint64_t, std::string>> ready;
  /// Keys waiting for a retry, and when it is due.
  std::map<std::string, clock::time_point> retry_at;
  /// Keys whose head event was deferred (ec::deferred), and how often in a
  /// row: its retry waits longer each time, without counting attempts.
  std::map<std::string, uint32_t> deferrals;
  /// Consecutive `unavailable` failures: a dependency of every event is
  /// down. While > 0, nothing is delivered before `paused_until`, then one
  /// event probes.
  uint32_t outage = 0;
  clock::time_point paused_until;
  /// Sequence number of the last event that probed an outage: the next
  /// probe is the next one after it.
  uint64_t last_probe = 0;
  /// Delivered rows not yet deleted.
  std::vector<uint64_t> done;
  bool fetching = false;
  /// The next claim is due to renew the leases even with no room for rows.
  bool renew = false;
  /// The last fetch was a full batch: more rows are probably waiting.
  bool more = false;
  bool fetch_again = false;
  bool flushing = false;
  /// Stopping: sends nothing new to the bus, waits for the deliveries under
  /// way (at most drain_grace), then deletes what it delivered and releases
  /// the rest.
  bool stopping = false;
  clock::time_point stop_deadline;
  /// The stop stopped waiting for the bus.
  bool grace_over = false;
  /// The final delete and release are under way.
  bool finishing = false;
  uint64_t delivered = 0;
  /// Rows dropped because another relay took them over.
  uint64_t taken_over = 0;
  std::string last_error;
};

outbox_relay_actor::behavior_type
outbox_relay(outbox_relay_actor::stateful_pointer<outbox_relay_state> self,
             outbox_settings settings, storage_actor store,
             event_bus_actor bus);

} // namespace herald
