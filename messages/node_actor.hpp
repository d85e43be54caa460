// Interface of the node actor: the receptionist a node publishes on its
// cluster port. Who may call: operators (heraldctl) and peer nodes; the
// port is loopback-only by default and gets mutual TLS with the cluster.
// It answers status and the handles of the services this node hosts, and
// only of those that are meant to be called from outside: storage, the
// hasher, the mailer and the event path (bus, relay) are never handed out.
// It hands out this node's own instances only, never a router
// (node/router.hpp): what a peer asks of this node runs here, and is never
// forwarded on to a third node.
#pragma once

#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/bridge.hpp"
#include "messages/cluster.hpp"
#include "messages/context.hpp"
#include "messages/event_actors.hpp"
#include "messages/fwd.hpp"
#include "messages/node.hpp"
#include "messages/reset_actor.hpp"
#include "messages/session_actor.hpp"
#include "messages/token_actor.hpp"
#include "messages/user_actor.hpp"

namespace herald {

using node_actor = caf::typed_actor<
    /// Answers at once, without asking any component: the node's instance
    /// id. Clients use it to check that answers reach them.
    caf::replies_to<atom::ping>::with<std::string>,
    /// Answers the node's status with its components and a storage check.
    caf::replies_to<atom::status, request_context>::with<node_status>,
    /// Answers the user service of this node; `unavailable` without it.
    caf::replies_to<atom::get, atom::user>::with<user_actor>,
    /// Answers the session (login) service; `unavailable` without it.
    caf::replies_to<atom::get, atom::session>::with<session_actor>,
    /// Answers the token service; `unavailable` without it.
    caf::replies_to<atom::get, atom::token>::with<token_actor>,
    /// Answers the password reset service; `unavailable` without it.
    caf::replies_to<atom::get, atom::reset>::with<password_reset_actor>,
    /// Answers the outbox's state (pending, dead, oldest, last error) as the
    /// relay of this node sees it; `unavailable` if this node runs none. The
    /// relay itself is never handed out: it acts on what storage answers.
    caf::replies_to<atom::outbox, atom::status>::with<outbox_status>,
    /// Answers the AMQP bridge; `unavailable` without the bridge role.
    caf::replies_to<atom::get, atom::bridge>::with<amqp_bridge_actor>,
    /// A peer node introduces itself (node/membership.hpp). Who may call:
    /// peer nodes. Answers this node's own member_info, then the members it
    /// has up (addresses, roles, instances: never a handle of another node,
    /// so a peer can reach a third node only by dialing it itself); the
    /// caller is dialed back. `unavailable` while the node starts.
    caf::replies_to<atom::join, member_info>::with<std::vector<member_info>>,
    /// Members (this node first: address, roles, state, last seen, instance)
    /// and where each service is routed from this node. Who may call:
    /// operators (heraldctl cluster status).
    caf::replies_to<atom::cluster, atom::status,
                    request_context>::with<cluster_status>>;

} // namespace herald
