#include "config/addresses.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace herald::config {

bool is_loopback_host(const std::string& host) {
  auto h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']')
    h = h.substr(1, h.size() - 2);
  if (h == "localhost")
    return true;
  unsigned char v4[4];
  if (inet_pton(AF_INET, h.c_str(), v4) == 1)
    return v4[0] == 127;
  unsigned char v6[16];
  if (inet_pton(AF_INET6, h.c_str(), v6) == 1) {
    static const unsigned char loop[16]
        = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char mapped[12]
        = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(v6, loop, 16) == 0
           || (std::memcmp(v6, mapped, 12) == 0 && v6[12] == 127);
  }
  return false;
}

std::string url_host(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos)
    return {};
  auto rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string::npos)
    rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    return close == std::string::npos ? std::string{}
                                      : rest.substr(1, close - 1);
  }
  return rest.substr(0, rest.find(':'));
}

} // namespace herald::config
