#include "actors/token.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"
#include "messages/user.hpp"

namespace herald {

namespace {

using self_pointer = token_actor::stateful_pointer<token_state>;

caf::error unauthenticated(std::string why) {
  return caf::make_error(ec::unauthenticated, std::move(why));
}

bool is(const caf::error& err, ec code) {
  return err && err.category() == caf::atom("herald")
         && err.code() == static_cast<uint8_t>(code);
}

/// Accepts the claims (no error) if their version is the account's current
/// one.
caf::error judge(const claims& c, uint32_t current) {
  if (c.token_version < current)
    return unauthenticated("token has been revoked");
  if (c.token_version > current)
    return unauthenticated("token version is newer than the account's");
  return caf::none;
}

/// Caches a version read from storage. Versions only grow, so the larger of
/// the cached and the new value is the right one.
void remember(self_pointer self, uint64_t id, uint32_t version) {
  auto& st = self->state;
  auto now = st.settings.now();
  auto i = st.versions.find(id);
  if (i != st.versions.end()) {
    i->second.version = std::max(i->second.version, version);
    i->second.fetched_at = now;
    return;
  }
  if (st.versions.size() >= st.settings.version_cache_max) {
    auto ttl = static_cast<int64_t>(st.settings.version_cache_ttl.count());
    for (auto j = st.versions.begin(); j != st.versions.end();)
      if (now - j->second.fetched_at >= ttl)
        j = st.versions.erase(j);
      else
        ++j;
    if (st.versions.size() >= st.settings.version_cache_max)
      st.versions.clear();
  }
  st.versions.emplace(id, cached_version{version, now});
}

/// Drops what we know about a user; reads already under way must not bring
/// the old value back.
void drop(self_pointer self, uint64_t id) {
  self->state.versions.erase(id);
  ++self->state.epoch;
}

caf::result<claims> validate(self_pointer self, const std::string& token) {
  auto& st = self->state;
  auto now = st.settings.now();
  auto c = jwt::validate(token, st.settings.keys, st.settings.policy, now);
  if (!c)
    return std::move(c.error());
  auto ttl = static_cast<int64_t>(st.settings.version_cache_ttl.count());
  if (auto i = st.versions.find(c->subject);
      i != st.versions.end() && now - i->second.fetched_at < ttl
      && c->token_version <= i->second.version) {
    if (auto err = judge(*c, i->second.version))
      return err;
    return std::move(*c);
  }
  // Not cached, stale, or the token is newer than the cached version (a
  // revocation elsewhere): ask storage.
  auto rp = st.requests.open<claims>(self);
  auto id = c->subject;
  auto epoch = st.epoch;
  self->request(st.store, st.settings.storage_timeout, atom::get_v, id)
      .then(
          [self, rp, epoch, found = std::move(*c)](account& acc) mutable {
            auto current = acc.profile.token_version;
            if (self->state.epoch == epoch)
              remember(self, found.subject, current);
            if (auto err = judge(found, current))
              rp.deliver(std::move(err));
            else
              rp.deliver(std::move(found));
          },
          [self, rp, id](caf::error& err) mutable {
            if (is(err, ec::not_found)) {
              drop(self, id);
              rp.deliver(unauthenticated("the token's user no longer exists"));
              return;
            }
            // Never pretend the token is fine when its revocation state is
            // unknown.
            rp.deliver(caf::make_error(
                ec::unavailable,
                "cannot check whether the token was revoked: " + render(err)));
          });
  return rp;
}

caf::result<uint32_t> revoke(self_pointer self, const request_context& ctx,
                             uint64_t id) {
  auto& st = self->state;
  auto rp = st.requests.open<uint32_t>(self);
  account_patch patch;
  patch.bump_token_version = true;
  self->request(st.store, st.settings.storage_timeout, atom::update_v, ctx, id,
                std::move(patch))
      .then(
          [self, rp, ctx, id](account& acc) mutable {
            spdlog::info("{} revoked every token of user {}", tag(ctx), id);
            drop(self, id);
            remember(self, id, acc.profile.token_version);
            rp.deliver(acc.profile.token_version);
          },
          [self, rp, id](caf::error& err) mutable {
            // The bump may or may not have happened (e.g. on a timeout): forget
            // the cached version so the next validation reads storage.
            drop(self, id);
            rp.deliver(dependency_failure(err, "storage"));
          });
  return rp;
}

} // namespace

int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

caf::error misconfiguration(const char* service, const token_settings& settings,
                            bool has_peer, const char* peer) {
  auto err = check(settings);
  if (!err && !has_peer)
    err = caf::make_error(ec::internal, std::string{"no "} + peer);
  if (!err)
    return caf::none;
  return caf::make_error(ec::internal,
                         std::string{service}
                             + " service misconfigured: " + render(err));
}

caf::error check(const token_settings& settings) {
  if (auto err = jwt::check(settings.keys))
    return err;
  if (auto err = jwt::check(settings.policy))
    return err;
  if (settings.version_cache_ttl.count() < 0)
    return caf::make_error(ec::invalid_argument,
                           std::string{"version-cache-ttl must not be "
                                       "negative"});
  if (settings.storage_timeout.count() <= 0)
    return caf::make_error(ec::invalid_argument,
                           std::string{"storage timeout must be positive"});
  if (settings.version_cache_max == 0)
    return caf::make_error(ec::invalid_argument,
                           std::string{"version cache must hold entries"});
  if (!settings.now)
    return caf::make_error(ec::invalid_argument,
                           std::string{"token settings need a clock"});
  return caf::none;
}

token_actor::behavior_type
token(token_actor::stateful_pointer<token_state> self, token_settings settings,
      storage_actor store) {
  auto& st = self->state;
  st.misconfigured = misconfiguration("token", settings,
                                      static_cast<bool>(store), "storage");
  st.settings = std::move(settings);
  st.store = std::move(store);
  drain_on_exit(self, st.requests, st.settings.drain_grace);
  return {
      [self](atom::validate, request_context& ctx,
             const std::string& token) -> caf::result<claims> {
        if (self->state.misconfigured)
          return self->state.misconfigured;
        if (auto err = admit(ctx))
          return err;
        return validate(self, token);
      },
      [self](atom::revoke, request_context& ctx,
             uint64_t id) -> caf::result<uint32_t> {
        if (self->state.misconfigured)
          return self->state.misconfigured;
        if (auto err = admit(ctx))
          return err;
        return revoke(self, ctx, id);
      },
      [self](atom::forget, uint64_t id, uint32_t) {
        // Dropping (rather than storing the given version) is right for both
        // senders: after a password change storage already holds the new
        // version, and after a delete there is no version to keep.
        drop(self, id);
      },
  };
}

} // namespace herald
