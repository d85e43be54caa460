// What operators and orchestrators ask: liveness, readiness, metrics, and
// the API's description.
#include <nlohmann/json.hpp>

#include "bridges/http/api.hpp"
#include "bridges/http/problem.hpp"

namespace herald::http {

namespace {

using nlohmann::json;

/// Why the node is not ready, or "" when it is.
std::string not_ready(const node_figures& f, bool has_bridge) {
  if (!f.node)
    return "the node did not answer";
  if (f.node->storage_state != "ok")
    return "storage: " + f.node->storage_state;
  for (auto& c : f.node->components)
    if (c.state != "running")
      return c.name + " is " + c.state;
  if (has_bridge) {
    if (!f.bridge)
      return "the AMQP bridge did not answer";
    if (f.bridge->state != "connected")
      return "the AMQP bridge is " + f.bridge->state;
  }
  return {};
}

void readyz(const env_ptr& env, const exchange_ptr& ex) {
  auto node = env->node();
  if (!node)
    return ex->reply(json_response(
        *ex, 503,
        json{{"status", "starting"}, {"detail", "the node is starting"}}));
  bool has_bridge = static_cast<bool>(env->bridge);
  collect(
      env->sys, node, env->bridge, hasher_actor{}, std::chrono::seconds{2},
      [ex, has_bridge](node_figures f) {
        auto why = not_ready(f, has_bridge);
        if (why.empty())
          return ex->reply(json_response(*ex, 200, json{{"status", "ready"}}));
        ex->reply(json_response(
            *ex, 503, json{{"status", "not_ready"}, {"detail", why}}));
      });
}

void scrape(const env_ptr& env, const exchange_ptr& ex) {
  auto answer = [env, ex](const node_figures& f) {
    response res{bhttp::status::ok, ex->req.version()};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4; "
                                        "charset=utf-8");
    res.body() = env->stats->render(f);
    res.prepare_payload();
    ex->reply(std::move(res));
  };
  auto node = env->node();
  if (!node)
    return answer(node_figures{});
  collect(env->sys, node, env->bridge, env->hasher, std::chrono::seconds{2},
          answer);
}

} // namespace

void add_operation_routes(router& r, env_ptr env) {
  r.add({"GET", "/healthz", body_kind::none, [](const exchange_ptr& ex) {
           ex->reply(json_response(*ex, 200, json{{"status", "ok"}}));
         }});
  r.add({"GET", "/readyz", body_kind::none,
         [env](const exchange_ptr& ex) { readyz(env, ex); }});
  r.add({"GET", "/metrics", body_kind::none,
         [env](const exchange_ptr& ex) { scrape(env, ex); }});
  r.add({"GET", "/v1/openapi.json", body_kind::none,
         [env](const exchange_ptr& ex) {
           response res{bhttp::status::ok, ex->req.version()};
           res.set(bhttp::field::content_type, "application/json");
           res.set(bhttp::field::cache_control, "public, max-age=300");
           res.body() = env->openapi;
           res.prepare_payload();
           ex->reply(std::move(res));
         }});
}

} // namespace herald::http
