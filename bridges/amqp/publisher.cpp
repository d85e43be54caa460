#include "bridges/amqp/publisher.hpp"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "bridges/amqp/blocking_loop.hpp"
#include "bridges/amqp/codec.hpp"
#include "bridges/amqp/connection.hpp"
#include "messages/error.hpp"

namespace herald::amqp {

namespace {

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

/// The text of a herald error without its code.
std::string text_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return render(err);
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

/// The pump: takes requests, publishes at once, answers each as its confirm
/// comes.
class publisher_loop : public blocking_loop<publisher_loop> {
public:
  publisher_loop(caf::blocking_actor* self, amqp_settings settings,
                 std::shared_ptr<bridge_counters> counters,
                 std::shared_ptr<doorbell> bell)
      : blocking_loop(self, std::move(bell), publisher_connection_name),
        settings_(std::move(settings)), counters_(std::move(counters)),
        broker_(describe_broker(settings_.url)),
        backoff_(settings_.reconnect_min) {
    // nop
  }

  /// Runs until an exit message; answers why.
  caf::error run() {
    connect();
    while (running_) {
      if (!conn_) {
        // Requests meanwhile are answered at once (unavailable).
        wait_mailbox(backoff_);
        backoff_ = std::min(std::max(backoff_ * 2, settings_.reconnect_min),
                            settings_.reconnect_max);
        if (running_)
          connect();
        continue;
      }
      drain_mailbox();
      if (running_ && conn_)
        wait_for_confirms();
      if (conn_)
        expire();
    }
    if (conn_)
      disconnect(caf::make_error(ec::unavailable,
                                 "amqp publisher stopped before the confirm"),
                 "stopped");
    return reason_;
  }

  bool receive_one(milliseconds timeout) {
    bool got = true;
    self_->receive([&](atom::handle, event& ev) { take(ev); }, exit_handler(),
                   drop_unexpected(),
                   caf::after(timeout) >> [&] { got = false; });
    return got;
  }

private:
  /// A request waiting for the broker's confirm.
  struct request {
    caf::typed_response_promise<caf::ok_atom> rp;
    /// Index into settings.outbound.
    size_t route;
  };

  // -- connection -------------------------------------------------------------

  void set_state(const std::string& state) {
    if (counters_ != nullptr)
      counters_->set_state(publisher_connection_name, state);
  }

  void connect() {
    set_state("connecting");
    auto conn = open_connection(settings_);
    if (!conn) {
      last_error_ = text_of(conn.error());
      set_state("disconnected: " + last_error_);
      spdlog::warn("amqp publisher cannot connect: {} (next try in {} ms)",
                   last_error_, backoff_.count());
      return;
    }
    conn_ = std::move(*conn);
    backoff_ = settings_.reconnect_min;
    set_state("connected");
    spdlog::info("amqp publisher connected to {}", broker_);
  }

  /// Drops the connection: every request in flight is answered `err`.
  void disconnect(const caf::error& err, const std::string& why) {
    conn_.reset();
    last_error_ = why;
    set_state("disconnected: " + why);
    std::vector<confirm_tracker::settled> done;
    tracker_.fail_through(std::numeric_limits<uint64_t>::max(), err, done);
    settle(done);
    deadlines_.clear();
    backoff_ = settings_.reconnect_min;
  }

  void lost(const caf::error& err) {
    spdlog::warn("amqp publisher lost its connection: {}", text_of(err));
    disconnect(err, text_of(err));
  }

  // -- requests ---------------------------------------------------------------

  /// route_of, remembered per topic (a node publishes a handful of topics).
  std::optional<size_t> cached_route(const std::string& topic) {
    auto i = routes_.find(topic);
    if (i == routes_.end())
      i = routes_.emplace(topic, route_of(settings_, topic)).first;
    return i->second;
  }

  route_counters* counters_of(size_t route) {
    if (counters_ == nullptr || route >= counters_->routes.size())
      return nullptr;
    return &counters_->outbound(route);
  }

  void take(event& ev) {
    auto rp = self_->make_response_promise<caf::ok_atom>();
    auto route = cached_route(ev.topic);
    if (!route) {
      rp.deliver(caf::ok_atom_v);
      return;
    }
    if (!conn_) {
      rp.deliver(caf::make_error(
          ec::unavailable, "amqp publisher not connected: " + last_error_));
      return;
    }
    auto& r = settings_.outbound[*route];
    outgoing out{r.exchange, ev.topic, encode(ev, r.format, settings_.source),
                 r.mandatory};
    if (auto* c = counters_of(*route))
      ++c->published;
    auto tag = conn_->send(out);
    if (!tag) {
      rp.deliver(tag.error());
      lost(tag.error());
      return;
    }
    tracker_.add(*tag, out, *tag);
    open_.emplace(*tag, request{std::move(rp), *route});
    deadlines_.emplace_back(*tag,
                            clock_type::now() + settings_.confirm_timeout);
  }

  /// Answers the requests of settled messages.
  void settle(std::vector<confirm_tracker::settled>& done) {
    size_t failed = 0;
    for (auto& x : done) {
      auto i = open_.find(x.id);
      if (i == open_.end())
        continue;
      auto req = std::move(i->second);
      open_.erase(i);
      auto* c = counters_of(req.route);
      using outcome = confirm_result::outcome;
      if (x.result.what == outcome::confirmed) {
        if (c != nullptr)
          ++c->confirmed;
        req.rp.deliver(caf::ok_atom_v);
        continue;
      }
      if (c != nullptr) {
        if (x.result.what == outcome::returned)
          ++c->returned;
        else if (x.result.what == outcome::nacked)
          ++c->nacked;
      }
      // One line for many: an outage fails everything in flight.
      if (failed++ == 0)
        spdlog::warn("amqp publisher: an event for {} not published: {}",
                     settings_.outbound[req.route].exchange,
                     render(x.result.error));
      req.rp.deliver(x.result.error);
    }
    if (failed > 1)
      spdlog::warn("amqp publisher: {} events not published", failed);
    done.clear();
  }

  /// Waits for confirms (or the doorbell) and answers what they settle.
  /// While nothing is in flight it waits longer: heartbeats need a call
  /// every heartbeat / 2 only, and the front rings on new work and exits.
  void wait_for_confirms() {
    auto wait = tracker_.empty() ? idle_wait() : max_wait;
    auto evs = wait_socket(
        [this, wait](int fd) { return conn_->confirms(wait, fd); },
        [](auto& x) { return x && x->empty(); });
    if (!evs)
      return; // Something in the mailbox.
    if (!*evs) {
      lost(evs->error());
      return;
    }
    std::vector<confirm_tracker::settled> done;
    for (auto& ev : **evs)
      tracker_.apply(ev, done);
    settle(done);
  }

  milliseconds idle_wait() const {
    auto half
        = std::chrono::duration_cast<milliseconds>(settings_.heartbeat) / 2;
    return half.count() > 0 ? std::min(half, milliseconds{1000})
                            : milliseconds{1000};
  }

  /// Answers unavailable to the requests whose confirm_timeout passed (the
  /// connection stays; a late confirm finds nothing).
  void expire() {
    auto now = clock_type::now();
    uint64_t through = 0;
    while (!deadlines_.empty()
           && (deadlines_.front().second <= now
               || open_.count(deadlines_.front().first) == 0)) {
      if (open_.count(deadlines_.front().first) > 0)
        through = deadlines_.front().first;
      deadlines_.pop_front();
    }
    if (through == 0)
      return;
    std::vector<confirm_tracker::settled> done;
    tracker_.fail_through(
        through,
        caf::make_error(ec::unavailable,
                        "amqp " + broker_ + ": no confirm within "
                            + timeout_text(settings_.confirm_timeout)),
        done);
    settle(done);
  }

  amqp_settings settings_;
  std::shared_ptr<bridge_counters> counters_;
  /// The URL without password.
  std::string broker_;
  /// Null while disconnected.
  std::unique_ptr<connection> conn_;
  /// Wait before the next connect attempt.
  milliseconds backoff_;
  /// Why the last connection failed or broke (for answers while down).
  std::string last_error_;
  confirm_tracker tracker_;
  /// Delivery tag -> its request, until the broker answered.
  std::map<uint64_t, request> open_;
  /// Topic -> its route (index into settings.outbound), if it has one.
  std::unordered_map<std::string, std::optional<size_t>> routes_;
  /// Delivery tags in send order with their confirm deadlines.
  std::deque<std::pair<uint64_t, clock_type::time_point>> deadlines_;
};

void publisher_pump(caf::blocking_actor* self, amqp_settings settings,
                    std::shared_ptr<bridge_counters> counters,
                    std::shared_ptr<doorbell> bell) {
  publisher_loop loop{self, std::move(settings), std::move(counters),
                      std::move(bell)};
  if (auto reason = loop.run())
    self->fail_state(std::move(reason));
}

struct front_state {
  static inline const char* name = "amqp_publisher";
  event_handler_actor pump;
  std::shared_ptr<doorbell> bell;
  bool stopping = false;
  caf::error reason;
};

/// Hands requests to the pump (which answers them itself) and rings; stops
/// the pump on an exit and goes down after it.
event_handler_actor::behavior_type
publisher_front(event_handler_actor::stateful_pointer<front_state> self,
                caf::actor pump, std::shared_ptr<doorbell> bell) {
  auto& st = self->state;
  st.pump = caf::actor_cast<event_handler_actor>(pump);
  st.bell = std::move(bell);
  self->monitor(pump);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.stopping)
      return;
    st.stopping = true;
    st.reason = std::move(msg.reason);
    self->send_exit(st.pump, st.reason);
    st.bell->ring();
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source != st.pump)
      return;
    self->quit(st.stopping ? st.reason : msg.reason);
  });
  // Killed without a chance to wait: stop the pump at least.
  self->attach_functor([pump, bell = st.bell](const caf::error& reason) {
    auto why
        = reason ? reason : caf::make_error(caf::exit_reason::user_shutdown);
    caf::anon_send<caf::message_priority::high>(
        pump, caf::exit_msg{caf::actor_addr{}, why});
    bell->ring();
  });
  return {
      [self](atom::handle, event& ev) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        auto result = self->delegate(st.pump, atom::handle_v, std::move(ev));
        st.bell->ring();
        return result;
      },
  };
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

event_handler_actor
spawn_amqp_publisher(caf::actor_system& sys, amqp_settings settings,
                     std::shared_ptr<bridge_counters> counters) {
  auto bell = std::make_shared<doorbell>();
  auto pump = sys.spawn(publisher_pump, std::move(settings),
                        std::move(counters), bell);
  return sys.spawn(publisher_front, pump, std::move(bell));
}

} // namespace herald::amqp
