#include "node/cluster_transport.hpp"

#include <caf/io/middleman.hpp>

namespace herald {

caf::io::middleman_actor cluster_transport(caf::actor_system& sys) {
  return sys.middleman().actor_handle();
}

} // namespace herald
