#include "bridges/amqp/publisher.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include <caf/typed_event_based_actor.hpp>

#include "bridges/amqp/codec.hpp"
#include "messages/error.hpp"

namespace herald::amqp {

namespace {

using self_ptr = publisher_actor::stateful_pointer<publisher_state>;

/// The route's counters, or null when there are none.
route_counters* counters_of(publisher_state& st, size_t route) {
  if (st.counters == nullptr || route >= st.counters->routes.size())
    return nullptr;
  return &st.counters->outbound(route);
}

void set_state(publisher_state& st, std::string state) {
  if (st.counters != nullptr)
    st.counters->set_state(publisher_connection_name, std::move(state));
}

/// The text of a herald error without its code.
std::string text_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return render(err);
}

caf::error not_connected(const publisher_state& st) {
  return caf::make_error(ec::unavailable,
                         "amqp publisher not connected: " + st.last_error);
}

/// Interval of the keep-alive tick.
std::chrono::milliseconds tick_interval(const amqp_settings& settings) {
  if (settings.heartbeat.count() <= 0)
    return std::chrono::seconds{5};
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             settings.heartbeat)
         / 2;
}

/// Schedules a connect attempt after the current backoff, then doubles it.
void schedule_connect(self_ptr self) {
  auto& st = self->state;
  if (st.connect_pending)
    return;
  st.connect_pending = true;
  self->delayed_send(self, st.backoff, atom::wake_v);
  st.backoff = std::min(std::max(st.backoff * 2, st.settings.reconnect_min),
                        st.settings.reconnect_max);
}

/// Drops a broken connection and schedules the next attempt at once
/// (after reconnect_min).
void disconnect(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  st.conn.reset();
  st.last_error = text_of(err);
  set_state(st, "disconnected: " + st.last_error);
  spdlog::warn("amqp publisher lost its connection: {}", st.last_error);
  st.backoff = st.settings.reconnect_min;
  schedule_connect(self);
}

/// Opens a connection in confirm mode and declares the outbound exchanges.
caf::expected<std::unique_ptr<connection>>
open_connection(const amqp_settings& settings) {
  auto conn = connection::open(settings);
  if (!conn)
    return conn;
  if (auto err = (*conn)->enable_confirms())
    return err;
  for (auto& route : settings.outbound)
    if (auto err = (*conn)->declare_exchange(route.exchange, route.durable))
      return err;
  return conn;
}

void connect(self_ptr self) {
  auto& st = self->state;
  st.connect_pending = false;
  if (st.conn != nullptr)
    return;
  set_state(st, "connecting");
  auto conn = open_connection(st.settings);
  if (!conn) {
    st.last_error = text_of(conn.error());
    set_state(st, "disconnected: " + st.last_error);
    spdlog::warn("amqp publisher cannot connect: {} (next try in {} ms)",
                 st.last_error, st.backoff.count());
    schedule_connect(self);
    return;
  }
  st.conn = std::move(*conn);
  st.backoff = st.settings.reconnect_min;
  set_state(st, "connected");
  spdlog::info("amqp publisher connected to {}", st.broker);
}

/// Publishes one batch and answers its requests.
void publish(self_ptr self, std::vector<publisher_state::request>& batch) {
  auto& st = self->state;
  if (st.conn == nullptr) {
    for (auto& req : batch)
      req.rp.deliver(not_connected(st));
    return;
  }
  std::vector<outgoing> out;
  out.reserve(batch.size());
  for (auto& req : batch) {
    auto& route = st.settings.outbound[req.route];
    out.push_back(outgoing{route.exchange, req.ev.topic,
                           encode(req.ev, route.format, st.settings.source)});
    if (auto* c = counters_of(st, req.route))
      ++c->published;
  }
  auto results = st.conn->publish_batch(out, st.settings.confirm_timeout);
  size_t failed = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& req = batch[i];
    auto& res = results[i];
    auto* c = counters_of(st, req.route);
    if (!res.error) {
      if (c != nullptr)
        ++c->confirmed;
      req.rp.deliver(caf::ok_atom_v);
      continue;
    }
    if (res.refused && c != nullptr)
      ++c->returned;
    // One line per batch: an outage fails whole batches.
    if (failed++ == 0)
      spdlog::warn("amqp publisher: event {} ({}) not published: {}", req.ev.id,
                   req.ev.topic, render(res.error));
    req.rp.deliver(res.error);
  }
  if (failed > 1)
    spdlog::warn("amqp publisher: {} of {} events of the batch not published",
                 failed, batch.size());
  if (!st.conn->usable()) {
    auto broken = std::find_if(results.begin(), results.end(),
                               [](auto& res) { return !res.refused; });
    disconnect(self, broken != results.end() && broken->error
                         ? broken->error
                         : caf::make_error(ec::unavailable,
                                           std::string{"connection broke"}));
  }
}

void flush(self_ptr self) {
  auto& st = self->state;
  st.flush_pending = false;
  auto pending = std::move(st.buffer);
  st.buffer.clear();
  for (size_t first = 0; first < pending.size(); first += max_publish_batch) {
    auto last = std::min(first + max_publish_batch, pending.size());
    std::vector<publisher_state::request> batch(
        std::make_move_iterator(pending.begin() + first),
        std::make_move_iterator(pending.begin() + last));
    publish(self, batch);
  }
}

} // namespace

std::optional<size_t> route_of(const amqp_settings& settings,
                               const std::string& topic) {
  for (size_t i = 0; i < settings.outbound.size(); ++i)
    for (auto& pattern : settings.outbound[i].topics)
      if (topic_matches(pattern, topic))
        return i;
  return std::nullopt;
}

publisher_actor::behavior_type
amqp_publisher(publisher_actor::stateful_pointer<publisher_state> self,
               amqp_settings settings,
               std::shared_ptr<bridge_counters> counters) {
  auto& st = self->state;
  st.broker = describe_broker(settings.url);
  st.backoff = settings.reconnect_min;
  st.settings = std::move(settings);
  st.counters = std::move(counters);
  // Runs in the actor's own thread, before the first request.
  connect(self);
  self->delayed_send(self, tick_interval(st.settings), atom::tick_v);
  return {
      [self](atom::handle, event& ev) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        auto route = route_of(st.settings, ev.topic);
        if (!route)
          return caf::ok_atom_v;
        if (st.conn == nullptr)
          return not_connected(st);
        auto rp = self->make_response_promise<caf::ok_atom>();
        st.buffer.push_back(
            publisher_state::request{rp, std::move(ev), *route});
        if (!st.flush_pending) {
          st.flush_pending = true;
          self->send(self, atom::publish_v);
        }
        return rp;
      },
      [self](atom::publish) { flush(self); },
      [self](atom::tick) {
        auto& st = self->state;
        if (st.conn != nullptr)
          if (auto err = st.conn->keep_alive())
            disconnect(self, err);
        self->delayed_send(self, tick_interval(st.settings), atom::tick_v);
      },
      [self](atom::wake) { connect(self); },
  };
}

event_handler_actor
spawn_amqp_publisher(caf::actor_system& sys, amqp_settings settings,
                     std::shared_ptr<bridge_counters> counters) {
  return sys.spawn<caf::detached>(amqp_publisher, std::move(settings),
                                  std::move(counters));
}

} // namespace herald::amqp
