#include "node/cluster_transport.hpp"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

namespace herald {

caf::io::middleman_actor cluster_transport(caf::actor_system& sys) {
  // With certificates configured (herald-node checked that all of
  // certificate, key and cafile are), every connection is mutual TLS; the
  // openssl manager without them would speak anonymous TLS, which herald
  // never uses.
  if (sys.has_openssl_manager()
      && sys.openssl_manager().authentication_enabled())
    return sys.openssl_manager().actor_handle();
  return sys.middleman().actor_handle();
}

} // namespace herald
