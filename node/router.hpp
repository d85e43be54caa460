// Routers: how this node's own callers (the HTTP gateway, the user and reset
// services telling token caches about revocations) reach a service that may
// run here or on other members. One router per service, each with the
// service's own typed interface, so a caller cannot tell it from the
// service itself.
//
// Where a request goes: this node's instance if it runs one, else a live
// remote instance, taken in turn (round robin). Every request gets the
// cluster's request timeout. A remote instance that goes away (its node is
// dropped, or it does not answer in time) fails over: a safe request (a
// read, a validation, a login) is tried once more on another instance; a
// write gets `unavailable` (it may or may not have been made: the caller
// decides). With no instance at all, `unavailable` comes at once.
//
// Who may call: actors of this node only. A router is never handed out over
// the cluster port (the node actor answers peers its local services only),
// and a request that reaches a router from another node is refused, so a
// peer's request is never forwarded to a third node.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/cluster.hpp"
#include "messages/reset_actor.hpp"
#include "messages/session_actor.hpp"
#include "messages/token_actor.hpp"
#include "messages/user_actor.hpp"

namespace herald {

/// `Service`'s interface plus what tells the router where instances are.
template <class Service>
using router_actor = typename Service::template extend<
    /// An instance of the service: `member` is the member's key
    /// ("address/instance"), or "" for this node's own instance (which is
    /// then always taken first). A remote instance is monitored: when it
    /// goes down it is dropped. Sent by this node's main and membership.
    caf::reacts_to<atom::join, std::string, caf::actor>,
    /// The member is gone (or restarted as another instance): its instance
    /// is dropped and requests in flight to it fail over. From membership.
    caf::reacts_to<atom::leave, std::string>>;

using user_router_actor = router_actor<user_actor>;
using session_router_actor = router_actor<session_actor>;
using token_router_actor = router_actor<token_actor>;
using reset_router_actor = router_actor<password_reset_actor>;

/// One instance a router may send to.
struct routed_instance {
  /// "" for this node's own.
  std::string member;
  caf::actor handle;
};

struct router_state {
  static inline const char* name = "router";
  /// "user", "session", "token" or "reset": for messages.
  std::string service;
  /// Per attempt.
  caf::timespan timeout;
  caf::actor local;
  /// Remote instances, in join order.
  std::vector<routed_instance> remotes;
  /// Round-robin position in `remotes`.
  size_t next = 0;
  /// A request sent and not yet answered: to whom, and what to do if that
  /// member goes away before it answers.
  struct attempt {
    std::string member;
    std::function<void(const std::string&)> gone;
  };
  std::map<uint64_t, attempt> in_flight;
  uint64_t last_id = 0;
};

/// `sys.spawn(user_router, timeout)` and so on: a router with no instance
/// yet. `timeout` is each attempt's (cluster.request-timeout).
user_router_actor::behavior_type
user_router(user_router_actor::stateful_pointer<router_state> self,
            caf::timespan timeout);
session_router_actor::behavior_type
session_router(session_router_actor::stateful_pointer<router_state> self,
               caf::timespan timeout);
/// `forget` goes to every instance (this node's and every live member's
/// token cache); when this node's own token service sends it (after its
/// own `revoke`), only to the others.
token_router_actor::behavior_type
token_router(token_router_actor::stateful_pointer<router_state> self,
             caf::timespan timeout);
reset_router_actor::behavior_type
reset_router(reset_router_actor::stateful_pointer<router_state> self,
             caf::timespan timeout);

/// The routers of one node, by service name ("user", "session", "token",
/// "reset"), as plain handles (membership tells them about instances).
struct routers {
  user_router_actor user;
  session_router_actor session;
  token_router_actor token;
  reset_router_actor reset;

  /// Each router as a plain handle, with its service name.
  std::vector<std::pair<std::string, caf::actor>> all() const;
};

/// Spawns the four routers of a node.
routers spawn_routers(caf::actor_system& sys, caf::timespan timeout);

} // namespace herald
