// Password hashing: argon2id for new hashes, argon2id and bcrypt for
// verification. The work is CPU-heavy and blocking, so it runs only in
// detached workers behind a pool (see spawn_hasher).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/worker_pool.hpp"
#include "messages/hasher_actor.hpp"

namespace herald {

/// argon2id cost parameters. Defaults are OWASP's minimum for argon2id.
struct argon2_params {
  uint32_t memory_kib = 19456;
  uint32_t iterations = 2;
  uint32_t parallelism = 1;
};

/// Hashes with a fresh 16-byte salt; answers a PHC string
/// (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). Blocking.
caf::expected<std::string> hash_password(const std::string& password,
                                         const argon2_params& params);

/// Verifies a password against an argon2id or bcrypt (`$2a$ $2b$ $2y$`) hash.
/// A hash in another or a broken format never matches. `needs_rehash` is set
/// for bcrypt and for argon2id hashes weaker than `params`. Blocking.
password_check verify_password(const std::string& password,
                               const std::string& encoded,
                               const argon2_params& params);

/// How much nicer (lower priority) than the process a pooled worker's
/// thread runs: argon2id holds a core for tens of milliseconds, and on a
/// busy machine cheap, latency-bound work (token validation on the
/// gateway's I/O threads, the actors) should not queue behind it; an idle
/// core still runs the hash at full speed.
constexpr int hashing_niceness = 10;

/// Lowers the calling thread's priority by hashing_niceness.
void lower_hashing_priority();

/// One hashing worker on its own (tests); its status is always idle.
hasher_actor::behavior_type hasher_worker(hasher_actor::pointer self,
                                          argon2_params params);

/// One detached hashing worker of a pool: counts its load in `slot` of
/// `load` (see worker_pool.hpp).
hasher_actor::behavior_type
pooled_hasher_worker(hasher_actor::pointer self, argon2_params params,
                     std::shared_ptr<worker_pool_load> load, size_t slot);

/// Spawns `workers` detached hashing workers behind one dispatcher, which
/// answers `(atom::status)` itself from the workers' load.
hasher_actor spawn_hasher(caf::actor_system& sys, size_t workers,
                          argon2_params params);

} // namespace herald
