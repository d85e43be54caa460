#include "bridges/amqp/inbound.hpp"

#include <algorithm>
#include <limits>

#include <spdlog/spdlog.h>

#include <caf/actor_cast.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "bridges/amqp/codec.hpp"
#include "messages/error.hpp"

namespace herald::amqp {

// -- headers and names --------------------------------------------------------

std::string retry_queue(const std::string& queue, uint32_t n) {
  return queue + ".retry." + std::to_string(n);
}

std::string dead_queue(const std::string& queue) {
  return queue + ".dead";
}

std::chrono::milliseconds retry_delay(const amqp_settings& settings,
                                      uint32_t n) {
  constexpr uint64_t limit = std::numeric_limits<uint32_t>::max();
  auto base = static_cast<uint64_t>(
      std::max<int64_t>(settings.retry_delay.count(), 0));
  auto delay = base;
  for (uint32_t i = 1; i < n && delay < limit; ++i)
    delay *= 2;
  return std::chrono::milliseconds{std::min(delay, limit)};
}

uint32_t max_attempts(const amqp_settings& settings) {
  return std::max<uint32_t>(settings.max_attempts, 1);
}

uint32_t retry_queue_count(const amqp_settings& settings) {
  return std::max<uint32_t>(max_attempts(settings) - 1, 1);
}

uint32_t deferral_queue(const amqp_settings& settings, uint32_t deferrals) {
  return std::min(deferrals + 1, retry_queue_count(settings));
}

std::vector<queue_spec> inbound_queues(const amqp_settings& settings,
                                       const inbound_route& route) {
  std::vector<queue_spec> result;
  result.push_back({route.queue, queue_options{}});
  for (uint32_t n = 1; n <= retry_queue_count(settings); ++n) {
    queue_options opts;
    opts.dead_letter_exchange = retry_return_exchange;
    opts.dead_letter_routing_key = route.queue;
    opts.message_ttl_ms
        = static_cast<uint32_t>(retry_delay(settings, n).count());
    result.push_back({retry_queue(route.queue, n), std::move(opts)});
  }
  result.push_back({dead_queue(route.queue), queue_options{}});
  return result;
}

std::vector<binding_spec> inbound_bindings(const inbound_route& route) {
  std::vector<binding_spec> result;
  if (!route.exchange.empty())
    for (auto& key : route.bindings)
      result.push_back({route.exchange, key});
  result.push_back({retry_return_exchange, route.queue});
  return result;
}

// -- messages to republish ----------------------------------------------------

namespace {

/// A count header of `msg`; 0 if absent or not a number.
uint32_t count_header(const message& msg, const char* key) {
  auto i = msg.headers.find(key);
  if (i == msg.headers.end() || i->second.empty() || i->second.size() > 9
      || !std::all_of(i->second.begin(), i->second.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return 0;
  return static_cast<uint32_t>(std::stoul(i->second));
}

} // namespace

uint32_t attempts_of(const message& msg) {
  return count_header(msg, header_attempts);
}

uint32_t deferrals_of(const message& msg) {
  return count_header(msg, header_deferrals);
}

void restore_routing_key(delivery& d) {
  auto i = d.msg.headers.find(header_original_routing_key);
  if (i != d.msg.headers.end())
    d.routing_key = i->second;
}

message retry_message(const delivery& d, uint32_t attempts) {
  auto result = d.msg;
  result.persistent = true;
  result.headers[header_attempts] = std::to_string(attempts);
  // Only the first hop knows the key; later ones come from a retry queue.
  result.headers.emplace(header_original_routing_key, d.routing_key);
  return result;
}

message dead_message(const delivery& d, uint32_t attempts,
                     const std::string& reason) {
  auto result = retry_message(d, attempts);
  result.headers[header_reason] = reason;
  return result;
}

message deferred_message(const delivery& d, uint32_t attempts,
                         uint32_t deferrals) {
  auto result = retry_message(d, attempts);
  result.headers[header_deferrals] = std::to_string(deferrals);
  return result;
}

// -- decisions ----------------------------------------------------------------

std::string to_string(verdict x) {
  switch (x) {
  case verdict::ack:
    return "ack";
  case verdict::retry:
    return "retry";
  case verdict::dead:
    return "dead";
  case verdict::defer:
    return "defer";
  case verdict::hold:
    return "hold";
  }
  return "?";
}

namespace {

bool has_code(const caf::error& err, ec code) {
  return err.category() == caf::atom("herald")
         && static_cast<ec>(err.code()) == code;
}

bool is_permanent(const caf::error& err) {
  return has_code(err, ec::rejected) || has_code(err, ec::invalid_argument);
}

} // namespace

bool is_outage(const caf::error& err) {
  return has_code(err, ec::unavailable);
}

inbound_outcome decide(const amqp_settings& settings, delivery_ref ref,
                       uint32_t attempts, const caf::error& err,
                       uint32_t deferrals) {
  inbound_outcome result;
  result.ref = ref;
  if (!err)
    return result;
  result.attempts = attempts;
  result.deferrals = deferrals;
  result.reason = render(err);
  if (is_outage(err)) {
    result.what = verdict::hold;
    return result;
  }
  if (has_code(err, ec::deferred)) {
    result.deferrals = deferrals + 1;
    auto limit = settings.max_deferrals;
    if (limit == 0 || result.deferrals < limit) {
      result.what = verdict::defer;
    } else {
      result.what = verdict::dead;
      result.reason = "deferred " + std::to_string(result.deferrals)
                      + " times, last: " + result.reason;
    }
    return result;
  }
  result.attempts = attempts + 1;
  result.what = result.attempts < max_attempts(settings) && !is_permanent(err)
                    ? verdict::retry
                    : verdict::dead;
  return result;
}

// -- the coordinator ----------------------------------------------------------

namespace {

using coordinator_ptr = coordinator_actor::stateful_pointer<inbound_state>;
using std::chrono::milliseconds;

/// Collects an outcome for `to`; it goes out with the others that come
/// before the flush.
void emit(coordinator_ptr self, caf::actor to, inbound_outcome x) {
  auto& st = self->state;
  if (!to)
    return;
  st.outcomes.emplace_back(std::move(to), std::move(x));
  if (!st.flush_pending) {
    st.flush_pending = true;
    self->send(self, atom::send_v);
  }
}

void schedule_tick(coordinator_ptr self) {
  auto& st = self->state;
  if (st.pending.tick_needed())
    self->delayed_send(self, tick_interval(st.settings.handler_timeout),
                       atom::tick_v);
}

void finish(coordinator_ptr self, uint64_t id, const caf::error& err);

/// Hands a decoded delivery to the handler; its answer (or its timeout)
/// comes back through finish().
void dispatch(coordinator_ptr self, inbound_state::in_hand x) {
  auto& st = self->state;
  auto ev = x.ev;
  st.refs.emplace(x.ref.epoch, x.ref.tag);
  auto id = st.pending.add(self->clock().now() + st.settings.handler_timeout,
                           std::move(x));
  self->request(st.handler, caf::infinite, atom::handle_v, std::move(ev))
      .then([self, id](caf::ok_atom) { finish(self, id, caf::none); },
            [self, id](caf::error& err) {
              finish(self, id,
                     annotate(err, "handler " + self->state.route.handler));
            });
  schedule_tick(self);
}

milliseconds probe_min(const amqp_settings& settings) {
  return std::max(settings.outage_probe_min, milliseconds{1});
}

milliseconds probe_max(const amqp_settings& settings) {
  return std::max(settings.outage_probe_max, probe_min(settings));
}

/// Probes after the current pause.
void schedule_probe(coordinator_ptr self) {
  auto& out = self->state.outage;
  out.probe_due = false;
  self->delayed_send(self, out.pause, atom::wake_v, ++out.timer);
}

/// Takes a held delivery to the handler as the probe: the one after the
/// last probe in (epoch, tag) order, else the first (probes take turns).
void probe(coordinator_ptr self) {
  auto& out = self->state.outage;
  if (out.held.empty()) {
    // All held ones were dropped (a reconnect): the next delivery probes.
    out.probe_due = true;
    return;
  }
  auto key = [](const inbound_state::in_hand& x) {
    return std::make_pair(x.ref.epoch, x.ref.tag);
  };
  auto next = out.held.end();
  auto first = out.held.begin();
  for (auto i = out.held.begin(); i != out.held.end(); ++i) {
    if (key(*i) < key(*first))
      first = i;
    if (key(*i) > out.last_probe
        && (next == out.held.end() || key(*i) < key(*next)))
      next = i;
  }
  if (next == out.held.end())
    next = first;
  auto x = std::move(*next);
  out.held.erase(next);
  out.last_probe = key(x);
  x.probe = true;
  out.probing = true;
  dispatch(self, std::move(x));
}

/// An outage answer for `x`: holds it (unless its connection is gone), and
/// pauses the route, or pauses it longer after a failed probe.
void hold(coordinator_ptr self, inbound_state::in_hand x,
          const std::string& reason) {
  auto& st = self->state;
  auto& out = st.outage;
  bool was_probe = x.probe;
  x.probe = false;
  if (was_probe)
    out.probing = false;
  // Of a lost connection: the broker redelivers it.
  bool keep = x.ref.epoch >= st.epoch;
  if (!out.paused) {
    out.paused = true;
    out.pause = probe_min(st.settings);
    out.since = self->clock().now();
    out.reason = reason;
    // Probes start with the one after it: if it fails for reasons of its
    // own, the others are not kept waiting behind it.
    out.last_probe = {x.ref.epoch, x.ref.tag};
    spdlog::warn("amqp: queue {} paused: {}; holding its deliveries (not "
                 "counted as attempts), probing with one in {} ms",
                 st.route.queue, reason, out.pause.count());
    schedule_probe(self);
  } else if (was_probe) {
    out.pause = std::min(out.pause * 2, probe_max(st.settings));
    out.reason = reason;
    schedule_probe(self);
  }
  if (!keep)
    return;
  // A failed probe goes to the back, so that the next probe is another
  // delivery: one that fails for reasons of its own stalls nothing.
  out.held.push_back(std::move(x));
  // The timer found nothing to probe with; now there is something.
  if (out.probe_due && !out.probing)
    schedule_probe(self);
}

/// A non-outage answer: the route works again; hands over what was held.
void resume(coordinator_ptr self) {
  auto& st = self->state;
  auto& out = st.outage;
  if (!out.paused)
    return;
  auto held = std::move(out.held);
  out.held.clear();
  out.paused = false;
  out.probe_due = false;
  out.probing = false;
  ++out.timer; // Voids the pending probe timer.
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                  self->clock().now() - out.since)
                  .count();
  spdlog::info("amqp: queue {} resumed after {} s; handing over {} held "
               "deliveries",
               st.route.queue, secs, held.size());
  for (auto& x : held)
    dispatch(self, std::move(x));
}

/// Answers the outcome of a delivery the handler had.
void answer(coordinator_ptr self, inbound_state::in_hand& x,
            const caf::error& err) {
  auto& st = self->state;
  st.refs.erase({x.ref.epoch, x.ref.tag});
  auto outcome = decide(st.settings, x.ref, x.attempts, err, x.deferrals);
  auto& out = st.outage;
  auto key = std::make_pair(x.ref.epoch, x.ref.tag);
  if (outcome.what == verdict::hold) {
    auto i = out.failed.find(key);
    if (i == out.failed.end() || i->second == out.worked) {
      // The first outage failure, or nothing worked since the last one.
      if (x.ref.epoch >= st.epoch)
        out.failed[key] = out.worked;
      hold(self, std::move(x), outcome.reason);
      return;
    }
    // It failed as an outage before, then the route worked for another
    // delivery, and now this one fails so again: its own failure, an
    // attempt. The route is not paused for it.
    out.failed.erase(i);
    outcome.attempts = x.attempts + 1;
    outcome.what = outcome.attempts < max_attempts(st.settings)
                       ? verdict::retry
                       : verdict::dead;
    outcome.reason = "failed as unavailable again while the route worked "
                     "for others: "
                     + outcome.reason;
    spdlog::warn("amqp: queue {}: delivery {} ({}): {} ({})", st.route.queue,
                 x.ref.tag, x.d.msg.message_id, outcome.reason,
                 to_string(outcome.what));
    if (x.probe && out.paused) {
      out.probing = false;
      schedule_probe(self); // The next one, after the same pause.
    }
    outcome.d = std::move(x.d);
    emit(self, std::move(x.to), std::move(outcome));
    return;
  }
  out.failed.erase(key);
  ++out.worked;
  if (x.probe)
    out.probing = false;
  resume(self);
  if (outcome.what != verdict::ack)
    outcome.d = std::move(x.d);
  emit(self, std::move(x.to), std::move(outcome));
}

/// Sends the collected outcomes, one message per receiver, and rings once.
void flush(coordinator_ptr self) {
  auto& st = self->state;
  st.flush_pending = false;
  auto all = std::move(st.outcomes);
  st.outcomes.clear();
  for (size_t first = 0; first < all.size();) {
    auto& to = all[first].first;
    std::vector<inbound_outcome> batch;
    size_t i = first;
    for (; i < all.size() && all[i].first == to; ++i)
      batch.push_back(std::move(all[i].second));
    caf::anon_send(to, std::move(batch));
    first = i;
  }
  if (st.bell && !all.empty())
    st.bell->ring();
}

/// The handler answered (if the delivery did not time out meanwhile).
void finish(coordinator_ptr self, uint64_t id, const caf::error& err) {
  if (auto x = self->state.pending.take(id))
    answer(self, *x, err);
}

/// The consumer is on connection `epoch` (or a job says so): what is held
/// from older ones is dropped; the broker redelivers it.
void new_epoch(coordinator_ptr self, uint64_t epoch) {
  auto& st = self->state;
  if (epoch <= st.epoch)
    return;
  st.epoch = epoch;
  auto& held = st.outage.held;
  held.erase(std::remove_if(held.begin(), held.end(),
                            [epoch](auto& x) { return x.ref.epoch < epoch; }),
             held.end());
  auto& failed = st.outage.failed;
  failed.erase(failed.begin(), failed.lower_bound({epoch, 0}));
}

} // namespace

coordinator_actor::behavior_type
inbound(coordinator_actor::stateful_pointer<inbound_state> self,
        amqp_settings settings, inbound_route route,
        event_handler_actor handler, std::shared_ptr<doorbell> bell) {
  self->state.settings = std::move(settings);
  self->state.route = std::move(route);
  self->state.handler = handler;
  self->state.bell = std::move(bell);
  self->monitor(handler);
  self->set_down_handler([self](const caf::down_msg& msg) {
    if (msg.source != self->state.handler)
      return;
    spdlog::warn("amqp: handler {} of queue {} is down; stopping its consumer",
                 self->state.route.handler, self->state.route.queue);
    self->quit(caf::make_error(
        ec::unavailable, "handler " + self->state.route.handler + " of queue "
                             + self->state.route.queue + " is down"));
  });
  return {
      [self](atom::handle, std::vector<inbound_job>& jobs) {
        auto& st = self->state;
        auto to = caf::actor_cast<caf::actor>(self->current_sender());
        for (auto& job : jobs) {
          auto ref = job.ref;
          new_epoch(self, ref.epoch);
          if (ref.epoch < st.epoch)
            continue; // Of a lost connection: the broker redelivers it.
          if (st.refs.count({ref.epoch, ref.tag}) > 0
              || std::any_of(st.outage.held.begin(), st.outage.held.end(),
                             [&](auto& x) {
                               return x.ref.epoch == ref.epoch
                                      && x.ref.tag == ref.tag;
                             })) {
            spdlog::warn("amqp: queue {}: delivery {} is with the handler "
                         "already; ignored",
                         st.route.queue, ref.tag);
            continue;
          }
          auto attempts = attempts_of(job.d.msg);
          auto ev = decode(job.d, st.route.format);
          if (!ev) {
            inbound_outcome dead;
            dead.ref = ref;
            dead.what = verdict::dead;
            dead.attempts = attempts;
            dead.deferrals = deferrals_of(job.d.msg);
            dead.reason = "undecodable: " + render(ev.error());
            spdlog::warn("amqp: queue {}: delivery {} ({}): {}", st.route.queue,
                         ref.tag, job.d.msg.message_id, dead.reason);
            dead.d = std::move(job.d);
            emit(self, to, std::move(dead));
            continue;
          }
          ev->attempts = attempts;
          inbound_state::in_hand x{to,
                                   ref,
                                   attempts,
                                   std::move(job.d),
                                   0,
                                   std::move(*ev),
                                   false};
          x.deferrals = deferrals_of(x.d.msg);
          auto& out = st.outage;
          if (!out.paused) {
            dispatch(self, std::move(x));
          } else if (out.probe_due && !out.probing) {
            out.probe_due = false;
            out.last_probe = {ref.epoch, ref.tag};
            x.probe = true;
            out.probing = true;
            dispatch(self, std::move(x));
          } else {
            out.held.push_back(std::move(x));
          }
        }
      },
      [self](atom::reset, uint64_t epoch) { new_epoch(self, epoch); },
      [self](atom::send) { flush(self); },
      [self](atom::wake, uint64_t timer) {
        auto& out = self->state.outage;
        if (timer != out.timer || !out.paused || out.probing)
          return;
        probe(self);
      },
      [self](atom::tick) {
        auto& st = self->state;
        st.pending.ticked();
        auto expired = st.pending.expire(self->clock().now());
        if (!expired.empty()) {
          auto err = caf::make_error(
              ec::unavailable,
              "handler " + st.route.handler + " gave no answer in "
                  + std::to_string(st.settings.handler_timeout.count()) + " s");
          for (auto& x : expired)
            answer(self, x, err);
        }
        schedule_tick(self);
      },
  };
}

} // namespace herald::amqp
