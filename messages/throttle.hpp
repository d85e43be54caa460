// Throttling state as storage keeps it: counters of events (failed logins,
// reset requests) per key, shared by every node through the database, with a
// wait that grows once a counter reaches its threshold. The gateway decides
// what it counts; storage keeps only the SHA-256 of each key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/fwd.hpp"

namespace herald {

/// One counter a request is throttled by. `key` names what is counted,
/// e.g. "login:email:alice@example.com" or "login:addr:192.0.2.7"; storage
/// keeps only its SHA-256.
struct throttle_rule {
  std::string key;
  uint32_t threshold = 30; // events counted before waits start
  int64_t increment = 60; // seconds of wait per event at and past the threshold
  int64_t max_wait = 900; // the wait never exceeds this (seconds)
  int64_t window = 43200; // seconds without an event after which the count
                          // starts over
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, throttle_rule& x) {
  return f(caf::meta::type_name("herald::throttle_rule"), x.key, x.threshold,
           x.increment, x.max_wait, x.window);
}

/// Rules (or keys) one request may name at most.
constexpr size_t max_throttle_rules = 8;

/// `invalid_argument` for what storage refuses to count: no rules, more than
/// `max_throttle_rules`, an empty key, a key named twice, threshold 0 or a
/// negative time.
caf::error check_throttle_rules(const std::vector<throttle_rule>& rules);

/// `invalid_argument` for an empty list, more than `max_throttle_rules` keys
/// or an empty key.
caf::error check_throttle_keys(const std::vector<std::string>& keys);

/// Seconds of wait after the event that made the count `count` under rule
/// `r`: 0 below the threshold, else min(max_wait, increment * (count -
/// threshold + 1)) without overflow. The key is blocked until the time of
/// that event plus this.
int64_t throttle_wait(const throttle_rule& r, uint64_t count);

/// What storage stores for a key: 64 lower-case hex digits of its SHA-256.
std::string throttle_key_hash(const std::string& key);

} // namespace herald
