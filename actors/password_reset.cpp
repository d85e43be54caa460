#include "actors/password_reset.hpp"

#include <ctime>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "actors/base64url.hpp"
#include "messages/digest.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

using self_ptr = password_reset_actor::stateful_pointer<password_reset_state>;

constexpr size_t token_bytes = 32;
constexpr size_t token_chars = 43; // base64url of 32 bytes, no padding

void wake_relay(self_ptr self) {
  if (self->state.relay)
    self->send(self->state.relay, atom::wake_v);
}

} // namespace

std::string make_reset_token() {
  unsigned char buf[token_bytes];
  if (RAND_bytes(buf, sizeof(buf)) != 1)
    return {};
  return jwt::base64url_encode(
      std::string_view{reinterpret_cast<char*>(buf), sizeof(buf)});
}

std::string reset_token_hash(const std::string& token) {
  return sha256_hex(token);
}

caf::error check_reset_token(const std::string& token) {
  if (token.empty())
    return caf::make_error(ec::invalid_argument,
                           std::string{"reset token is empty"});
  if (token.size() != token_chars)
    return caf::make_error(
        ec::invalid_argument,
        "reset token must have " + std::to_string(token_chars)
            + " characters, not " + std::to_string(token.size()));
  std::string raw;
  if (!jwt::base64url_decode(token, raw) || raw.size() != token_bytes)
    return caf::make_error(ec::invalid_argument,
                           std::string{"reset token is not base64url"});
  return caf::none;
}

password_reset_actor::behavior_type password_reset(
    password_reset_actor::stateful_pointer<password_reset_state> self,
    reset_settings settings, storage_actor store, hasher_actor hasher,
    token_actor tokens, outbox_relay_actor relay) {
  auto& st = self->state;
  if (!settings.now)
    settings.now = [] { return static_cast<int64_t>(std::time(nullptr)); };
  st.settings = std::move(settings);
  st.store = std::move(store);
  st.hasher = std::move(hasher);
  st.tokens = std::move(tokens);
  st.relay = std::move(relay);
  drain_on_exit(self, st.requests, st.settings.drain_grace);
  return {
      [self](atom::reset_request, request_context& ctx,
             std::string email) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (auto err = admit(ctx))
          return err;
        if (auto err = normalize_email(email))
          return err;
        // No token here: the mailer makes it when it mails the link, so that
        // none rests in the outbox or travels on the broker.
        reset_ticket ticket;
        ticket.email = std::move(email);
        ticket.expires_at = st.settings.now() + st.settings.ttl.count();
        ticket.max_per_hour = st.settings.max_per_hour;
        auto rp = st.requests.open<caf::ok_atom>(self);
        // Known and unknown emails take the same path through storage; only
        // storage knows, and the answer is the same.
        self->request(st.store, st.settings.timeout, atom::reset_request_v, ctx,
                      std::move(ticket))
            .then(
                [self, rp](caf::ok_atom) mutable {
                  wake_relay(self);
                  rp.deliver(caf::ok_atom_v);
                },
                [rp](caf::error& err) mutable {
                  rp.deliver(dependency_failure(err, "storage"));
                });
        return rp;
      },
      [self](atom::reset_confirm, request_context& ctx,
             const std::string& token,
             std::string& password) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (auto err = admit(ctx))
          return err;
        if (auto err = check_reset_token(token))
          return err;
        if (auto err = check_password(password, st.settings.passwords))
          return err;
        auto hash = reset_token_hash(token);
        auto rp = st.requests.open<caf::ok_atom>(self);
        auto fail = [rp](caf::error& err) mutable {
          rp.deliver(dependency_failure(err, "storage or the hasher"));
        };
        // Check first so a bad token costs no hashing; the confirm re-checks
        // under the row lock.
        self->request(st.store, st.settings.timeout, atom::reset_check_v, hash)
            .then(
                [self, rp, ctx, hash, password, fail](caf::ok_atom) mutable {
                  auto& st = self->state;
                  self->request(st.hasher, st.settings.timeout, atom::hash_v,
                                password)
                      .then(
                          [self, rp, ctx, hash,
                           fail](std::string& phc) mutable {
                            auto& st = self->state;
                            self->request(st.store, st.settings.timeout,
                                          atom::reset_confirm_v, ctx, hash, phc)
                                .then(
                                    [self, rp, ctx](account& acc) mutable {
                                      auto& st = self->state;
                                      spdlog::info(
                                          "{} password of user {} reset",
                                          tag(ctx), acc.profile.id);
                                      if (st.tokens)
                                        self->send(st.tokens, atom::forget_v,
                                                   acc.profile.id,
                                                   acc.profile.token_version);
                                      wake_relay(self);
                                      rp.deliver(caf::ok_atom_v);
                                    },
                                    fail);
                          },
                          fail);
                },
                fail);
        return rp;
      },
  };
}

} // namespace herald
