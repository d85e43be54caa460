// Who the client is: the peer's address, or, when the peer is a trusted
// proxy, the first hop of X-Forwarded-For (read from the right) that is
// not a trusted proxy itself. A client cannot pick its own address by
// sending the header: without a trusted peer, the header is ignored.
#pragma once

#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace herald::http {

class trusted_proxies {
public:
  /// `blocks`: addresses or CIDR blocks, checked by read_settings.
  explicit trusted_proxies(const std::vector<std::string>& blocks);

  bool contains(const boost::asio::ip::address& addr) const;

  /// The client's address for a connection from `peer` whose request
  /// carried `forwarded_for` (the X-Forwarded-For value, maybe empty).
  std::string client(const boost::asio::ip::address& peer,
                     const std::string& forwarded_for) const;

private:
  struct block {
    boost::asio::ip::address base;
    unsigned bits = 0;
  };
  std::vector<block> blocks_;
};

} // namespace herald::http
