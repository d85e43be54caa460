#include "actors/session.hpp"

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace herald {

namespace {

/// The user service answers within its own timeouts (storage and hasher);
/// this only bounds a reply that got lost.
constexpr auto authenticate_timeout = std::chrono::seconds{60};

} // namespace

session_actor::behavior_type
session_service(session_actor::stateful_pointer<session_state> self,
                token_settings settings, user_actor users) {
  auto& st = self->state;
  st.misconfigured = misconfiguration("session", settings,
                                      static_cast<bool>(users), "user service");
  st.settings = std::move(settings);
  st.users = std::move(users);
  drain_on_exit(self, st.requests, st.settings.drain_grace);
  return {
      [self](atom::login, request_context& ctx, std::string& email,
             std::string& password) -> caf::result<session> {
        auto& st = self->state;
        if (st.misconfigured)
          return st.misconfigured;
        if (auto err = admit(ctx))
          return err;
        auto rp = st.requests.open<session>(self);
        self->request(st.users, authenticate_timeout, atom::authenticate_v, ctx,
                      std::move(email), std::move(password))
            .then(
                [self, rp, ctx](user& u) mutable {
                  // Signed here, for the user the password check answered.
                  auto& st = self->state;
                  auto jti = jwt::random_jti();
                  if (jti.empty()) {
                    rp.deliver(caf::make_error(
                        ec::internal, std::string{"no randomness for a "
                                                  "token id"}));
                    return;
                  }
                  auto t = jwt::issue(u, st.settings.keys, st.settings.policy,
                                      st.settings.now(), jti);
                  if (!t) {
                    rp.deliver(std::move(t.error()));
                    return;
                  }
                  spdlog::info("{} user {} logged in (token {})", tag(ctx),
                               u.id, jti);
                  rp.deliver(session{std::move(*t), std::move(u)});
                },
                [rp, ctx](caf::error& err) mutable {
                  spdlog::debug("{} login refused: {}", tag(ctx), render(err));
                  if (err.category() != caf::atom("herald"))
                    // A timeout or a user service that is gone.
                    err = caf::make_error(ec::unavailable,
                                          "the user service did not answer ("
                                              + render(err) + ")");
                  rp.deliver(std::move(err));
                });
        return rp;
      },
  };
}

} // namespace herald
