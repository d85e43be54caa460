#include "messages/context.hpp"

#include <algorithm>
#include <cstdint>

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
  // Request ids name a request in logs and answers; they grant nothing, so
  // they need to be unique, not unpredictable. RAND_bytes per request cost
  // a tenth of the gateway's CPU (OpenSSL asks getpid() on every call to
  // notice a fork), so each thread draws a random seed once and then walks
  // a counter through splitmix64, a bijection: no id repeats within a
  // thread, and threads (and processes) differ by their 64-bit seeds.
  struct sequence {
    uint64_t seed = 0;
    uint64_t next = 0;
    bool seeded = false;
  };
  thread_local sequence seq;
  if (!seq.seeded) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&seq.seed),
                   sizeof(seq.seed))
        != 1)
      return {};
    seq.seeded = true;
  }
  auto x = seq.seed + 0x9e3779b97f4a7c15ULL * ++seq.next;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  x ^= x >> 31;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "r-";
  for (int shift = 60; shift >= 0; shift -= 4)
    out += hex[(x >> shift) & 0x0f];
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
