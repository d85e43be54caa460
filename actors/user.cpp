#include "actors/user.hpp"

#include <optional>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace herald {

namespace {

using self_ptr = user_actor::stateful_pointer<user_state>;

caf::error wrong_credentials() {
  return caf::make_error(ec::unauthenticated,
                         std::string{"wrong email or password"});
}

/// Tells the local token service that a user's tokens below `version` (or
/// all, after deletion) are void.
void announce_version(self_ptr self, uint64_t id, uint32_t version) {
  if (self->state.tokens)
    self->send(self->state.tokens, atom::forget_v, id, version);
}

/// Every change wrote an event to the outbox; the relay sends it now.
void wake_relay(self_ptr self) {
  if (self->state.relay)
    self->send(self->state.relay, atom::wake_v);
}

/// Stores a patch and answers the promise with the public view.
void store_patch(self_ptr self, open_requests::promise<user> rp,
                 const request_context& ctx, uint64_t id, account_patch patch) {
  bool revokes = patch.bump_token_version;
  self->request(self->state.store, self->state.settings.timeout, atom::update_v,
                ctx, id, std::move(patch))
      .then(
          [self, rp, revokes](account& acc) mutable {
            if (revokes)
              announce_version(self, acc.profile.id, acc.profile.token_version);
            wake_relay(self);
            rp.deliver(std::move(acc.profile));
          },
          [rp](caf::error& err) mutable {
            rp.deliver(dependency_failure(err, "storage"));
          });
}

/// After a successful login with an outdated hash: store a fresh argon2id
/// hash. Failure only costs another rehash at the next login.
void rehash(self_ptr self, const request_context& ctx, uint64_t id,
            const std::string& password, std::string verified_hash) {
  auto& st = self->state;
  self->request(st.hasher, st.settings.timeout, atom::hash_v, password)
      .then(
          [self, ctx, id, verified_hash](std::string& hash) {
            account_patch patch;
            patch.set_password_hash = true;
            patch.password_hash = std::move(hash);
            // Only over the hash that was checked: a reset or a change
            // that came meanwhile wins.
            patch.only_if_hash = verified_hash;
            self->request(self->state.store, self->state.settings.timeout,
                          atom::update_v, ctx, id, std::move(patch))
                .then(
                    [ctx, id](account&) {
                      spdlog::info("{} rehashed password of user {}", tag(ctx),
                                   id);
                    },
                    [ctx, id](caf::error& err) {
                      spdlog::warn("{} storing rehash of user {} failed: {}",
                                   tag(ctx), id, render(err));
                    });
          },
          [ctx, id](caf::error& err) {
            spdlog::warn("{} rehash of user {} failed: {}", tag(ctx), id,
                         render(err));
          });
}

} // namespace

user_actor::behavior_type
user_service(user_actor::stateful_pointer<user_state> self,
             user_settings settings, storage_actor store, hasher_actor hasher,
             token_actor tokens, outbox_relay_actor relay) {
  auto& st = self->state;
  st.relay = std::move(relay);
  st.settings = std::move(settings);
  st.store = std::move(store);
  st.hasher = std::move(hasher);
  st.tokens = std::move(tokens);
  drain_on_exit(self, st.requests, st.settings.drain_grace);
  // Answers a storage reply's account as the public view.
  auto profile_to = [](open_requests::promise<user> rp) {
    return [rp](account& acc) mutable { rp.deliver(std::move(acc.profile)); };
  };
  auto error_to = [](auto rp) {
    return [rp](caf::error& err) mutable {
      rp.deliver(dependency_failure(err, "storage or the hasher"));
    };
  };
  return {
      [self, error_to](atom::create, request_context& ctx,
                       new_user& x) -> caf::result<user> {
        auto& st = self->state;
        if (auto err = admit(ctx))
          return err;
        if (auto err = normalize_name(x.name))
          return err;
        if (auto err = normalize_email(x.email))
          return err;
        if (auto err = check_password(x.password, st.settings.passwords))
          return err;
        if (auto err = check_role(x.role))
          return err;
        auto rp = st.requests.open<user>(self);
        auto password = std::move(x.password);
        self->request(st.hasher, st.settings.timeout, atom::hash_v, password)
            .then(
                [self, rp, ctx, x, error_to](std::string& hash) mutable {
                  new_account acc{std::move(x.name), std::move(x.email),
                                  std::move(x.role), std::move(hash)};
                  self->request(self->state.store, self->state.settings.timeout,
                                atom::create_v, ctx, std::move(acc))
                      .then(
                          [self, rp, ctx](account& created) mutable {
                            spdlog::info("{} created user {}", tag(ctx),
                                         created.profile.id);
                            wake_relay(self);
                            rp.deliver(std::move(created.profile));
                          },
                          error_to(rp));
                },
                error_to(rp));
        return rp;
      },
      [self, profile_to, error_to](atom::get, request_context& ctx,
                                   uint64_t id) -> caf::result<user> {
        if (auto err = admit(ctx))
          return err;
        auto rp = self->state.requests.open<user>(self);
        self->request(self->state.store, self->state.settings.timeout,
                      atom::get_v, id)
            .then(profile_to(rp), error_to(rp));
        return rp;
      },
      [self, profile_to, error_to](atom::get, request_context& ctx,
                                   atom::by_email,
                                   std::string email) -> caf::result<user> {
        if (auto err = admit(ctx))
          return err;
        if (auto err = normalize_email(email))
          return err;
        auto rp = self->state.requests.open<user>(self);
        self->request(self->state.store, self->state.settings.timeout,
                      atom::get_v, atom::by_email_v, std::move(email))
            .then(profile_to(rp), error_to(rp));
        return rp;
      },
      [self, error_to](atom::list, request_context& ctx, uint64_t after,
                       uint32_t limit) -> caf::result<user_page> {
        if (auto err = admit(ctx))
          return err;
        if (limit < 1 || limit > 100)
          return caf::make_error(ec::invalid_argument,
                                 std::string{"limit must be 1 to 100"});
        // Asked and answered here rather than delegated: storage's answer
        // must come from this actor, never from a storage worker.
        auto rp = self->state.requests.open<user_page>(self);
        self->request(self->state.store, self->state.settings.timeout,
                      atom::list_v, after, limit)
            .then([rp](user_page& p) mutable { rp.deliver(std::move(p)); },
                  error_to(rp));
        return rp;
      },
      [self, error_to](atom::update, request_context& ctx, uint64_t id,
                       user_patch& x) -> caf::result<user> {
        auto& st = self->state;
        if (auto err = admit(ctx))
          return err;
        if (!x.set_name && !x.set_email && !x.set_password)
          return caf::make_error(ec::invalid_argument,
                                 std::string{"nothing to update"});
        account_patch patch;
        if (x.set_name) {
          if (auto err = normalize_name(x.name))
            return err;
          patch.set_name = true;
          patch.name = std::move(x.name);
        }
        if (x.set_email) {
          if (auto err = normalize_email(x.email))
            return err;
          patch.set_email = true;
          patch.email = std::move(x.email);
          // Tokens name the account its email signs in to: a new email
          // ends the sessions made under the old one, as a new password
          // does.
          patch.bump_token_version = true;
        }
        if (x.set_password) {
          if (auto err = check_password(x.password, st.settings.passwords))
            return err;
        }
        auto rp = st.requests.open<user>(self);
        if (!x.set_password) {
          store_patch(self, rp, ctx, id, std::move(patch));
          return rp;
        }
        self->request(st.hasher, st.settings.timeout, atom::hash_v, x.password)
            .then(
                [self, rp, ctx, id, patch](std::string& hash) mutable {
                  patch.set_password_hash = true;
                  patch.password_hash = std::move(hash);
                  // A new password ends every session made with the old one.
                  patch.bump_token_version = true;
                  store_patch(self, rp, ctx, id, std::move(patch));
                },
                error_to(rp));
        return rp;
      },
      [self](atom::set_role, request_context& ctx, uint64_t id,
             std::string& role) -> caf::result<user> {
        if (auto err = admit(ctx))
          return err;
        if (auto err = check_role(role))
          return err;
        account_patch patch;
        patch.set_role = true;
        patch.role = std::move(role);
        // Tokens carry the role: old ones must not keep a lost privilege.
        patch.bump_token_version = true;
        auto rp = self->state.requests.open<user>(self);
        store_patch(self, rp, ctx, id, std::move(patch));
        return rp;
      },
      [self, error_to](atom::remove, request_context& ctx,
                       uint64_t id) -> caf::result<caf::ok_atom> {
        if (auto err = admit(ctx))
          return err;
        auto rp = self->state.requests.open<caf::ok_atom>(self);
        self->request(self->state.store, self->state.settings.timeout,
                      atom::remove_v, ctx, id)
            .then(
                [self, rp, ctx, id](caf::ok_atom) mutable {
                  spdlog::info("{} deleted user {}", tag(ctx), id);
                  wake_relay(self);
                  announce_version(self, id, 0);
                  rp.deliver(caf::ok_atom_v);
                },
                error_to(rp));
        return rp;
      },
      [self, error_to](atom::authenticate, request_context& ctx,
                       std::string email,
                       std::string& password) -> caf::result<user> {
        auto& st = self->state;
        if (auto err = admit(ctx))
          return err;
        if (password.size() > st.settings.passwords.max_bytes)
          return caf::make_error(
              ec::invalid_argument,
              "password is longer than "
                  + std::to_string(st.settings.passwords.max_bytes) + " bytes");
        if (auto err = normalize_email(email))
          return err;
        auto rp = st.requests.open<user>(self);
        auto verify = [self, rp, ctx, password,
                       error_to](std::optional<account> acc) mutable {
          auto& st = self->state;
          auto& hash = acc ? acc->password_hash : st.settings.dummy_hash;
          self->request(st.hasher, st.settings.timeout, atom::verify_v,
                        password, hash)
              .then(
                  [self, rp, ctx, acc, password](password_check& res) mutable {
                    if (!acc || !res.valid) {
                      rp.deliver(wrong_credentials());
                      return;
                    }
                    if (res.needs_rehash)
                      rehash(self, ctx, acc->profile.id, password,
                             acc->password_hash);
                    rp.deliver(std::move(acc->profile));
                  },
                  error_to(rp));
        };
        self->request(st.store, st.settings.timeout, atom::get_v,
                      atom::by_email_v, std::move(email))
            .then([verify](account& acc) mutable { verify(std::move(acc)); },
                  [verify, rp](caf::error& err) mutable {
                    if (err == ec::not_found)
                      verify(
                          std::nullopt); // Same hashing work as a known email.
                    else
                      rp.deliver(dependency_failure(err, "storage"));
                  });
        return rp;
      },
  };
}

} // namespace herald
