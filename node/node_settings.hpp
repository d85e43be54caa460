// What a node knows about itself: [herald] (name, roles, dev mode, log
// level, stop timeout) and [cluster] (where it publishes its receptionist).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "config/options.hpp"

namespace herald {

struct node_settings {
  std::string node_name = "herald-1";
  std::vector<std::string> roles = {"user", "token", "reset", "mailer"};
  /// Allows the development secrets; refused nowhere else.
  bool dev_mode = false;
  std::string log_level = "info";
  /// At a shutdown, how long a component may take to finish what it is
  /// doing before the node moves on (services answer what is left
  /// `unavailable`).
  std::chrono::milliseconds stop_timeout{std::chrono::seconds{10}};
};

struct cluster_settings {
  std::string host = "127.0.0.1";
  uint16_t port = 4710;
  /// Plaintext on a non-loopback cluster.host; refused outside dev mode.
  bool allow_plaintext = false;
  /// The largest message a plaintext cluster connection may announce
  /// (node/capped_multiplexer.hpp).
  uint32_t max_message_size = 1 << 20;
  /// host:port of other nodes to dial at start; the members they know are
  /// learned from them (node/membership.hpp).
  std::vector<std::string> seeds;
  /// Deadline of each request to another node (routing, membership).
  std::chrono::milliseconds request_timeout{std::chrono::seconds{5}};
  /// Longest pause between two dials of a member that does not answer.
  std::chrono::milliseconds retry_max{std::chrono::seconds{5}};
};

const config::section<node_settings>& node_section();

const config::section<cluster_settings>& cluster_section();

/// Every role a node can have, in the order --help lists them.
const std::vector<std::string>& known_roles();

/// [herald] as configured and checked: known roles, at least one, no
/// duplicates, a known log level, a name.
caf::expected<node_settings>
read_node_settings(const config::configuration& cfg);

} // namespace herald
