// The session component: login, signing with [token]'s keys and policy for
// the user the user service just authenticated.
#include "actors/session.hpp"
#include "node/catalogue.hpp"

namespace herald {

component session_component() {
  return {"session",
          {{}, {"user", "token"}},
          {"user"},
          token_options_declared(),
          [](component_context& ctx) -> caf::expected<caf::actor> {
            auto s = read_token_settings(ctx.cfg, ctx.node.dev_mode);
            if (!s)
              return std::move(s.error());
            s->drain_grace = ctx.node.stop_timeout;
            return caf::actor_cast<caf::actor>(ctx.sys.spawn(
                session_service, std::move(*s), ctx.get<user_actor>("user")));
          }};
}

} // namespace herald
