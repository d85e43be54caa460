// The AMQP bridge as the rest of the system sees it: its status and its
// interface. Routes and wire formats are in bridges/amqp/settings.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/fwd.hpp"

namespace herald {

/// Counters of one route since the node started.
struct route_stats {
  /// "out user.*,password.* -> herald.events" or "in herald.mailer -> mailer".
  std::string route;
  uint64_t published = 0;
  uint64_t confirmed = 0;
  /// Unroutable (basic.return with mandatory): the event's own failure,
  /// retried, then dead.
  uint64_t returned = 0;
  uint64_t consumed = 0;
  uint64_t acked = 0;
  uint64_t retried = 0;
  uint64_t dead_lettered = 0;
  /// Refused for now (basic.nack, e.g. a queue at x-max-length with
  /// x-overflow=reject-publish): left pending, published again later.
  uint64_t nacked = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_stats& x) {
  return f(caf::meta::type_name("herald::route_stats"), x.route, x.published,
           x.confirmed, x.returned, x.consumed, x.acked, x.retried,
           x.dead_lettered, x.nacked);
}

/// What `heraldctl bridge status` shows. Never contains a password.
struct bridge_status {
  /// amqp://user@host:port/vhost
  std::string broker;
  /// "connected", "connecting", or "disconnected: <last error>".
  std::string state;
  std::vector<route_stats> routes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bridge_status& x) {
  return f(caf::meta::type_name("herald::bridge_status"), x.broker, x.state,
           x.routes);
}

using amqp_bridge_actor = caf::typed_actor<
  /// Connection state and per-route counters.
  caf::replies_to<atom::bridge, atom::status>::with<bridge_status>>;

} // namespace herald
