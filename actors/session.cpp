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
  // The user service is the session's own: it goes with it.
  self->attach_functor([users = st.users] {
    caf::anon_send_exit(users, caf::exit_reason::user_shutdown);
  });
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
                  // Signed here, for the user the password check answered,
                  // and only if the answer came from the user service asked.
                  auto& st = self->state;
                  if (self->current_sender()
                      != caf::actor_cast<caf::strong_actor_ptr>(st.users)) {
                    spdlog::warn("{} login: an answer came from an actor "
                                 "that was not asked; refused",
                                 tag(ctx));
                    rp.deliver(caf::make_error(
                        ec::unavailable, std::string{"login failed: the "
                                                     "password check was "
                                                     "not answered by the "
                                                     "user service"}));
                    return;
                  }
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
                  rp.deliver(dependency_failure(err, "the user service"));
                });
        return rp;
      },
  };
}

} // namespace herald
