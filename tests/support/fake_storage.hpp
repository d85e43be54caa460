// An in-memory account store behind the storage_actor interface, for
// actor-level tests. Tests reach into its data to arrange and check state and
// flip `down` to make every request fail with `unavailable`.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include <caf/typed_event_based_actor.hpp>

#include "messages/storage_actor.hpp"

namespace herald::test {

struct fake_store {
  std::map<uint64_t, account> accounts;
  uint64_t next_id = 1;
  /// When true, every request answers ec::unavailable.
  bool down = false;
  /// Number of requests received, by kind.
  size_t creates = 0;
  size_t updates = 0;
};

/// Spawnable behavior: `sys.spawn(fake_storage, store)`.
storage_actor::behavior_type fake_storage(storage_actor::pointer self,
                                          std::shared_ptr<fake_store> store);

} // namespace herald::test
