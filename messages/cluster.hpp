// Value types and atoms of cluster membership: what a node tells its peers
// about itself, and what `heraldctl cluster status` shows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/fwd.hpp"

CAF_ADD_ATOM(herald, herald::atom, cluster, "cluster")
CAF_ADD_ATOM(herald, herald::atom, join, "join")
CAF_ADD_ATOM(herald, herald::atom, leave, "leave")
CAF_ADD_ATOM(herald, herald::atom, start, "start")
CAF_ADD_ATOM(herald, herald::atom, gossip, "gossip")

namespace herald {

/// One start of a node as its peers know it.
struct member_info {
  std::string name;
  /// host:port of its node actor (the cluster port): where peers dial it.
  std::string address;
  std::vector<std::string> roles;
  /// Random, new at every start: a node restarted at the same address (or
  /// with the same CAF node id) is another member.
  std::string instance;
  int64_t started_at = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("herald::member_info"), x.name, x.address,
           x.roles, x.instance, x.started_at);
}

/// A member as this node sees it.
struct member_row {
  member_info info;
  /// "self", "up", "connecting" or "unreachable (<why>)".
  std::string state;
  /// Unix seconds of its last answer (0: never).
  int64_t last_seen = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_row& x) {
  return f(caf::meta::type_name("herald::member_row"), x.info, x.state,
           x.last_seen);
}

/// Where requests for one service go from this node.
struct route_row {
  /// "user", "session", "token" or "reset".
  std::string service;
  /// "local", or the members' addresses taken in turn; empty: none (requests
  /// get `unavailable` at once).
  std::vector<std::string> via;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_row& x) {
  return f(caf::meta::type_name("herald::route_row"), x.service, x.via);
}

/// What `heraldctl cluster status` shows: this node first, then every
/// member it knows of, and its routes.
struct cluster_status {
  std::vector<member_row> members;
  std::vector<route_row> routes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("herald::cluster_status"), x.members,
           x.routes);
}

} // namespace herald
