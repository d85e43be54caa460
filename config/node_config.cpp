#include "config/node_config.hpp"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "messages/type_ids.hpp"
#include "node/capped_multiplexer.hpp"

namespace herald {

node_config::node_config() {
  // CAF's backend with a bound on what a plaintext peer may announce
  // (node/capped_multiplexer.hpp).
  load<caf::io::middleman, capped_multiplexer>();
  load<caf::openssl::manager>();
  herald::add_message_types(*this);
  // Our defaults for CAF's own options; file, environment and flags
  // override them.
  set("middleman.app-identifiers", std::vector<std::string>{"herald"});
  // Heartbeats are off in CAF by default: without them a frozen or cut-off
  // peer is never noticed. Clients (heraldctl) send them too, or the
  // connection timeout would drop them while they wait for a slow reply.
  // A peer is dropped when nothing came from it for the timeout, checked at
  // each heartbeat: a frozen member leaves routing within timeout + two
  // intervals (3.5 s), inside the cluster's 4 s; heraldctl's heartbeats
  // (every second) keep it well within the timeout.
  set("middleman.heartbeat-interval",
      caf::timespan{std::chrono::milliseconds(500)});
  set("middleman.connection-timeout",
      caf::timespan{std::chrono::milliseconds(2500)});
  // Idle scheduler workers that spin compete with the detached hashing and
  // MySQL threads for the same cores; measured with bench/ on 2 cores, no
  // spinning raised logins from 79% to 95% of raw argon2id and did not slow
  // token validation (see the closing note of issue 2).
  set("work-stealing.aggressive-poll-attempts", size_t{0});
  set("work-stealing.moderate-poll-attempts", size_t{0});
}

config::framework_options node_config::framework() {
  config::framework_options result;
  result.declared = &custom_options_;
  result.apply = [this](const std::string& name,
                        const caf::config_value& value) { set(name, value); };
  result.current
      = [this](const std::string& name) { return caf::get_if(&content, name); };
  return result;
}

} // namespace herald
