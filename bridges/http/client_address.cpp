#include "bridges/http/client_address.hpp"

#include <array>

namespace herald::http {

namespace {

using boost::asio::ip::address;

/// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) compare as IPv4.
address plain(const address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped,
                                            a.to_v6());
  return a;
}

bool in_block(const address& a, const address& base, unsigned bits) {
  if (a.is_v4() != base.is_v4())
    return false;
  auto prefix_equal = [bits](const auto& x, const auto& y) {
    unsigned left = bits;
    for (size_t i = 0; i < x.size() && left > 0; ++i) {
      unsigned take = left >= 8 ? 8 : left;
      unsigned mask = (0xffu << (8 - take)) & 0xffu;
      if ((x[i] & mask) != (y[i] & mask))
        return false;
      left -= take;
    }
    return true;
  };
  if (a.is_v4())
    return prefix_equal(a.to_v4().to_bytes(), base.to_v4().to_bytes());
  return prefix_equal(a.to_v6().to_bytes(), base.to_v6().to_bytes());
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
    ++i;
  return s.substr(i);
}

} // namespace

trusted_proxies::trusted_proxies(const std::vector<std::string>& blocks) {
  for (auto& b : blocks) {
    auto slash = b.find('/');
    boost::system::error_code err;
    auto base = plain(boost::asio::ip::make_address(b.substr(0, slash), err));
    if (err)
      continue;
    unsigned bits = base.is_v4() ? 32 : 128;
    if (slash != std::string::npos)
      bits = std::min<unsigned>(bits, std::stoul(b.substr(slash + 1)));
    blocks_.push_back({base, bits});
  }
}

bool trusted_proxies::contains(const address& addr) const {
  auto a = plain(addr);
  for (auto& b : blocks_)
    if (in_block(a, b.base, b.bits))
      return true;
  return false;
}

std::string trusted_proxies::client(const address& peer,
                                    const std::string& forwarded_for) const {
  auto result = plain(peer);
  if (forwarded_for.empty() || !contains(result))
    return result.to_string();
  // Right to left: each hop was added by the proxy before it; the first
  // one that is not ours is the client. A hop that is no address ends the
  // walk (whatever is left of it, the client wrote).
  size_t end = forwarded_for.size();
  while (true) {
    auto comma = forwarded_for.rfind(',', end == 0 ? 0 : end - 1);
    size_t start = comma == std::string::npos || comma >= end ? 0 : comma + 1;
    auto hop = trim(forwarded_for.substr(start, end - start));
    boost::system::error_code err;
    auto addr = plain(boost::asio::ip::make_address(hop, err));
    if (err)
      return result.to_string();
    result = addr;
    if (!contains(addr) || start == 0)
      return result.to_string();
    end = start - 1;
  }
}

} // namespace herald::http
