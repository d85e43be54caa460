// The inbound side of the AMQP bridge without the broker: the topology of an
// inbound route (main queue, retry queues, dead-letter queue), the decisions
// about a delivery after its handler answered, and the coordinator actor that
// asks the handler. The consumer (consumer.hpp) owns the connection and
// carries the decisions out.
//
// A handler's answer is one of three kinds (decide()):
//
// - the message's own failure (`rejected`, `invalid_argument`, undecodable,
//   any other error): counted as an attempt. It goes to `<queue>.retry.<n>`
//   (n = attempts so far), whose TTL (retry_delay * 2^(n-1)) dead-letters
//   it through amq.direct back to `<queue>`; after max_attempts (at once for
//   `rejected`, `invalid_argument` and undecodable ones) it goes to
//   `<queue>.dead`. The count travels in the header x-herald-attempts.
// - `deferred` (the peer refused this one for now, SMTP 4xx): through the
//   same retry queues, the n-th deferral waiting like the n-th retry (then
//   as long as the longest), but counted apart in x-herald-deferrals and
//   dead only after max_deferrals of them (0: never).
// - an outage of the route (`unavailable`, or no answer within
//   handler_timeout): not counted, never dead. The coordinator holds the
//   delivery (unacked, so the prefetch window fills and the broker sends no
//   more), pauses the route, and after outage_probe_min hands ONE held
//   delivery to the handler as a probe; each failed probe doubles the pause
//   up to outage_probe_max; probes take turns (the held one after the last
//   probe; the delivery that started the pause is not the first). The first
//   answer that is not an outage resumes the route and hands every held
//   delivery over at once. A delivery that fails as an outage again after
//   the route worked for another one meanwhile fails for reasons of its own
//   (a recipient-specific 421, a handler that hangs on it): counted as an
//   attempt like any failure of its own, and the route is not paused for
//   it. A reconnect (new epoch) drops the held deliveries of the old
//   connection: the broker redelivers them.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/deadlines.hpp"
#include "bridges/amqp/connection.hpp"
#include "bridges/amqp/doorbell.hpp"
#include "bridges/amqp/settings.hpp"
#include "messages/event_actors.hpp"

namespace herald::amqp {

// -- headers and names --------------------------------------------------------

/// Failed handling attempts so far (decimal); absent: none.
constexpr const char* header_attempts = "x-herald-attempts";
/// Deferrals so far (decimal; a peer said "not now"); absent: none.
constexpr const char* header_deferrals = "x-herald-deferrals";
/// Why a message is in the dead-letter queue.
constexpr const char* header_reason = "x-herald-reason";
/// The routing key it was first published with (retries come back with the
/// queue's name as routing key).
constexpr const char* header_original_routing_key
    = "x-herald-original-routing-key";

/// "<queue>.retry.<n>": holds messages before attempt n + 1.
std::string retry_queue(const std::string& queue, uint32_t n);

/// "<queue>.dead".
std::string dead_queue(const std::string& queue);

/// How long a message waits in `<queue>.retry.<n>`: retry_delay * 2^(n-1),
/// at most 2^32 - 1 ms (the broker's limit for x-message-ttl).
std::chrono::milliseconds retry_delay(const amqp_settings& settings,
                                      uint32_t n);

/// max_attempts, at least 1.
uint32_t max_attempts(const amqp_settings& settings);

/// How many retry queues a route has: max_attempts - 1, at least 1 (a
/// deferral needs one even when no failure is retried).
uint32_t retry_queue_count(const amqp_settings& settings);

/// The retry queue of a message deferred `deferrals` times before: the n-th
/// deferral waits like the n-th retry, later ones like the longest.
uint32_t deferral_queue(const amqp_settings& settings, uint32_t deferrals);

/// Where retry queues dead-letter expired messages to, with the main queue's
/// name as routing key; the main queue is bound to it by that key.
/// (amq.direct exists in every vhost. The default exchange would need no
/// binding, but queue_options cannot say x-dead-letter-exchange = "".)
constexpr const char* retry_return_exchange = "amq.direct";

/// A queue to declare and its arguments.
struct queue_spec {
  std::string name;
  queue_options options;
};

/// The queues of `route`, in declaration order: the main queue, the retry
/// queues 1 .. retry_queue_count() (dead-lettering to the main queue through
/// retry_return_exchange), the dead-letter queue. All durable.
std::vector<queue_spec> inbound_queues(const amqp_settings& settings,
                                       const inbound_route& route);

/// A binding of the main queue.
struct binding_spec {
  std::string exchange;
  std::string routing_key;
};

/// The bindings of the main queue: each binding key on the route's exchange
/// (none for the default exchange ""), and its own name on
/// retry_return_exchange.
std::vector<binding_spec> inbound_bindings(const inbound_route& route);

// -- messages to republish ----------------------------------------------------

/// The attempts header of `msg`; 0 if absent or not a number.
uint32_t attempts_of(const message& msg);

/// The deferrals header of `msg`; 0 if absent or not a number.
uint32_t deferrals_of(const message& msg);

/// Puts back the routing key the delivery was first published with, from
/// x-herald-original-routing-key if present (the codec may need it; a retry
/// comes back with the queue's name as its key).
void restore_routing_key(delivery& d);

/// The delivery's message for a retry queue: body and properties as they
/// came, persistent, attempts header set, original routing key kept.
message retry_message(const delivery& d, uint32_t attempts);

/// The delivery's message for the dead-letter queue: like retry_message,
/// plus the reason header.
message dead_message(const delivery& d, uint32_t attempts,
                     const std::string& reason);

/// The delivery's message for a retry queue after a deferral: like
/// retry_message (attempts unchanged), plus the deferrals header.
message deferred_message(const delivery& d, uint32_t attempts,
                         uint32_t deferrals);

// -- decisions ----------------------------------------------------------------

/// A delivery as its consumer knows it: the tag and the connection it came
/// on (tags restart with every connection; outcomes for an old one are
/// dropped).
struct delivery_ref {
  uint64_t epoch = 0;
  uint64_t tag = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_ref& x) {
  return f(caf::meta::type_name("herald::amqp::delivery_ref"), x.epoch, x.tag);
}

/// What becomes of a delivery. In each case but hold the original is acked
/// last.
enum class verdict : uint8_t {
  /// Handled: ack.
  ack,
  /// Failed: republish to retry_queue(queue, attempts).
  retry,
  /// Failed for good: republish to dead_queue(queue).
  dead,
  /// Refused for now: republish to retry_queue(queue,
  /// deferral_queue(settings, deferrals - 1)), attempts unchanged.
  defer,
  /// The route is out (handler, SMTP or database unavailable, or no answer
  /// in time): keep it unacked and try it again when the route works. The
  /// coordinator keeps such deliveries; this never reaches the consumer.
  hold,
};

std::string to_string(verdict x);

struct inbound_outcome {
  delivery_ref ref;
  verdict what = verdict::ack;
  /// retry and dead: failed attempts including this one; defer: as before.
  uint32_t attempts = 0;
  /// defer: deferrals including this one; dead: as counted (with this one
  /// if it was a deferral).
  uint32_t deferrals = 0;
  /// retry and dead: the handler's error.
  std::string reason;
  /// retry and dead: the delivery, to republish (the consumer keeps none).
  delivery d;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbound_outcome& x) {
  return f(caf::meta::type_name("herald::amqp::inbound_outcome"), x.ref, x.what,
           x.attempts, x.deferrals, x.reason, x.d);
}

/// Whether `err` says the route is out rather than the message wrong:
/// `unavailable` (a dependency down, or no answer in time).
bool is_outage(const caf::error& err);

/// The outcome of handling a delivery that had failed `attempts` times and
/// been deferred `deferrals` times before: ack without error; hold for an
/// outage (nothing counted); defer for `deferred` while deferrals + 1 <
/// max_deferrals (or max_deferrals is 0), else dead; for any other error
/// retry while attempts + 1 < max_attempts, else dead. Errors `rejected`
/// and `invalid_argument` mean retrying cannot help: dead at once.
inbound_outcome decide(const amqp_settings& settings, delivery_ref ref,
                       uint32_t attempts, const caf::error& err,
                       uint32_t deferrals = 0);

// -- the coordinator ----------------------------------------------------------

/// A delivery for the handler, as it came (routing key restored). The
/// coordinator decodes it: on a scheduler thread, beside the consumer's.
struct inbound_job {
  delivery_ref ref;
  delivery d;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inbound_job& x) {
  return f(caf::meta::type_name("herald::amqp::inbound_job"), x.ref, x.d);
}

/// Between one consumer and its route's handler.
using inbound_actor = caf::typed_actor<
    /// Decodes each delivery and hands the event to the handler, all at
    /// once, and sends the sender an inbound_outcome per job (in
    /// std::vector<inbound_outcome> messages) as the handler answers, or
    /// when it gave no answer within handler_timeout (a failure). One that
    /// does not decode is dead at once (attempts as its header says, reason
    /// "undecodable: ..."). The consumer hands over what it read in
    /// one go, and gets back what was answered meanwhile in one go: one
    /// message and one wake-up each way for a whole burst of deliveries.
    caf::reacts_to<atom::handle, std::vector<inbound_job>>,
    /// The consumer is on connection `epoch` now: deliveries of older ones
    /// that the coordinator holds are dropped (the broker redelivers them).
    caf::reacts_to<atom::reset, uint64_t>>;

/// The coordinator as it sees itself: plus its timer and its flush.
using coordinator_actor = inbound_actor::extend<
    /// Fails the deliveries whose handler_timeout passed; sent to itself
    /// while any is in hand.
    caf::reacts_to<atom::tick>,
    /// Sends the outcomes collected since the last one; sent to itself
    /// after the first, so it comes after the answers already queued.
    caf::reacts_to<atom::send>,
    /// The pause of an outage is over: probe (only if the number is that
    /// of the latest pause; older timers are void).
    caf::reacts_to<atom::wake, uint64_t>>;

struct inbound_state {
  static inline const char* name = "amqp_inbound";
  /// A delivery with the handler.
  struct in_hand {
    /// Who gets the outcome.
    caf::actor to;
    delivery_ref ref;
    uint32_t attempts = 0;
    /// Goes back with a retry or dead outcome.
    delivery d;
    uint32_t deferrals = 0;
    /// Decoded, to hand over again after an outage.
    event ev;
    /// Sent as the one probe of a paused route.
    bool probe = false;
  };
  /// The route's outage: while paused, deliveries are held, not handed to
  /// the handler, except one probe per pause.
  struct outage_state {
    bool paused = false;
    /// Wait before the next probe: outage_probe_min, doubled per failed
    /// probe up to outage_probe_max.
    std::chrono::milliseconds pause{0};
    /// Numbers the probe timers; only the latest counts.
    uint64_t timer = 0;
    /// The timer fired with nothing held: the next delivery probes.
    bool probe_due = false;
    /// A probe is with the handler.
    bool probing = false;
    /// Deliveries waiting for the route, oldest first (they stay unacked:
    /// the prefetch window bounds how many).
    std::deque<in_hand> held;
    /// When the route paused, for the log line at its end.
    caf::actor_clock::time_point since;
    /// The failure that paused it.
    std::string reason;
    /// The delivery probed last (or that started the pause): the next
    /// probe is the held one after it in (epoch, tag) order, so probes take
    /// turns and one bad delivery is not probed while others wait.
    std::pair<uint64_t, uint64_t> last_probe{0, 0};
    /// Non-outage answers so far (the route worked for someone).
    uint64_t worked = 0;
    /// Deliveries that failed as an outage, by (epoch, tag): `worked` at
    /// their last such failure. One that fails so again after the route
    /// worked for another one meanwhile fails for reasons of its own: an
    /// attempt. Erased on any other outcome and on a new epoch (bounded by
    /// the prefetch window).
    std::map<std::pair<uint64_t, uint64_t>, uint64_t> failed;
  };
  amqp_settings settings;
  inbound_route route;
  event_handler_actor handler;
  /// Rung after each outcome sent (null: nobody to wake).
  std::shared_ptr<doorbell> bell;
  /// Deliveries with the handler, failed after handler_timeout (one tick
  /// for all; deadlines.hpp).
  deadlines<in_hand> pending;
  /// Their (epoch, tag): a delivery is never in hand twice.
  std::set<std::pair<uint64_t, uint64_t>> refs;
  /// Outcomes not sent yet, with their receivers.
  std::vector<std::pair<caf::actor, inbound_outcome>> outcomes;
  bool flush_pending = false;
  outage_state outage;
  /// The newest connection epoch seen (jobs or reset).
  uint64_t epoch = 0;
};

/// The coordinator of `route`: decides what becomes of each delivery
/// (decide()), and holds and probes while the route is out (see the top of
/// this file). Monitors the handler and quits (`unavailable`)
/// when it goes down, so that the consumer stops taking work nobody handles.
/// Rings `bell` (may be null) after each message of outcomes it sends.
///
/// A handler that never answers keeps a small record per request until it
/// answers or goes down (the delivery itself is failed after the timeout).
coordinator_actor::behavior_type
inbound(coordinator_actor::stateful_pointer<inbound_state> self,
        amqp_settings settings, inbound_route route,
        event_handler_actor handler, std::shared_ptr<doorbell> bell);

} // namespace herald::amqp
