#include "messages/context.hpp"

#include <algorithm>

#include <openssl/rand.h>

#include "messages/error.hpp"

namespace herald {

namespace {

constexpr size_t max_id = 64;
constexpr size_t max_caller = 128;

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':'
         || c == '-';
}

} // namespace

bool is_request_id(const std::string& id) {
  return !id.empty() && id.size() <= max_id
         && std::all_of(id.begin(), id.end(), id_char);
}

std::string new_request_id() {
  unsigned char raw[8];
  if (RAND_bytes(raw, sizeof(raw)) != 1)
    return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "r-";
  for (auto b : raw) {
    out += hex[b >> 4];
    out += hex[b & 0x0f];
  }
  return out;
}

caf::error admit(request_context& ctx) {
  if (ctx.id.size() > max_id)
    return caf::make_error(ec::invalid_argument, "request id is longer than "
                                                     + std::to_string(max_id)
                                                     + " characters");
  for (auto c : ctx.id)
    if (!id_char(c))
      return caf::make_error(ec::invalid_argument,
                             std::string{"request id may hold only letters, "
                                         "digits and . _ : -"});
  if (ctx.caller.size() > max_caller)
    return caf::make_error(ec::invalid_argument,
                           "caller is longer than " + std::to_string(max_caller)
                               + " characters");
  for (auto c : ctx.caller)
    if (c < 0x21 || c > 0x7e)
      return caf::make_error(ec::invalid_argument,
                             std::string{"caller may hold only printable "
                                         "ASCII without spaces"});
  if (ctx.id.empty()) {
    ctx.id = new_request_id();
    if (ctx.id.empty())
      return caf::make_error(ec::internal,
                             std::string{"no randomness for a request id"});
  }
  return caf::none;
}

std::string tag(const request_context& ctx) {
  if (ctx.caller.empty())
    return "[" + ctx.id + "]";
  return "[" + ctx.id + " by " + ctx.caller + "]";
}

} // namespace herald
