#include "actors/base64url.hpp"

#include <cstdint>

namespace herald::jwt {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "abcdefghijklmnopqrstuvwxyz"
                            "0123456789-_";

/// The value of each byte as a character of the alphabet, or -1: one
/// lookup per character on the validation path of every request.
constexpr auto sextets = [] {
  struct table {
    int8_t v[256];
  } t{};
  for (auto& x : t.v)
    x = -1;
  for (int i = 0; i < 64; ++i)
    t.v[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}();

int sextet(char c) {
  return sextets.v[static_cast<unsigned char>(c)];
}

} // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (auto c : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 0x3f];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0)
    out += alphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

size_t base64url_decoded_size(std::string_view text) {
  return text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1);
}

bool base64url_decode(std::string_view text, unsigned char* out) {
  // OpenSSL's decoder reads padded standard base64 only; this one reads the
  // unpadded URL alphabet in place, four characters to three bytes.
  if (text.size() % 4 == 1)
    return false;
  auto in = reinterpret_cast<const unsigned char*>(text.data());
  auto full = text.size() / 4;
  for (size_t g = 0; g < full; ++g, in += 4, out += 3) {
    int32_t a = sextets.v[in[0]], b = sextets.v[in[1]], c = sextets.v[in[2]],
            d = sextets.v[in[3]];
    if ((a | b | c | d) < 0)
      return false;
    auto n = static_cast<uint32_t>((a << 18) | (b << 12) | (c << 6) | d);
    out[0] = static_cast<unsigned char>(n >> 16);
    out[1] = static_cast<unsigned char>(n >> 8);
    out[2] = static_cast<unsigned char>(n);
  }
  switch (text.size() % 4) {
  case 2: {
    int32_t a = sextets.v[in[0]], b = sextets.v[in[1]];
    // Leftover bits must be zero: otherwise two texts decode to the same
    // bytes.
    if ((a | b) < 0 || (b & 0x0f) != 0)
      return false;
    out[0] = static_cast<unsigned char>((a << 2) | (b >> 4));
    break;
  }
  case 3: {
    int32_t a = sextets.v[in[0]], b = sextets.v[in[1]], c = sextets.v[in[2]];
    if ((a | b | c) < 0 || (c & 0x03) != 0)
      return false;
    auto n = static_cast<uint32_t>((a << 12) | (b << 6) | c);
    out[0] = static_cast<unsigned char>(n >> 10);
    out[1] = static_cast<unsigned char>(n >> 2);
    break;
  }
  default:
    break;
  }
  return true;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1)
    return false;
  out.resize(base64url_decoded_size(text));
  if (base64url_decode(text, reinterpret_cast<unsigned char*>(out.data())))
    return true;
  out.clear();
  return false;
}

bool is_base64url_char(char c) {
  return sextet(c) >= 0;
}

} // namespace herald::jwt
