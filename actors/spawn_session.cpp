// The session component: login, signing with [token]'s keys and policy for
// the user its own user service just authenticated.
//
// That user service is private to the session: nothing outside the node can
// address it. CAF 0.17 matches an answer to a request by its message id
// alone, so an actor that others can reach (the handed-out user service)
// could be sent a forged answer; an actor nobody outside knows cannot, and
// the session takes its answers only from that one.
#include "actors/session.hpp"
#include "node/catalogue.hpp"

namespace herald {

component session_component() {
  auto opts = token_options_declared();
  auto& pw = password_options_declared();
  opts.insert(opts.end(), pw.begin(), pw.end());
  return checked_by(
      // On every node with the keys (token) and the hasher (user or reset):
      // in a cluster whose user nodes hold no keys, logins run on the token
      // nodes, and gateways reach them through their routers.
      component{"session",
                {{"user", "reset"}, {"token"}},
                {"storage", "hasher"},
                std::move(opts),
                [](component_context& ctx) -> caf::expected<caf::actor> {
                  auto s = read_token_settings(ctx.cfg, ctx.node.dev_mode);
                  if (!s)
                    return std::move(s.error());
                  auto us = read_user_settings(ctx);
                  if (!us)
                    return std::move(us.error());
                  s->drain_grace = ctx.node.stop_timeout;
                  // Authenticates only: no token service to tell, no relay to
                  // wake (a rehash at login writes no event).
                  auto users
                      = ctx.sys.spawn(user_service, std::move(*us),
                                      ctx.get<storage_actor>("storage"),
                                      ctx.get<hasher_actor>("hasher"),
                                      token_actor{}, outbox_relay_actor{});
                  return caf::actor_cast<caf::actor>(
                      ctx.sys.spawn(session_service, std::move(*s), users));
                }},
      [](const component_context& ctx) -> caf::expected<token_settings> {
        if (auto policy = read_password_policy(ctx.cfg); !policy)
          return std::move(policy.error());
        return read_token_settings(ctx.cfg, ctx.node.dev_mode);
      });
}

} // namespace herald
