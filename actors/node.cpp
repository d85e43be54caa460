#include "actors/node.hpp"

#include <chrono>

#include "messages/error.hpp"

namespace herald {

namespace {

caf::error not_hosted(const char* service) {
  return caf::make_error(ec::unavailable,
                         std::string{"this node does not host the "} + service
                             + " service");
}

} // namespace

node_actor::behavior_type node(node_actor::stateful_pointer<node_state> self,
                               node_status info, storage_actor store,
                               node_services services) {
  auto& st = self->state;
  st.info = std::move(info);
  st.store = std::move(store);
  st.users = std::move(services.users);
  st.tokens = std::move(services.tokens);
  st.resets = std::move(services.resets);
  st.relay = std::move(services.relay);
  st.bridge = std::move(services.bridge);
  return {
      [self](atom::status) -> caf::result<node_status> {
        auto rp = self->make_response_promise<node_status>();
        // Status also reports a sick database instead of failing: it is what
        // an operator looks at when something is wrong.
        self->request(self->state.store, std::chrono::seconds(5),
                      atom::status_v)
            .then(
                [self, rp](storage_status& s) mutable {
                  auto result = self->state.info;
                  result.storage_state = s.state;
                  result.users = s.users;
                  rp.deliver(std::move(result));
                },
                [self, rp](caf::error& err) mutable {
                  auto result = self->state.info;
                  result.storage_state = render(err);
                  rp.deliver(std::move(result));
                });
        return rp;
      },
      [self](atom::get, atom::user) -> caf::result<user_actor> {
        if (!self->state.users)
          return not_hosted("user");
        return self->state.users;
      },
      [self](atom::get, atom::token) -> caf::result<token_actor> {
        if (!self->state.tokens)
          return not_hosted("token");
        return self->state.tokens;
      },
      [self](atom::get, atom::reset) -> caf::result<password_reset_actor> {
        if (!self->state.resets)
          return not_hosted("reset");
        return self->state.resets;
      },
      [self](atom::get, atom::outbox) -> caf::result<outbox_relay_actor> {
        if (!self->state.relay)
          return caf::make_error(ec::unavailable,
                                 std::string{"this node runs no outbox relay "
                                             "(it has no mailer role)"});
        return self->state.relay;
      },
      [self](atom::get, atom::bridge) -> caf::result<amqp_bridge_actor> {
        if (!self->state.bridge)
          return not_hosted("bridge");
        return self->state.bridge;
      },
  };
}

} // namespace herald
