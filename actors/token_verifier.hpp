// Token validation without an actor: the key ring, the policy and the one
// token-version cache of a node, safe to use from any number of threads at
// once. The gateway's I/O threads call try_validate() directly; the token
// actor (actors/token.hpp) uses the same object for its validations, reads
// storage when the cache cannot answer, and fills the cache; its `revoke`
// and `forget` change the cache at once, so a revocation takes effect on
// this node for both paths as soon as the token actor learns of it.
//
// The cache maps a user id to the token version last read from storage. It
// is split into shards by user id, each behind its own std::shared_mutex:
// validations only take shared locks, writers (the token actor on a cache
// miss, a revoke or a forget) take one shard's exclusive lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/token_settings.hpp"
#include "messages/token.hpp"

namespace herald {

/// A user's token version as last read from storage.
struct cached_version {
  uint32_t version = 0;
  /// Unix seconds (settings.now) of the read.
  int64_t fetched_at = 0;
};

class token_verifier {
public:
  /// Takes the settings as they are; if they fail `check`, every
  /// validation answers an `internal` error saying why.
  explicit token_verifier(token_settings settings);

  token_verifier(const token_verifier&) = delete;
  token_verifier& operator=(const token_verifier&) = delete;

  const token_settings& settings() const noexcept { return settings_; }

  /// The settings' error (as `internal`), none if they are fine.
  const caf::error& misconfigured() const noexcept { return misconfigured_; }

  /// The settings' clock, Unix seconds.
  int64_t now() const { return settings_.now(); }

  // -- validation -------------------------------------------------------------

  /// Signature and claim checks, then the cached version: an answer if it
  /// can be given without storage (valid claims, or the error), or nullopt
  /// when the user's version is not cached or older than version_cache_ttl
  /// (then ask the token actor, which reads storage and fills this cache).
  std::optional<caf::expected<claims>>
  try_validate(const std::string& token) const;

  /// Signature and claim checks at `now`, without the revocation check. A
  /// thread that verified the same header and payload before computes the
  /// MAC and checks the times again but does not read the JSON again.
  caf::expected<claims> verify(std::string_view token, int64_t now) const;

  /// The revocation check of verified claims against the cache at `now`:
  /// none (accepted) or the error if the cache can judge, nullopt if
  /// storage must be read (not cached, stale, or the token carries a newer
  /// version than the cache: a revocation elsewhere).
  std::optional<caf::error> judge_cached(const claims& c, int64_t now) const;

  /// Accepts the claims (no error) if their version is `current`, the
  /// account's version in storage.
  static caf::error judge(const claims& c, uint32_t current);

  // -- the cache (written by the token actor) --------------------------------

  /// The generation of `user`'s cache entry: take it before reading the
  /// user's version from storage and pass it to remember().
  uint64_t epoch(uint64_t user) const;

  /// Caches `version`, read from storage at `fetched_at`, unless `user` was
  /// forgotten (or revoked) since `epoch` was taken: such an answer may
  /// predate the change. Versions only grow: the larger of the cached and
  /// the new one stays. Answers whether the cache took it.
  bool remember(uint64_t user, uint32_t version, int64_t fetched_at,
                uint64_t epoch);

  /// What a revoke learned from storage: `version` is now current, older
  /// tokens fail at once, and reads under way do not bring back an older
  /// version.
  void replace(uint64_t user, uint32_t version, int64_t fetched_at);

  /// Drops what the cache knows about `user` (the version changed or the
  /// user is gone); reads under way do not refill it.
  void forget(uint64_t user);

  /// Entries in the cache, for tests and status.
  size_t cached() const;

  /// The bound on entries: version_cache_max rounded up to a multiple of
  /// the shard count (each shard holds its share).
  size_t capacity() const noexcept { return shard_count_ * shard_capacity_; }

private:
  struct alignas(64) shard {
    mutable std::shared_mutex mtx;
    std::unordered_map<uint64_t, cached_version> versions;
    /// Counts forgets and replaces of this shard's users.
    uint64_t epoch = 0;
  };

  shard& shard_of(uint64_t user) const;

  /// Makes room for one more entry in `s` (exclusive lock held): stale
  /// entries go first, then all.
  void make_room(shard& s);

  token_settings settings_;
  /// Tells this verifier's entries in the per-thread memo of verified
  /// tokens from those of other verifiers.
  uint64_t id_;
  caf::error misconfigured_;
  size_t shard_count_ = 1;
  size_t shard_capacity_ = 1;
  std::unique_ptr<shard[]> shards_;
};

} // namespace herald
