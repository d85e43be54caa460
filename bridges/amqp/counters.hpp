// Counters of the AMQP bridge, shared by its publisher and consumers (each on
// its own thread) and read by the bridge actor for `bridge status`. Counts are
// atomics; the connection states sit under a mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bridges/amqp/settings.hpp"
#include "messages/bridge.hpp"

namespace herald::amqp {

/// What one route did since the node started. Outbound routes count
/// published/confirmed/returned/nacked, inbound ones consumed/acked/retried/
/// dead_lettered.
struct route_counters {
  /// As in route_stats: "out user.*,password.* -> herald.events" or
  /// "in herald.mailer -> mailer".
  std::string route;
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> confirmed{0};
  std::atomic<uint64_t> returned{0};
  std::atomic<uint64_t> nacked{0};
  std::atomic<uint64_t> consumed{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> retried{0};
  std::atomic<uint64_t> dead_lettered{0};

  explicit route_counters(std::string name) : route(std::move(name)) {
    // nop
  }

  route_stats stats() const {
    route_stats result;
    result.route = route;
    result.published = published.load();
    result.confirmed = confirmed.load();
    result.returned = returned.load();
    result.nacked = nacked.load();
    result.consumed = consumed.load();
    result.acked = acked.load();
    result.retried = retried.load();
    result.dead_lettered = dead_lettered.load();
    return result;
  }
};

/// "out user.*,password.* -> herald.events".
inline std::string describe(const outbound_route& route) {
  std::string result = "out ";
  for (size_t i = 0; i < route.topics.size(); ++i) {
    if (i > 0)
      result += ',';
    result += route.topics[i];
  }
  return result + " -> " + route.exchange;
}

/// "in herald.mailer -> mailer".
inline std::string describe(const inbound_route& route) {
  return "in " + route.queue + " -> " + route.handler;
}

/// All counters of one bridge.
struct bridge_counters {
  /// One per route: settings.outbound in config order, then
  /// settings.inbound in config order (use outbound(i) / inbound(i)).
  std::vector<std::unique_ptr<route_counters>> routes;

  explicit bridge_counters(const amqp_settings& settings)
      : outbound_count_(settings.outbound.size()) {
    for (auto& route : settings.outbound)
      routes.push_back(std::make_unique<route_counters>(describe(route)));
    for (auto& route : settings.inbound)
      routes.push_back(std::make_unique<route_counters>(describe(route)));
  }

  /// Counters of settings.outbound[i].
  route_counters& outbound(size_t i) { return *routes.at(i); }

  /// Counters of settings.inbound[i].
  route_counters& inbound(size_t i) { return *routes.at(outbound_count_ + i); }

  /// Records the state of one of the bridge's connections, named by who owns
  /// it ("publisher", "in herald.mailer"): "connecting", "connected" or
  /// "disconnected: <error>". Thread-safe.
  void set_state(const std::string& connection, std::string state) {
    std::lock_guard<std::mutex> guard{mtx_};
    states_[connection] = std::move(state);
  }

  /// The state of the bridge as a whole: the first disconnected connection
  /// ("disconnected: <connection>: <error>"), else "connecting" while any
  /// connection is, else "connected" ("connecting" before any reported).
  std::string state() const {
    std::lock_guard<std::mutex> guard{mtx_};
    if (states_.empty())
      return "connecting";
    constexpr const char* down = "disconnected";
    bool connecting = false;
    for (auto& [name, state] : states_) {
      if (state.compare(0, 12, down) == 0) {
        auto detail = state.size() > 14 ? state.substr(14) : std::string{};
        return std::string{down} + ": " + name
               + (detail.empty() ? "" : ": " + detail);
      }
      if (state != "connected")
        connecting = true;
    }
    return connecting ? "connecting" : "connected";
  }

  /// Everything for `bridge status`; `broker` as from describe_broker().
  bridge_status snapshot(const std::string& broker) const {
    bridge_status result;
    result.broker = broker;
    result.state = state();
    for (auto& route : routes)
      result.routes.push_back(route->stats());
    return result;
  }

private:
  size_t outbound_count_;
  mutable std::mutex mtx_;
  /// Connection name -> its last state.
  std::map<std::string, std::string> states_;
};

} // namespace herald::amqp
