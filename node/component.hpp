// A component: one service a node can run, with the roles that start it,
// the components it needs, the options it reads, and the function that
// reads them and spawns it (the shape of vast's spawn_*.cpp). Each lives
// beside its actor; node/catalogue.cpp lists them in dependency order.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "config/options.hpp"
#include "node/node_settings.hpp"

namespace herald {

class token_verifier;

/// What a spawn function gets. Spawn functions run in main, before the node
/// takes requests: blocking work (reading files, migrations, a first hash)
/// is fine there.
struct component_context {
  caf::actor_system& sys;
  const config::configuration& cfg;
  const node_settings& node;
  /// The components started so far, by name.
  std::map<std::string, caf::actor> running;
  /// Token validation without a round trip to the token actor (keys,
  /// policy, the node's token-version cache), for validators on threads of
  /// their own such as the HTTP gateway's; set by the token component's
  /// spawn, null on nodes that do not run it.
  std::shared_ptr<token_verifier> verifier;

  /// A component started before, as `Handle`; invalid if this node does not
  /// run it.
  template <class Handle>
  Handle get(const std::string& name) const {
    auto i = running.find(name);
    if (i == running.end())
      return Handle{};
    return caf::actor_cast<Handle>(i->second);
  }

  /// This node's routers (node/router.hpp) by service name ("user",
  /// "session", "token", "reset"): they reach this node's instance if it
  /// runs one, else a live member's. Set before the first component spawns;
  /// empty where no cluster runs (tests).
  std::map<std::string, caf::actor> routed;

  /// The router of service `name`, or this node's own instance where there
  /// is no router. For callers that must reach every instance (revocations
  /// go to every token cache of the cluster).
  template <class Handle>
  Handle route(const std::string& name) const {
    auto i = routed.find(name);
    if (i == routed.end() || !i->second)
      return get<Handle>(name);
    return caf::actor_cast<Handle>(i->second);
  }

  /// This node's own instance of service `name` if it runs one (no detour
  /// through a router), else its router: what a caller uses to reach the
  /// service wherever it runs.
  template <class Handle>
  Handle service(const std::string& name) const {
    if (running.count(name) > 0)
      return get<Handle>(name);
    return route<Handle>(name);
  }

  /// Whether the node has `role`.
  bool has_role(const std::string& role) const;
};

/// Which roles start a component.
struct role_rule {
  /// Any of these (empty: every node) ...
  std::vector<std::string> any;
  /// ... and all of these.
  std::vector<std::string> all;

  bool matches(const std::vector<std::string>& roles) const;

  /// For people: "user", "mailer or bridge", "user and token", "any".
  std::string describe() const;
};

struct component {
  /// Its name in the registry, in logs and in `heraldctl status`.
  std::string name;
  role_rule roles;
  /// Components that must run on the same node and start before it.
  std::vector<std::string> needs;
  /// The options it reads: for --help, the docs and the environment.
  std::vector<config::option> options;
  /// Reads and checks its settings, spawns it and answers its handle; an
  /// `invalid_argument` error names the option (configuration::invalid).
  std::function<caf::expected<caf::actor>(component_context&)> spawn;
  /// Its handle is a worker pool (actors/worker_pool.hpp) that replaces its
  /// own workers: the node asks it for their health in a status.
  bool pool = false;
  /// Reads and checks its settings without starting anything: a node
  /// checks every component of its roles before it starts the first, so a
  /// bad setting is reported as such, not hidden behind, say, a database
  /// that cannot be reached yet. Empty: spawn() checks.
  std::function<caf::error(const component_context&)> check = nullptr;
};

/// The error of `x`, or none if it holds a value: a check made from a
/// component's read function.
template <class T>
caf::error error_of(const caf::expected<T>& x) {
  return x ? caf::error{} : x.error();
}

/// `c` with a check that runs `read(ctx)` (a function that reads and checks
/// the component's settings) and keeps only its error.
template <class Read>
component checked_by(component c, Read read) {
  c.check
      = [read](const component_context& ctx) { return error_of(read(ctx)); };
  return c;
}

/// The options of several sections, in order.
template <class... Sections>
std::vector<config::option> options_of(const Sections&... sections) {
  std::vector<config::option> result;
  (result.insert(result.end(), sections.options().begin(),
                 sections.options().end()),
   ...);
  return result;
}

} // namespace herald
