// Short forms of actors/base64url for writing expectations: `b64(x)` and
// `decode(x)`, which answers "<invalid>" for text it refuses.
#pragma once

#include <string>
#include <string_view>

#include "actors/base64url.hpp"

namespace herald::test {

inline std::string b64(std::string_view text) {
  return jwt::base64url_encode(text);
}

inline std::string decode(std::string_view text) {
  std::string out;
  if (!jwt::base64url_decode(text, out))
    return "<invalid>";
  return out;
}

} // namespace herald::test
