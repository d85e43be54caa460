#include "actors/token_verifier.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <utility>

#include "actors/base64url.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

/// Enough shards that validators of different users rarely share a lock,
/// few enough that a small cache keeps a useful share per shard.
constexpr size_t max_shards = 16;

/// Size of an HS256 MAC, and of its base64url text.
constexpr size_t mac_size = 32;
constexpr size_t mac_text_size = 43;

/// Tokens whose header and payload are longer are not remembered.
constexpr size_t memo_max_input = 1024;

/// Per thread, the claims of tokens verified before, in slots picked by
/// their MAC: a client sends the same token with each request, and reading
/// its JSON again would answer the same. Only header and payload are kept
/// (no MAC: nothing here is a usable token).
struct memo_entry {
  /// The verifier that verified it (ids are never reused).
  uint64_t owner = 0;
  std::string input;
  claims verified;
};

constexpr size_t memo_slots = 64;

memo_entry& memo_slot(const unsigned char* mac) {
  thread_local memo_entry memo[memo_slots];
  uint64_t h = 0;
  std::memcpy(&h, mac, sizeof(h));
  return memo[h % memo_slots];
}

std::atomic<uint64_t> verifier_ids{0};

caf::error unauthenticated(std::string why) {
  return caf::make_error(ec::unauthenticated, std::move(why));
}

} // namespace

token_verifier::token_verifier(token_settings settings)
    : settings_(std::move(settings)), id_(++verifier_ids) {
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
  // A token this thread verified before: the MAC is computed again (the
  // memo is found by the received MAC, so it proves nothing), the JSON of
  // the same header and payload is not read again; the times are checked
  // again. Everything else gives the same answer as a full validation.
  unsigned char mac[mac_size];
  auto dot = token.rfind('.');
  bool memo = dot != std::string_view::npos && dot <= memo_max_input
              && token.size() - dot - 1 == mac_text_size
              && token.size() <= settings_.policy.max_size
              && jwt::base64url_decode(token.substr(dot + 1), mac);
  if (memo) {
    auto input = token.substr(0, dot);
    auto& e = memo_slot(mac);
    if (e.owner == id_ && e.input == input) {
      auto k = settings_.keys.find(e.verified.key_id);
      if (k != nullptr && jwt::mac_matches(*k, input, mac)) {
        if (auto err = jwt::check_times(e.verified, settings_.policy, now))
          return err;
        return e.verified;
      }
    }
  }
  auto result = jwt::validate(token, settings_.keys, settings_.policy, now);
  if (memo && result) {
    auto& e = memo_slot(mac);
    e.owner = id_;
    e.input.assign(token.data(), dot);
    e.verified = *result;
  }
  return result;
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
