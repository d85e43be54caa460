// The actor system config of a node: CAF's modules (middleman, OpenSSL),
// herald's message types and error category, and herald's defaults for
// CAF's own options. herald's options are loaded by config/layers.hpp.
#pragma once

#include <caf/actor_system_config.hpp>

#include "config/layers.hpp"

namespace herald {

class node_config : public caf::actor_system_config {
public:
  node_config();

  /// CAF's options, for config::load: checked by CAF's declarations, stored
  /// here.
  config::framework_options framework();
};

} // namespace herald
