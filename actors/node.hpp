// The node actor: the receptionist a node publishes on its cluster port. It
// answers status and hands out the node's service handles. Wiring (reading
// config, spawning, publishing, shutdown) lives in apps/herald-node.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "messages/node_actor.hpp"
#include "messages/storage_actor.hpp"

namespace herald {

struct node_state {
  static inline const char* name = "node";
  /// Static part of the status (name, roles, endpoint, storage target).
  node_status info;
  storage_actor store;
  /// Invalid when this node does not host the service.
  user_actor users;
  token_actor tokens;
  password_reset_actor resets;
  outbox_relay_actor relay;
  amqp_bridge_actor bridge;
};

/// The services a node hosts; invalid handles for roles it does not have.
struct node_services {
  user_actor users;
  token_actor tokens;
  password_reset_actor resets;
  outbox_relay_actor relay;
  amqp_bridge_actor bridge;
};

node_actor::behavior_type node(node_actor::stateful_pointer<node_state> self,
                               node_status info, storage_actor store,
                               node_services services);

} // namespace herald
