#include "messages/throttle.hpp"

#include <algorithm>
#include <set>

#include "messages/digest.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

caf::error refuse(std::string text) {
  return caf::make_error(ec::invalid_argument, std::move(text));
}

} // namespace

caf::error check_throttle_rules(const std::vector<throttle_rule>& rules) {
  if (rules.empty())
    return refuse("throttle: no rules");
  if (rules.size() > max_throttle_rules)
    return refuse("throttle: more than " + std::to_string(max_throttle_rules)
                  + " rules");
  std::set<std::string> seen;
  for (auto& r : rules) {
    if (r.key.empty())
      return refuse("throttle: empty key");
    if (!seen.insert(r.key).second)
      return refuse("throttle: a key is named twice");
    if (r.threshold == 0)
      return refuse("throttle: threshold 0");
    if (r.increment < 0 || r.max_wait < 0 || r.window < 0)
      return refuse("throttle: negative time");
  }
  return caf::none;
}

caf::error check_throttle_keys(const std::vector<std::string>& keys) {
  if (keys.empty())
    return refuse("throttle: no keys");
  if (keys.size() > max_throttle_rules)
    return refuse("throttle: more than " + std::to_string(max_throttle_rules)
                  + " keys");
  for (auto& k : keys)
    if (k.empty())
      return refuse("throttle: empty key");
  return caf::none;
}

int64_t throttle_wait(const throttle_rule& r, uint64_t count) {
  if (count < r.threshold || r.increment <= 0 || r.max_wait <= 0)
    return 0;
  auto steps = count - r.threshold + 1;
  // increment * steps > max_wait, asked without multiplying.
  if (steps > static_cast<uint64_t>(r.max_wait / r.increment))
    return r.max_wait;
  return std::min(r.max_wait, r.increment * static_cast<int64_t>(steps));
}

std::string throttle_key_hash(const std::string& key) {
  return sha256_hex(key);
}

} // namespace herald
