// The consumer of one inbound route: a blocking actor on its own thread that
// owns one AMQP connection (rabbitmq-c connections are not thread-safe) for
// the route's queue. It declares the route's topology on every (re)connect,
// takes up to `prefetch` deliveries at once and hands what it read together
// to the route's coordinator (inbound.hpp), which decodes them on a scheduler
// thread and asks the handler; then it carries out each outcome:
//
//   ack   -> basic.ack (those that come together share one, with `multiple`)
//   retry -> publish to <queue>.retry.<n>, wait for the confirm, basic.ack
//   defer -> the same, attempts unchanged, x-herald-deferrals one more
//   dead  -> publish to <queue>.dead, wait for the confirm, basic.ack
//
// While the route's handler is out (an outage: SMTP or the database down),
// the coordinator holds the deliveries and probes with one at a time (see
// inbound.hpp): they stay unacked here, the prefetch window fills, and the
// broker sends no more until the route works again. After a reconnect the
// consumer tells the coordinator the new epoch, which drops the held
// deliveries of the old connection (the broker redelivers them).
//
// A delivery that does not decode goes to <queue>.dead at once. The
// delivery travels with a retry or dead outcome; for an ack only its tag is
// needed, so the consumer keeps tags, not copies. Nothing is
// acked before its copy is confirmed, so nothing is lost; a crash in between
// means a duplicate, which handlers absorb (idempotent by event id).
//
// A lost connection (or a republish that fails) drops every delivery in
// flight: RabbitMQ redelivers them, and outcomes that arrive for them later
// are ignored (delivery tags belong to their connection). The consumer then
// reconnects with exponential backoff (reconnect_min .. reconnect_max).
//
// It waits for its socket and its doorbell (doorbell.hpp) at once: the
// coordinator rings after each message of outcomes it sends, so outcomes are
// carried out at once even while no delivery comes.
//
// It stops, closing its connection (unacked deliveries go back to the
// queue), on an exit message or when its coordinator goes down.
#pragma once

#include <cstddef>
#include <memory>

#include <caf/blocking_actor.hpp>

#include "bridges/amqp/counters.hpp"
#include "bridges/amqp/doorbell.hpp"
#include "bridges/amqp/inbound.hpp"
#include "bridges/amqp/settings.hpp"

namespace herald::amqp {

/// Consumes settings.inbound[index] and counts into
/// counters->inbound(index) (consumed, acked, retried, dead_lettered) and the
/// connection state "in <queue>"; waits on `bell`, which `coordinator` rings.
/// Spawn with sys.spawn (a blocking actor gets its own thread).
void consumer(caf::blocking_actor* self, amqp_settings settings, size_t index,
              inbound_actor coordinator,
              std::shared_ptr<bridge_counters> counters,
              std::shared_ptr<doorbell> bell);

} // namespace herald::amqp
