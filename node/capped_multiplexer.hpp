// CAF's network backend with a bound on what a plaintext connection may make
// the node allocate.
//
// Why: BASP trusts the payload length a peer announces in its 32-byte
// header, before any handshake: basp_broker configures the connection to
// read exactly that many bytes and the stream resizes (and zero-fills) its
// read buffer to it, up to 4 GiB per connection (CAF-NOTES "Distribution").
// Every plaintext connection (accepted or made, node or heraldctl) gets a
// scribe that refuses a read larger than `max-message-size`: it shuts the
// socket down instead, so the broker sees the connection close and cleans
// up as for any lost peer. Nothing else changes: the scribe is CAF's own,
// and the check is one comparison per message.
//
// TLS connections use caf_openssl's scribes, which this does not reach; a
// peer there must first finish the TLS handshake with a certificate of the
// cluster's CA before a single BASP byte is read.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/io/network/default_multiplexer.hpp>

namespace herald {

/// The largest BASP payload a plaintext connection may announce unless
/// configured otherwise: herald's largest messages (a page of users, a
/// status) are a few KiB, the handshake a few hundred bytes.
constexpr size_t default_max_message_size = size_t{1} << 20;

/// Sets the bound the multiplexer of a system made from `cfg` applies.
void set_max_message_size(caf::actor_system_config& cfg, size_t bytes);

/// Load with `cfg.load<caf::io::middleman, herald::capped_multiplexer>()`.
class capped_multiplexer : public caf::io::network::default_multiplexer {
public:
  explicit capped_multiplexer(caf::actor_system* sys);

  caf::io::scribe_ptr new_scribe(caf::io::network::native_socket fd) override;

  size_t max_message_size() const { return limit_; }

  /// Called (from a network thread) for every refused connection with a
  /// line saying who announced what. Set it before a system starts.
  static void set_reporter(std::function<void(const std::string&)> f);

private:
  size_t limit_;
};

} // namespace herald
