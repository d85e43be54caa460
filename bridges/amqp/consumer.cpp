#include "bridges/amqp/consumer.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include <caf/send.hpp>

#include "bridges/amqp/blocking_loop.hpp"
#include "bridges/amqp/codec.hpp"
#include "bridges/amqp/connection.hpp"
#include "messages/error.hpp"

namespace herald::amqp {

namespace {

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

/// The consumer's loop and what it keeps between iterations.
class consumer_loop : public blocking_loop<consumer_loop> {
public:
  consumer_loop(caf::blocking_actor* self, amqp_settings settings, size_t index,
                inbound_actor coordinator,
                std::shared_ptr<bridge_counters> counters,
                std::shared_ptr<doorbell> bell)
      : blocking_loop(self, std::move(bell),
                      "in " + settings.inbound.at(index).queue),
        settings_(std::move(settings)), route_(settings_.inbound.at(index)),
        coordinator_(std::move(coordinator)), counters_(std::move(counters)),
        stats_(counters_->inbound(index)),
        backoff_(std::max(settings_.reconnect_min, milliseconds{1})) {
    // nop
  }

  /// Handles one message if one comes within `timeout`; false on timeout.
  bool receive_one(milliseconds timeout) {
    bool got = true;
    self_->receive(
        [&](std::vector<inbound_outcome>& xs) {
          for (auto& x : xs)
            carry_out(x);
        },
        [&](caf::error& err) {
          spdlog::warn("amqp {}: the coordinator refused: {}", name_,
                       render(err));
        },
        exit_handler(),
        [&](caf::down_msg& x) {
          if (x.source == coordinator_)
            stop(std::move(x.reason));
        },
        drop_unexpected(), caf::after(timeout) >> [&] { got = false; });
    return got;
  }

  /// Runs until an exit message or the coordinator's end; answers why.
  caf::error run() {
    self_->monitor(coordinator_);
    while (running_) {
      if (!conn_) {
        // Not at once after a loss: if the loss comes from this consumer's
        // own work (a republish the broker refuses), every new connection
        // would hand the same deliveries to the handler again.
        if (lost_) {
          wait_mailbox(backoff_);
          backoff_ = std::min(backoff_ * 2, settings_.reconnect_max);
        }
        if (!running_)
          break;
        if (auto err = connect())
          disconnected(err);
        continue;
      }
      drain_mailbox();
      send_acks();
      if (running_ && conn_)
        poll();
    }
    // Closing the connection returns every unacked delivery to the queue.
    conn_.reset();
    counters_->set_state(name_, "disconnected: stopped");
    return reason_;
  }

private:
  // -- connection -------------------------------------------------------------

  /// Opens a connection, declares the route's topology and starts consuming.
  caf::error connect() {
    counters_->set_state(name_, "connecting");
    auto conn = connection::open(settings_);
    if (!conn)
      return std::move(conn.error());
    auto& c = **conn;
    if (!route_.exchange.empty() && route_.exchange.compare(0, 4, "amq.") != 0)
      if (auto err
          = c.declare_exchange(route_.exchange, route_.exchange_durable))
        return err;
    for (auto& q : inbound_queues(settings_, route_))
      if (auto err = c.declare_queue(q.name, q.options))
        return err;
    for (auto& b : inbound_bindings(route_))
      if (auto err = c.bind(route_.queue, b.exchange, b.routing_key))
        return err;
    if (auto err = c.enable_confirms())
      return err;
    auto prefetch = std::max<uint16_t>(settings_.prefetch, 1);
    if (auto err = c.consume(route_.queue, prefetch))
      return err;
    conn_ = std::move(*conn);
    ++epoch_;
    lost_ = false;
    // What the coordinator holds from the last connection is void now.
    self_->send(coordinator_, atom::reset_v, epoch_);
    counters_->set_state(name_, "connected");
    spdlog::info("amqp: consuming {} (prefetch {})", route_.queue, prefetch);
    return caf::none;
  }

  void disconnected(const caf::error& err) {
    spdlog::warn("amqp: queue {}: {}; {} in flight, reconnecting in {} ms",
                 route_.queue, render(err), in_flight_.size(),
                 backoff_.count());
    counters_->set_state(name_, "disconnected: " + render(err));
    conn_.reset();
    in_flight_.clear();
    acks_.clear();
    jobs_.clear();
    lost_ = true;
  }

  /// A delivery is settled: the connection works, backoff starts anew.
  void settled() {
    backoff_ = std::max(settings_.reconnect_min, milliseconds{1});
  }

  // -- deliveries -------------------------------------------------------------

  /// Waits up to max_wait for a delivery or an outcome (the coordinator
  /// rings the doorbell after it sent one) and takes the delivery. Exit and
  /// down messages do not ring: they are seen within max_wait.
  void poll() {
    // With the prefetch window full no delivery comes, but the call also
    // keeps the connection alive (heartbeats).
    auto next
        = wait_socket([this](int fd) { return conn_->next(max_wait, fd); },
                      [](auto& x) { return x && !*x; });
    if (!next)
      return; // Something in the mailbox.
    if (!*next) {
      disconnected(next->error());
      return;
    }
    if (!**next)
      return;
    take(std::move(***next));
    // What else arrived with it (rabbitmq-c read it already, or the socket
    // has it), up to the prefetch window: handed over together.
    auto window = std::max<size_t>(settings_.prefetch, 1);
    while (conn_ && in_flight_.size() < window) {
      auto more = conn_->next(milliseconds{0});
      if (!more) {
        disconnected(more.error());
        return;
      }
      if (!*more)
        break;
      take(std::move(**more));
    }
    hand_over();
  }

  /// Queues the delivery for the coordinator, which decodes it (and sends
  /// it back with a retry or dead outcome, for the republish).
  void take(delivery d) {
    ++stats_.consumed;
    restore_routing_key(d);
    auto tag = d.tag;
    in_flight_.insert(tag);
    jobs_.push_back(inbound_job{delivery_ref{epoch_, tag}, std::move(d)});
  }

  /// Hands what was taken to the coordinator, in one message.
  void hand_over() {
    if (jobs_.empty())
      return;
    if (conn_)
      self_->send(coordinator_, atom::handle_v, std::move(jobs_));
    jobs_.clear();
  }

  void carry_out(inbound_outcome& x) {
    if (!conn_ || x.ref.epoch != epoch_)
      return; // Of a lost connection: RabbitMQ redelivers it.
    if (in_flight_.erase(x.ref.tag) == 0)
      return;
    auto& d = x.d;
    d.tag = x.ref.tag;
    switch (x.what) {
    case verdict::ack:
      acks_.push_back(d.tag);
      break;
    case verdict::retry:
      if (republish_then_ack(retry_queue(route_.queue, x.attempts),
                             retry_message(d, x.attempts), d.tag))
        ++stats_.retried;
      break;
    case verdict::defer:
      if (republish_then_ack(
              retry_queue(route_.queue,
                          deferral_queue(settings_, x.deferrals - 1)),
              deferred_message(d, x.attempts, x.deferrals), d.tag))
        ++stats_.retried;
      break;
    case verdict::hold:
      // The coordinator keeps held deliveries; none should come here. Kept
      // unacked, it comes back with the next connection.
      in_flight_.insert(d.tag);
      break;
    case verdict::dead:
      spdlog::warn("amqp: queue {}: message {} to {} after {} attempt(s): {}",
                   route_.queue, d.msg.message_id, dead_queue(route_.queue),
                   x.attempts, x.reason);
      if (republish_then_ack(dead_queue(route_.queue),
                             dead_message(d, x.attempts, x.reason), d.tag))
        ++stats_.dead_lettered;
      break;
    }
  }

  /// Sends the acks collected while draining the mailbox: one basic.ack
  /// with `multiple` for every tag below the lowest delivery still in
  /// flight, single ones for the rest. (Every delivery the channel holds
  /// unacked below that tag is settled: deliveries come in tag order, those
  /// not in flight were acked or republished and acked already, and the
  /// ones read but not yet taken have higher tags.)
  void send_acks() {
    if (acks_.empty() || !conn_)
      return;
    std::sort(acks_.begin(), acks_.end());
    auto open = in_flight_.empty() ? std::numeric_limits<uint64_t>::max()
                                   : *in_flight_.begin();
    auto split = std::lower_bound(acks_.begin(), acks_.end(), open);
    caf::error err;
    if (split != acks_.begin())
      err = conn_->ack(*(split - 1), split - acks_.begin() > 1);
    for (auto i = split; !err && i != acks_.end(); ++i)
      err = conn_->ack(*i);
    if (err) {
      disconnected(err);
      return;
    }
    stats_.acked += acks_.size();
    acks_.clear();
    settled();
  }

  /// Publishes a copy of a delivery to `queue` through the default exchange,
  /// and acks the original only once the broker confirmed the copy. On any
  /// failure the connection is dropped: the original comes back.
  bool republish_then_ack(const std::string& queue, message copy,
                          uint64_t tag) {
    auto confirm_timeout = milliseconds{settings_.confirm_timeout};
    auto results
        = conn_->publish("", {{queue, std::move(copy)}}, confirm_timeout);
    if (results.size() != 1 || results[0]) {
      auto err = results.empty()
                     ? caf::make_error(ec::internal, "no publish result")
                     : results[0];
      disconnected(annotate(err, "publishing to " + queue));
      return false;
    }
    if (auto err = conn_->ack(tag)) {
      disconnected(err);
      return false;
    }
    settled();
    return true;
  }

  amqp_settings settings_;
  const inbound_route& route_;
  inbound_actor coordinator_;
  std::shared_ptr<bridge_counters> counters_;
  route_counters& stats_;
  std::unique_ptr<connection> conn_;
  /// Counts connections; outcomes carry the one their delivery came on.
  uint64_t epoch_ = 0;
  /// Delivery tag -> the delivery, until its outcome is carried out.
  std::set<uint64_t> in_flight_;
  /// Tags handled successfully, to ack after the mailbox is drained.
  std::vector<uint64_t> acks_;
  /// Taken, not yet handed to the coordinator.
  std::vector<inbound_job> jobs_;
  /// Wait before the next connect; doubles per failure, reset by progress.
  milliseconds backoff_;
  /// The last connection failed or broke: wait before the next.
  bool lost_ = false;
};

} // namespace

void consumer(caf::blocking_actor* self, amqp_settings settings, size_t index,
              inbound_actor coordinator,
              std::shared_ptr<bridge_counters> counters,
              std::shared_ptr<doorbell> bell) {
  consumer_loop loop{self,
                     std::move(settings),
                     index,
                     std::move(coordinator),
                     std::move(counters),
                     std::move(bell)};
  if (auto reason = loop.run())
    self->fail_state(std::move(reason));
}

} // namespace herald::amqp
