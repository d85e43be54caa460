#include "actors/token_verifier.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

#include "messages/error.hpp"

namespace herald {

namespace {

/// Enough shards that validators of different users rarely share a lock,
/// few enough that a small cache keeps a useful share per shard.
constexpr size_t max_shards = 16;

caf::error unauthenticated(std::string why) {
  return caf::make_error(ec::unauthenticated, std::move(why));
}

} // namespace

token_verifier::token_verifier(token_settings settings)
    : settings_(std::move(settings)) {
  if (auto err = check(settings_))
    misconfigured_ = caf::make_error(
        ec::internal, "token verifier misconfigured: " + render(err));
  auto max = std::max<size_t>(settings_.version_cache_max, 1);
  shard_count_ = std::min(max_shards, max);
  shard_capacity_ = (max + shard_count_ - 1) / shard_count_;
  shards_ = std::make_unique<shard[]>(shard_count_);
}

// -- validation ---------------------------------------------------------------

std::optional<caf::expected<claims>>
token_verifier::try_validate(const std::string& token) const {
  if (misconfigured_)
    return caf::expected<claims>{misconfigured_};
  auto now = settings_.now();
  auto c = verify(token, now);
  if (!c)
    return c;
  auto verdict = judge_cached(*c, now);
  if (!verdict)
    return std::nullopt;
  if (*verdict)
    return caf::expected<claims>{std::move(*verdict)};
  return c;
}

caf::expected<claims> token_verifier::verify(std::string_view token,
                                             int64_t now) const {
  return jwt::validate(token, settings_.keys, settings_.policy, now);
}

std::optional<caf::error> token_verifier::judge_cached(const claims& c,
                                                       int64_t now) const {
  auto ttl = static_cast<int64_t>(settings_.version_cache_ttl.count());
  auto& s = shard_of(c.subject);
  std::shared_lock<std::shared_mutex> guard{s.mtx};
  auto i = s.versions.find(c.subject);
  if (i == s.versions.end() || now - i->second.fetched_at >= ttl
      || c.token_version > i->second.version)
    return std::nullopt;
  return judge(c, i->second.version);
}

caf::error token_verifier::judge(const claims& c, uint32_t current) {
  if (c.token_version < current)
    return unauthenticated("token has been revoked");
  if (c.token_version > current)
    return unauthenticated("token version is newer than the account's");
  return caf::none;
}

// -- the cache ----------------------------------------------------------------

token_verifier::shard& token_verifier::shard_of(uint64_t user) const {
  // Ids are sequential: consecutive users land on different shards.
  return shards_[user % shard_count_];
}

uint64_t token_verifier::epoch(uint64_t user) const {
  auto& s = shard_of(user);
  std::shared_lock<std::shared_mutex> guard{s.mtx};
  return s.epoch;
}

bool token_verifier::remember(uint64_t user, uint32_t version,
                              int64_t fetched_at, uint64_t epoch) {
  auto& s = shard_of(user);
  std::unique_lock<std::shared_mutex> guard{s.mtx};
  if (s.epoch != epoch)
    return false;
  auto i = s.versions.find(user);
  if (i != s.versions.end()) {
    i->second.version = std::max(i->second.version, version);
    i->second.fetched_at = std::max(i->second.fetched_at, fetched_at);
    return true;
  }
  make_room(s);
  s.versions.emplace(user, cached_version{version, fetched_at});
  return true;
}

void token_verifier::replace(uint64_t user, uint32_t version,
                             int64_t fetched_at) {
  auto& s = shard_of(user);
  std::unique_lock<std::shared_mutex> guard{s.mtx};
  ++s.epoch;
  auto i = s.versions.find(user);
  if (i != s.versions.end()) {
    i->second.version = std::max(i->second.version, version);
    i->second.fetched_at = std::max(i->second.fetched_at, fetched_at);
    return;
  }
  make_room(s);
  s.versions.emplace(user, cached_version{version, fetched_at});
}

void token_verifier::forget(uint64_t user) {
  auto& s = shard_of(user);
  std::unique_lock<std::shared_mutex> guard{s.mtx};
  s.versions.erase(user);
  ++s.epoch;
}

size_t token_verifier::cached() const {
  size_t result = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    std::shared_lock<std::shared_mutex> guard{shards_[i].mtx};
    result += shards_[i].versions.size();
  }
  return result;
}

void token_verifier::make_room(shard& s) {
  if (s.versions.size() < shard_capacity_)
    return;
  auto now = settings_.now();
  auto ttl = static_cast<int64_t>(settings_.version_cache_ttl.count());
  for (auto j = s.versions.begin(); j != s.versions.end();)
    if (now - j->second.fetched_at >= ttl)
      j = s.versions.erase(j);
    else
      ++j;
  if (s.versions.size() >= shard_capacity_)
    s.versions.clear();
}

} // namespace herald
