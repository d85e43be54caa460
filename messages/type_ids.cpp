#include "messages/type_ids.hpp"

#include <caf/actor_system_config.hpp>

#include "messages/error.hpp"

namespace herald {

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::herald>();
  add_error_category(cfg);
}

} // namespace herald
