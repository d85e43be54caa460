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

caf::result<claims> validate(self_pointer self, const std::string& token) {
  auto& st = self->state;
  auto& v = *st.verifier;
  auto now = v.now();
  auto c = v.verify(token, now);
  if (!c)
    return std::move(c.error());
  if (auto verdict = v.judge_cached(*c, now)) {
    if (*verdict)
      return std::move(*verdict);
    return std::move(*c);
  }
  // Not cached, stale, or the token is newer than the cached version (a
  // revocation elsewhere): ask storage.
  auto rp = st.requests.open<claims>(self);
  auto id = c->subject;
  auto epoch = v.epoch(id);
  self->request(st.store, v.settings().storage_timeout, atom::get_v, id)
      .then(
          [self, rp, epoch, found = std::move(*c)](account& acc) mutable {
            auto& v = *self->state.verifier;
            auto current = acc.profile.token_version;
            v.remember(found.subject, current, v.now(), epoch);
            if (auto err = token_verifier::judge(found, current))
              rp.deliver(std::move(err));
            else
              rp.deliver(std::move(found));
          },
          [self, rp, id](caf::error& err) mutable {
            if (is(err, ec::not_found)) {
              self->state.verifier->forget(id);
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
  self->request(st.store, st.verifier->settings().storage_timeout,
                atom::update_v, ctx, id, std::move(patch))
      .then(
          [self, rp, ctx, id](account& acc) mutable {
            spdlog::info("{} revoked every token of user {}", tag(ctx), id);
            auto& v = *self->state.verifier;
            v.replace(id, acc.profile.token_version, v.now());
            if (auto& cluster = self->state.cluster)
              self->send(cluster, atom::forget_v, id,
                         acc.profile.token_version);
            rp.deliver(acc.profile.token_version);
          },
          [self, rp, id](caf::error& err) mutable {
            // The bump may or may not have happened (e.g. on a timeout): forget
            // the cached version so the next validation reads storage.
            self->state.verifier->forget(id);
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
token_service(token_actor::stateful_pointer<token_state> self,
              std::shared_ptr<token_verifier> verifier, storage_actor store) {
  auto& st = self->state;
  if (verifier)
    st.misconfigured = misconfiguration("token", verifier->settings(),
                                        static_cast<bool>(store), "storage");
  else
    st.misconfigured
        = caf::make_error(ec::internal, std::string{"token service "
                                                    "misconfigured: no "
                                                    "verifier"});
  st.verifier = std::move(verifier);
  st.store = std::move(store);
  drain_on_exit(self, st.requests,
                st.verifier ? st.verifier->settings().drain_grace
                            : std::chrono::milliseconds{0});
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
        if (self->state.verifier)
          self->state.verifier->forget(id);
      },
  };
}

token_actor::behavior_type
clustered_token_service(token_actor::stateful_pointer<token_state> self,
                        std::shared_ptr<token_verifier> verifier,
                        storage_actor store, token_actor cluster) {
  self->state.cluster = std::move(cluster);
  return token_service(self, std::move(verifier), std::move(store));
}

token_actor::behavior_type
token(token_actor::stateful_pointer<token_state> self, token_settings settings,
      storage_actor store) {
  return token_service(self,
                       std::make_shared<token_verifier>(std::move(settings)),
                       std::move(store));
}

} // namespace herald
