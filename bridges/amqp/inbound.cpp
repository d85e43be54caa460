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

std::vector<queue_spec> inbound_queues(const amqp_settings& settings,
                                       const inbound_route& route) {
  std::vector<queue_spec> result;
  result.push_back({route.queue, queue_options{}});
  for (uint32_t n = 1; n < max_attempts(settings); ++n) {
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

uint32_t attempts_of(const message& msg) {
  auto i = msg.headers.find(header_attempts);
  if (i == msg.headers.end() || i->second.empty() || i->second.size() > 9
      || !std::all_of(i->second.begin(), i->second.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return 0;
  return static_cast<uint32_t>(std::stoul(i->second));
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

// -- decisions ----------------------------------------------------------------

std::string to_string(verdict x) {
  switch (x) {
  case verdict::ack:
    return "ack";
  case verdict::retry:
    return "retry";
  case verdict::dead:
    return "dead";
  }
  return "?";
}

namespace {

bool is_permanent(const caf::error& err) {
  if (err.category() != caf::atom("herald"))
    return false;
  auto code = static_cast<ec>(err.code());
  return code == ec::rejected || code == ec::invalid_argument;
}

} // namespace

inbound_outcome decide(const amqp_settings& settings, delivery_ref ref,
                       uint32_t attempts, const caf::error& err) {
  inbound_outcome result;
  result.ref = ref;
  if (!err)
    return result;
  result.attempts = attempts + 1;
  result.reason = render(err);
  result.what = result.attempts < max_attempts(settings) && !is_permanent(err)
                    ? verdict::retry
                    : verdict::dead;
  return result;
}

// -- the coordinator ----------------------------------------------------------

namespace {

using coordinator_ptr = coordinator_actor::stateful_pointer<inbound_state>;

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

/// Answers the outcome of a delivery the handler had.
void answer(coordinator_ptr self, inbound_state::in_hand& x,
            const caf::error& err) {
  auto& st = self->state;
  st.refs.erase({x.ref.epoch, x.ref.tag});
  auto outcome = decide(st.settings, x.ref, x.attempts, err);
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

void schedule_tick(coordinator_ptr self) {
  auto& st = self->state;
  if (st.pending.tick_needed())
    self->delayed_send(self, tick_interval(st.settings.handler_timeout),
                       atom::tick_v);
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
        auto due = self->clock().now() + st.settings.handler_timeout;
        for (auto& job : jobs) {
          auto ref = job.ref;
          if (st.refs.count({ref.epoch, ref.tag}) > 0) {
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
            dead.reason = "undecodable: " + render(ev.error());
            spdlog::warn("amqp: queue {}: delivery {} ({}): {}", st.route.queue,
                         ref.tag, job.d.msg.message_id, dead.reason);
            dead.d = std::move(job.d);
            emit(self, to, std::move(dead));
            continue;
          }
          ev->attempts = attempts;
          st.refs.emplace(ref.epoch, ref.tag);
          auto id = st.pending.add(
              due, inbound_state::in_hand{to, ref, attempts, std::move(job.d)});
          self->request(st.handler, caf::infinite, atom::handle_v,
                        std::move(*ev))
              .then([self, id](caf::ok_atom) { finish(self, id, caf::none); },
                    [self, id](caf::error& err) {
                      finish(self, id,
                             annotate(err,
                                      "handler " + self->state.route.handler));
                    });
        }
        schedule_tick(self);
      },
      [self](atom::send) { flush(self); },
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
