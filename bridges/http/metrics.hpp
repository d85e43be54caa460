// GET /metrics: the gateway's own counters (requests, logins) and figures
// sampled from the node's actors at scrape time, in Prometheus' text format
// (0.0.4), built with prometheus-cpp's core. The metric names are listed in
// README.md (Metrics).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "messages/bridge.hpp"
#include "messages/event.hpp"
#include "messages/hasher_actor.hpp"
#include "messages/node.hpp"
#include "messages/node_actor.hpp"

namespace herald::http {

enum class login_outcome { success, failure, throttled };

/// Figures sampled from the node's actors at scrape time; a part that did
/// not answer stays empty and shows no metrics.
struct node_figures {
  std::optional<outbox_status> outbox;
  std::optional<bridge_status> bridge;
  std::optional<hasher_status> hasher;
  /// Component states.
  std::optional<node_status> node;
};

/// The gateway's metrics. Thread-safe: the I/O threads call it at once.
class metrics {
public:
  metrics();
  ~metrics();

  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  /// One answered request: the route template ("/v1/users/{id}", or
  /// "unmatched"), method, status, seconds. Methods other than the
  /// standard ones count as "other", statuses outside 100..599 as 0: a
  /// client cannot make new time series.
  void request(const std::string& route, const std::string& method,
               unsigned status, double seconds);

  void login(login_outcome outcome);

  /// Prometheus text exposition (version 0.0.4) of everything, with
  /// `figures` as gauges.
  std::string render(const node_figures& figures) const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Asks the node (status with a request context, and (outbox, status)), the
/// AMQP bridge (if valid) and the hasher (if valid) in parallel from a
/// one-shot actor, each with `timeout`, and calls `done` exactly once with
/// what answered (from an actor thread; `done` must not block). An invalid
/// `node` is not asked.
void collect(caf::actor_system& sys, node_actor node, amqp_bridge_actor bridge,
             hasher_actor hasher, caf::timespan timeout,
             std::function<void(node_figures)> done);

} // namespace herald::http
