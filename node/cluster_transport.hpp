// Where a node's outgoing cluster connections go: the middleman actor that
// a `connect_atom` is sent to. Membership and heraldctl use it; nothing
// calls the blocking remote_actor() from inside an actor.
#pragma once

#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>

namespace herald {

/// The middleman actor for outgoing cluster connections of `sys`.
caf::io::middleman_actor cluster_transport(caf::actor_system& sys);

} // namespace herald
