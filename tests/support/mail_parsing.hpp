// Reading back what the SMTP bridge composes (bridges/smtp/mime): tests
// decode headers and parts themselves instead of trusting the encoder.
#pragma once

#include <cstdint>
#include <string>

namespace herald::test {

/// Decodes standard base64 (RFC 4648 section 4); padding and characters
/// outside the alphabet, such as line breaks, are skipped.
inline std::string base64_decode(const std::string& in) {
  static const std::string alphabet
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (auto c : in) {
    auto pos = alphabet.find(c);
    if (pos == std::string::npos)
      continue;
    acc = (acc << 6) | static_cast<uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

} // namespace herald::test
