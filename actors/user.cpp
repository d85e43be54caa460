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
void store_patch(self_ptr self, caf::typed_response_promise<user> rp,
                 uint64_t id, account_patch patch) {
  bool revokes = patch.bump_token_version;
  self->request(self->state.store, self->state.settings.timeout, atom::update_v,
                id, std::move(patch))
      .then(
          [self, rp, revokes](account& acc) mutable {
            if (revokes)
              announce_version(self, acc.profile.id, acc.profile.token_version);
            wake_relay(self);
            rp.deliver(std::move(acc.profile));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// After a successful login with an outdated hash: store a fresh argon2id
/// hash. Failure only costs another rehash at the next login.
void rehash(self_ptr self, uint64_t id, const std::string& password) {
  auto& st = self->state;
  self->request(st.hasher, st.settings.timeout, atom::hash_v, password)
      .then(
          [self, id](std::string& hash) {
            account_patch patch;
            patch.set_password_hash = true;
            patch.password_hash = std::move(hash);
            self->request(self->state.store, self->state.settings.timeout,
                          atom::update_v, id, std::move(patch))
                .then(
                    [id](account&) {
                      spdlog::info("rehashed password of user {}", id);
                    },
                    [id](caf::error& err) {
                      spdlog::warn("storing rehash of user {} failed: {}", id,
                                   render(err));
                    });
          },
          [id](caf::error& err) {
            spdlog::warn("rehash of user {} failed: {}", id, render(err));
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
  return {
      [self](atom::create, new_user& x) -> caf::result<user> {
        auto& st = self->state;
        if (auto err = normalize_name(x.name))
          return err;
        if (auto err = normalize_email(x.email))
          return err;
        if (auto err = check_password(x.password, st.settings.passwords))
          return err;
        if (auto err = check_role(x.role))
          return err;
        auto rp = self->make_response_promise<user>();
        auto password = std::move(x.password);
        self->request(st.hasher, st.settings.timeout, atom::hash_v, password)
            .then(
                [self, rp, x](std::string& hash) mutable {
                  new_account acc{std::move(x.name), std::move(x.email),
                                  std::move(x.role), std::move(hash)};
                  self->request(self->state.store, self->state.settings.timeout,
                                atom::create_v, std::move(acc))
                      .then(
                          [self, rp](account& created) mutable {
                            spdlog::info("created user {}", created.profile.id);
                            wake_relay(self);
                            rp.deliver(std::move(created.profile));
                          },
                          [rp](caf::error& err) mutable {
                            rp.deliver(std::move(err));
                          });
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::get, uint64_t id) -> caf::result<user> {
        auto rp = self->make_response_promise<user>();
        self->request(self->state.store, self->state.settings.timeout,
                      atom::get_v, id)
            .then(
                [rp](account& acc) mutable {
                  rp.deliver(std::move(acc.profile));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::get, atom::by_email,
             std::string email) -> caf::result<user> {
        if (auto err = normalize_email(email))
          return err;
        auto rp = self->make_response_promise<user>();
        self->request(self->state.store, self->state.settings.timeout,
                      atom::get_v, atom::by_email_v, std::move(email))
            .then(
                [rp](account& acc) mutable {
                  rp.deliver(std::move(acc.profile));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::list, uint32_t page,
             uint32_t per_page) -> caf::result<user_page> {
        if (page < 1)
          return caf::make_error(ec::invalid_argument,
                                 std::string{"page starts at 1"});
        if (per_page < 1 || per_page > 100)
          return caf::make_error(ec::invalid_argument,
                                 std::string{"per_page must be 1 to 100"});
        return self->delegate(self->state.store, atom::list_v, page, per_page);
      },
      [self](atom::update, uint64_t id, user_patch& x) -> caf::result<user> {
        auto& st = self->state;
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
        }
        auto rp = self->make_response_promise<user>();
        if (!x.set_password) {
          store_patch(self, rp, id, std::move(patch));
          return rp;
        }
        if (auto err = check_password(x.password, st.settings.passwords))
          return err;
        self->request(st.hasher, st.settings.timeout, atom::hash_v, x.password)
            .then(
                [self, rp, id, patch](std::string& hash) mutable {
                  patch.set_password_hash = true;
                  patch.password_hash = std::move(hash);
                  // A new password ends every session made with the old one.
                  patch.bump_token_version = true;
                  store_patch(self, rp, id, std::move(patch));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::set_role, uint64_t id,
             std::string& role) -> caf::result<user> {
        if (auto err = check_role(role))
          return err;
        account_patch patch;
        patch.set_role = true;
        patch.role = std::move(role);
        // Tokens carry the role: old ones must not keep a lost privilege.
        patch.bump_token_version = true;
        auto rp = self->make_response_promise<user>();
        store_patch(self, rp, id, std::move(patch));
        return rp;
      },
      [self](atom::remove, uint64_t id) -> caf::result<caf::ok_atom> {
        auto rp = self->make_response_promise<caf::ok_atom>();
        self->request(self->state.store, self->state.settings.timeout,
                      atom::remove_v, id)
            .then(
                [self, rp, id](caf::ok_atom) mutable {
                  spdlog::info("deleted user {}", id);
                  wake_relay(self);
                  announce_version(self, id, 0);
                  rp.deliver(caf::ok_atom_v);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::authenticate, std::string email,
             std::string& password) -> caf::result<user> {
        auto& st = self->state;
        if (password.size() > st.settings.passwords.max_bytes)
          return caf::make_error(
              ec::invalid_argument,
              "password is longer than "
                  + std::to_string(st.settings.passwords.max_bytes) + " bytes");
        if (auto err = normalize_email(email))
          return err;
        auto rp = self->make_response_promise<user>();
        auto verify = [self, rp, password](std::optional<account> acc) mutable {
          auto& st = self->state;
          auto& hash = acc ? acc->password_hash : st.settings.dummy_hash;
          self->request(st.hasher, st.settings.timeout, atom::verify_v,
                        password, hash)
              .then(
                  [self, rp, acc, password](password_check& res) mutable {
                    if (!acc || !res.valid) {
                      rp.deliver(wrong_credentials());
                      return;
                    }
                    if (res.needs_rehash)
                      rehash(self, acc->profile.id, password);
                    rp.deliver(std::move(acc->profile));
                  },
                  [rp](caf::error& err) mutable {
                    rp.deliver(std::move(err));
                  });
        };
        self->request(st.store, st.settings.timeout, atom::get_v,
                      atom::by_email_v, std::move(email))
            .then([verify](account& acc) mutable { verify(std::move(acc)); },
                  [verify, rp](caf::error& err) mutable {
                    if (err == ec::not_found)
                      verify(
                          std::nullopt); // Same hashing work as a known email.
                    else
                      rp.deliver(std::move(err));
                  });
        return rp;
      },
  };
}

} // namespace herald
