// Value types describing a node.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/fwd.hpp"

namespace herald {

/// One component of a node as `heraldctl status` shows it.
struct component_status {
  /// "storage", "user", "amqp-bridge", ...
  std::string name;
  /// "running", "restarting" (a worker is being replaced), "stopping",
  /// "stopped" or "failed: <reason>".
  std::string state;
  /// Workers replaced since the node started (pools only).
  uint32_t restarts = 0;
  /// Unix seconds of the last change of state.
  int64_t since = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, component_status& x) {
  return f(caf::meta::type_name("herald::component_status"), x.name, x.state,
           x.restarts, x.since);
}

/// What `heraldctl status` shows. Never contains a secret.
struct node_status {
  std::string name;
  std::string version;
  std::vector<std::string> roles;
  std::string cluster_endpoint;
  /// Where accounts live, e.g. "mysql://herald@127.0.0.1:3307/herald".
  std::string storage;
  /// "ok" or the error text of the last storage ping.
  std::string storage_state;
  int64_t started_at = 0;
  /// Storage's estimate of the number of users (table statistics, not an
  /// exact count: it may lag behind recent changes).
  uint64_t users_estimate = 0;
  /// Random, new at every start: tells two starts of a node apart (CAF's
  /// node id does not, see CAF-NOTES.md).
  std::string instance;
  /// In the order they started.
  std::vector<component_status> components;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("herald::node_status"), x.name, x.version,
           x.roles, x.cluster_endpoint, x.storage, x.storage_state,
           x.started_at, x.users_estimate, x.instance, x.components);
}

/// What storage reports about itself.
struct storage_status {
  std::string target;
  std::string state;
  /// Estimated from the table statistics (O(1)), not counted.
  uint64_t users_estimate = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, storage_status& x) {
  return f(caf::meta::type_name("herald::storage_status"), x.target, x.state,
           x.users_estimate);
}

} // namespace herald
