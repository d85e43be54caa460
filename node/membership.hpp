// Membership: which other nodes are in the cluster, whether they are up,
// and which services they host; it tells this node's routers
// (node/router.hpp) where each service runs.
//
// A node dials its seeds (cluster.seeds) through the cluster transport's
// middleman actor (`connect_atom` with a timeout: no actor ever blocks in
// remote_actor), introduces itself to each peer's node actor (`join`) and
// gets back the peer's own member_info and the addresses of the members
// the peer has up; it dials those too, so every node learns every member,
// also those it was not seeded with. A peer that introduces itself is
// dialed back the same way. Every gossip interval it asks each member
// again (last seen, new members).
//
// Each start of a node has a random instance id: a member whose address
// answers with another instance is a new member, and nothing of the old one
// (its handles, its routes) is used. A member is dropped from routing on
// the down message of its node actor (the middleman's heartbeats and
// connection timeout notice a killed, frozen or cut-off peer) and dialed
// again with a backoff (capped) until it answers; then it is taken back.
//
// Who may call: this node's node actor (a peer's `join`, an operator's
// status) and main (`start`). A peer only ever gets this node's own info and
// a list of addresses: never a handle of a third node.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/cluster.hpp"
#include "messages/node_actor.hpp"

namespace herald {

using membership_actor = caf::typed_actor<
    /// A peer introduced itself (relayed by the node actor): answers this
    /// node's own info first, then every member it has up. The peer's
    /// address is dialed back; `unavailable` before `start`.
    caf::replies_to<atom::join, member_info>::with<std::vector<member_info>>,
    /// From main once the node actor is published: this node as peers see
    /// it and the services it runs itself; starts dialing the seeds.
    caf::reacts_to<atom::start, member_info, std::vector<std::string>>,
    /// Members (this node first) and where each service is routed.
    caf::replies_to<atom::cluster, atom::status>::with<cluster_status>,
    /// To itself: dial `address` again if generation `gen` still stands.
    caf::reacts_to<atom::tick, std::string, uint64_t>,
    /// To itself: ask every member that is up again.
    caf::reacts_to<atom::gossip>>;

struct membership_settings {
  /// host:port of nodes to dial at start.
  std::vector<std::string> seeds;
  /// A dial (TCP, handshake) gives up after this.
  caf::timespan connect_timeout = std::chrono::seconds{3};
  /// Each request to a peer's node actor.
  caf::timespan request_timeout = std::chrono::seconds{3};
  /// Pause before dialing an unreachable member again: doubled after each
  /// failure, up to retry_max.
  caf::timespan retry_min = std::chrono::milliseconds{250};
  caf::timespan retry_max = std::chrono::seconds{5};
  /// How often members are asked for their members.
  caf::timespan gossip_interval = std::chrono::seconds{1};
};

/// A member as this node tracks it, keyed by the address it is dialed at.
struct peer_state {
  std::string address;
  /// Known once it answered.
  member_info info;
  /// "connecting", "up", "unreachable (...)" or "alias" (the address of a
  /// member known under another address: not dialed again).
  std::string state = "connecting";
  node_actor node;
  /// Its services by name (user, session, token, reset).
  std::map<std::string, caf::actor> services;
  int64_t last_seen = 0;
  caf::timespan backoff{0};
  /// Changes at every dial and every loss: answers to an older generation
  /// are stale and ignored.
  uint64_t gen = 0;
  /// Logged the current outage already.
  bool reported = false;
};

struct membership_state {
  static inline const char* name = "membership";
  membership_settings cfg;
  caf::io::middleman_actor transport;
  /// This node's routers by service name.
  std::vector<std::pair<std::string, caf::actor>> routers;
  member_info self_info;
  std::vector<std::string> local_services;
  bool started = false;
  std::map<std::string, peer_state> peers;
};

/// The key a member's instances are known by in the routers.
std::string member_key(const member_info& info);

/// `sys.spawn(membership, settings, transport, routers)`: dials nothing
/// until `start`.
membership_actor::behavior_type
membership(membership_actor::stateful_pointer<membership_state> self,
           membership_settings cfg, caf::io::middleman_actor transport,
           std::vector<std::pair<std::string, caf::actor>> routers);

} // namespace herald
