// The AMQP bridge component: [amqp], the publisher and the consumers.
#include <algorithm>

#include "bridges/amqp/bridge.hpp"
#include "messages/error.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

/// [amqp] as configured: the bridge's settings and its routes as written.
struct amqp_options : amqp::amqp_settings {
  std::vector<std::string> outbound_routes;
  std::vector<std::string> inbound_routes;
};

const config::section<amqp_options>& amqp_section() {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  static const auto s
      = config::section<amqp_options>{"amqp"}
            .add(&amqp_options::url, "url",
                 "amqp://user:password@host:port/vhost or amqps://... "
                 "(prefer HERALD_AMQP_URL: it holds the password)")
            .secret()
            .add(&amqp_options::ca_file, "ca-file",
                 "CA bundle for amqps:// (empty: the system's)")
            .add(&amqp_options::heartbeat, "heartbeat",
                 "AMQP heartbeat interval")
            .range(seconds{1}, seconds{3600})
            .add(&amqp_options::prefetch, "prefetch",
                 "deliveries in flight per inbound queue")
            .range(1, 65535)
            .add(&amqp_options::max_attempts, "max-attempts",
                 "handling attempts before the dead-letter queue")
            .range(1, 1000)
            .add(&amqp_options::retry_delay, "retry-delay",
                 "delay before the second attempt (doubles each time)")
            .range(milliseconds{1}, seconds{86400})
            .add(&amqp_options::max_deferrals, "max-deferrals",
                 "deferrals (SMTP 4xx) before the dead-letter queue, not "
                 "counted as attempts (0: no limit)")
            .range(0, 1000000)
            .add(&amqp_options::handler_timeout, "handler-timeout",
                 "time a handler gets per delivery (no answer: an outage)")
            .range(seconds{1}, seconds{3600})
            .add(&amqp_options::outage_probe_min, "outage-probe-min",
                 "pause of an inbound route whose handler is out before it "
                 "probes with one delivery (doubles per failed probe)")
            .range(milliseconds{1}, seconds{3600})
            .add(&amqp_options::outage_probe_max, "outage-probe-max",
                 "longest pause between probes of an inbound route that is "
                 "out")
            .range(milliseconds{1}, seconds{86400})
            .add(&amqp_options::confirm_timeout, "confirm-timeout",
                 "time the broker gets to confirm a publish")
            .range(seconds{1}, seconds{3600})
            .add(&amqp_options::reconnect_min, "reconnect-min",
                 "first reconnect delay")
            .range(milliseconds{1}, seconds{3600})
            .add(&amqp_options::reconnect_max, "reconnect-max",
                 "longest reconnect delay")
            .range(milliseconds{1}, seconds{3600})
            .add(&amqp_options::outbound_routes, "outbound",
                 "routes out: \"topics=<patterns> exchange=<name> "
                 "[durable=true|false] [format=cloudevents|micro] "
                 "[mandatory=true|false]\"")
            .add(&amqp_options::inbound_routes, "inbound",
                 "routes in: \"queue=<name> exchange=<name> bind=<patterns> "
                 "handler=mailer [durable=true|false] "
                 "[format=cloudevents|micro]\"");
  return s;
}

/// Whether an outbound route publishes `topic` and an inbound route brings
/// it back to the mailer: then the mailer takes it from the broker only.
bool mailed_via_broker(const amqp::amqp_settings& cfg,
                       const std::string& topic) {
  using amqp::topic_matches;
  auto out
      = std::any_of(cfg.outbound.begin(), cfg.outbound.end(), [&](auto& r) {
          return std::any_of(r.topics.begin(), r.topics.end(),
                             [&](auto& p) { return topic_matches(p, topic); });
        });
  auto in = std::any_of(cfg.inbound.begin(), cfg.inbound.end(), [&](auto& r) {
    return r.handler == "mailer"
           && std::any_of(r.bindings.begin(), r.bindings.end(),
                          [&](auto& b) { return topic_matches(b, topic); });
  });
  return out && in;
}

/// [amqp] as configured and checked, its routes parsed.
caf::expected<amqp::amqp_settings> read_bridge(const component_context& ctx) {
  auto& cfg = ctx.cfg;
  auto s = amqp_section().read(cfg);
  if (s.url.rfind("amqp://", 0) != 0 && s.url.rfind("amqps://", 0) != 0)
    return cfg.invalid("amqp.url", "must start with amqp:// or amqps://");
  if (s.url.find("://" + std::string{development_amqp_login} + "@")
          != std::string::npos
      && !ctx.node.dev_mode)
    return cfg.invalid("amqp.url",
                       "uses RabbitMQ's development login guest/guest; set "
                       "HERALD_AMQP_URL or start with --herald.dev-mode");
  if (s.reconnect_max < s.reconnect_min)
    return cfg.invalid("amqp.reconnect-max",
                       "must not be shorter than amqp.reconnect-min");
  if (s.outage_probe_max < s.outage_probe_min)
    return cfg.invalid("amqp.outage-probe-max",
                       "must not be shorter than amqp.outage-probe-min");
  s.source = ctx.node.node_name;
  for (auto& spec : s.outbound_routes) {
    auto route = amqp::parse_outbound(spec);
    if (!route)
      return cfg.invalid("amqp.outbound", message_of(route.error()));
    s.outbound.push_back(std::move(*route));
  }
  for (auto& spec : s.inbound_routes) {
    auto route = amqp::parse_inbound(spec);
    if (!route)
      return cfg.invalid("amqp.inbound", message_of(route.error()));
    if (route->handler != "mailer")
      return cfg.invalid("amqp.inbound", "unknown handler '" + route->handler
                                             + "' (known: mailer)");
    if (!ctx.has_role("mailer"))
      return cfg.invalid("amqp.inbound",
                         "route '" + route->queue
                             + "' hands deliveries to the mailer, which runs "
                               "only on nodes with role mailer");
    s.inbound.push_back(std::move(*route));
  }
  amqp::amqp_settings settings = s;
  return settings;
}

caf::expected<caf::actor> spawn_bridge(component_context& ctx) {
  auto read = read_bridge(ctx);
  if (!read)
    return std::move(read.error());
  auto& settings = *read;
  auto mail = ctx.get<event_handler_actor>("mailer");
  auto bus = ctx.get<event_bus_actor>("event-bus");
  std::map<std::string, event_handler_actor> handlers;
  if (mail)
    handlers.emplace("mailer", mail);
  auto bridge = amqp::spawn_amqp_bridge(ctx.sys, settings, bus, handlers);
  if (!bridge)
    return std::move(bridge.error());
  // Enqueued before the relay starts, so no event reaches the mailer twice.
  if (mail)
    for (auto topic :
         {topic_user_created, topic_reset_requested, topic_password_changed})
      if (mailed_via_broker(settings, topic))
        caf::anon_send(bus, atom::unsubscribe_v, std::string{topic}, mail);
  return caf::actor_cast<caf::actor>(std::move(*bridge));
}

} // namespace

const char* development_amqp_login = "guest:guest";

component amqp_bridge_component() {
  return checked_by(component{"amqp-bridge",
                              {{"bridge"}, {}},
                              {"event-bus"},
                              options_of(amqp_section()),
                              spawn_bridge},
                    read_bridge);
}

} // namespace herald
