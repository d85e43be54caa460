// The gateway component: [http] and [throttle], the HTTP server and the
// actor that owns it. It starts last (it needs the services it calls) and
// stops first: the node stops components in reverse order, so the gateway
// answers what it took before the services go.
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/token_verifier.hpp"
#include "bridges/http/api.hpp"
#include "bridges/http/gateway.hpp"
#include "bridges/http/server.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

/// The gateway's own actor: holds the server, learns the node's handle,
/// and stops the server (answering requests under way) when told to exit.
/// Detached: a stop blocks for up to the drain grace.
struct gateway_state {
  static inline const char* name = "gateway";
  std::shared_ptr<http::server> server;
  http::env_ptr env;
};

caf::behavior gateway(caf::stateful_actor<gateway_state>* self,
                      std::shared_ptr<http::server> server, http::env_ptr env) {
  self->state.server = std::move(server);
  self->state.env = std::move(env);
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    auto grace = self->state.env->cfg.drain_grace;
    spdlog::info("http: stopping; requests under way get up to {} ms",
                 grace.count());
    self->state.server->stop(grace);
    spdlog::info("http: stopped");
    self->quit(msg.reason);
  });
  return {
      [self](node_actor node) { self->state.env->node(std::move(node)); },
  };
}

caf::expected<caf::actor> spawn_gateway(component_context& ctx) {
  std::vector<std::string> warnings;
  auto s = http::read_settings(ctx.cfg, ctx.node.dev_mode, &warnings);
  if (!s)
    return std::move(s.error());
  for (auto& w : warnings)
    spdlog::warn("{}", w);
  s->drain_grace = ctx.node.stop_timeout;
  auto env = std::make_shared<http::gateway_env>(ctx.sys, *s);
  env->users = ctx.service<user_actor>("user");
  env->sessions = ctx.service<session_actor>("session");
  env->tokens = ctx.service<token_actor>("token");
  env->resets = ctx.service<password_reset_actor>("reset");
  env->store = ctx.get<storage_actor>("storage");
  env->hasher = ctx.get<hasher_actor>("hasher");
  env->bridge = ctx.get<amqp_bridge_actor>("amqp-bridge");
  env->verifier = ctx.verifier;
  env->stats = std::make_shared<http::metrics>();
  env->openapi = http::openapi_document();
  auto routes = std::make_shared<http::router>();
  http::add_account_routes(*routes, env);
  http::add_reset_routes(*routes, env);
  http::add_operation_routes(*routes, env);
  auto stats = env->stats;
  auto server = std::make_shared<http::server>(
      *s, routes, [stats](const http::exchange& ex, http::response& res) {
        auto status = res.result_int();
        auto seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - ex.started)
                           .count();
        auto method = std::string{ex.req.method_string()};
        stats->request(ex.route, method, status, seconds);
        // The route's template, never the target: a query can carry a
        // reset token.
        if (status >= 500)
          spdlog::warn("[{}] http: {} {} -> {} in {:.1f} ms ({})",
                       ex.request_id, method, ex.route, status, seconds * 1000,
                       ex.client);
        else
          spdlog::debug("[{}] http: {} {} -> {} in {:.1f} ms ({})",
                        ex.request_id, method, ex.route, status, seconds * 1000,
                        ex.client);
      });
  auto port = server->start();
  if (!port)
    return std::move(port.error());
  spdlog::info("http: listening on {}://{}:{} with {} I/O threads",
               s->tls() ? "https" : "http", s->host, *port, s->io_threads);
  return ctx.sys.spawn<caf::detached>(gateway, std::move(server),
                                      std::move(env));
}

} // namespace

component gateway_component() {
  return checked_by(component{"gateway",
                              {{"gateway"}, {}},
                              {"storage"},
                              http::options(),
                              spawn_gateway},
                    [](const component_context& ctx) {
                      return http::read_settings(ctx.cfg, ctx.node.dev_mode);
                    });
}

} // namespace herald
