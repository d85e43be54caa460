#include "node/node_settings.hpp"

#include <algorithm>

namespace herald {

const config::section<node_settings>& node_section() {
  static const auto s
      = config::section<node_settings>{"herald"}
            .add(&node_settings::node_name, "node-name",
                 "name of this node in logs, status and events")
            .add(&node_settings::roles, "roles",
                 "services this node hosts: user, token, reset, mailer, "
                 "bridge, gateway")
            .add(&node_settings::dev_mode, "dev-mode",
                 "allow the development secrets (never in production)")
            .add(&node_settings::log_level, "log-level",
                 "trace, debug, info, warn or error")
            .add(&node_settings::stop_timeout, "stop-timeout",
                 "at a shutdown, the time each component gets to finish "
                 "requests under way")
            .range(std::chrono::seconds{1}, std::chrono::minutes{10});
  return s;
}

const config::section<cluster_settings>& cluster_section() {
  static const auto s
      = config::section<cluster_settings>{"cluster"}
            .add(&cluster_settings::host, "host",
                 "address the node publishes its receptionist on (heraldctl "
                 "connects here)")
            .add(&cluster_settings::port, "port",
                 "port of the receptionist (0: any free port)")
            .add(&cluster_settings::allow_plaintext, "allow-plaintext",
                 "allow a non-loopback cluster.host without TLS (dev mode "
                 "only)")
            .add(&cluster_settings::max_message_size, "max-message-size",
                 "largest message (bytes) a plaintext cluster connection may "
                 "announce; a larger one closes the connection")
            .range(4096, 256 << 20)
            .add(&cluster_settings::seeds, "seeds",
                 "host:port of other nodes to join at start, e.g. "
                 "[\"10.0.0.2:4710\"]; the members they know are learned "
                 "from them")
            .add(&cluster_settings::request_timeout, "request-timeout",
                 "deadline of each request to another node; a read, "
                 "validation or login is tried once on another node after it")
            .range(std::chrono::milliseconds{100}, std::chrono::minutes{5})
            .add(&cluster_settings::retry_max, "retry-max",
                 "longest pause between two tries to reach a member that "
                 "does not answer")
            .range(std::chrono::milliseconds{100}, std::chrono::minutes{5});
  return s;
}

const std::vector<std::string>& known_roles() {
  static const std::vector<std::string> roles{"user",   "token",  "reset",
                                              "mailer", "bridge", "gateway"};
  return roles;
}

caf::expected<node_settings>
read_node_settings(const config::configuration& cfg) {
  auto s = node_section().read(cfg);
  if (s.node_name.empty() || s.node_name.size() > 64)
    return cfg.invalid("herald.node-name", "must be 1 to 64 characters");
  if (s.roles.empty())
    return cfg.invalid("herald.roles", "a node needs at least one role");
  auto& known = known_roles();
  std::string known_text;
  for (auto& r : known)
    known_text += (known_text.empty() ? "" : ", ") + r;
  for (auto i = s.roles.begin(); i != s.roles.end(); ++i) {
    if (std::find(known.begin(), known.end(), *i) == known.end())
      return cfg.invalid("herald.roles", "unknown role '" + *i
                                             + "' (known: " + known_text + ")");
    if (std::find(s.roles.begin(), i, *i) != i)
      return cfg.invalid("herald.roles", "role '" + *i + "' appears twice");
  }
  static const char* levels[] = {"trace", "debug", "info", "warn", "error"};
  if (std::find(std::begin(levels), std::end(levels), s.log_level)
      == std::end(levels))
    return cfg.invalid("herald.log-level",
                       "must be trace, debug, info, warn or error");
  return s;
}

} // namespace herald
