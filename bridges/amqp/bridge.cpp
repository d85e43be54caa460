#include "bridges/amqp/bridge.hpp"

#include <algorithm>
#include <set>
#include <system_error>

#include <spdlog/spdlog.h>

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "actors/open_requests.hpp"
#include "bridges/amqp/consumer.hpp"
#include "bridges/amqp/inbound.hpp"
#include "bridges/amqp/publisher.hpp"
#include "messages/error.hpp"
#include "messages/event.hpp"

namespace herald::amqp {

namespace {

using bridge_ptr = amqp_bridge_actor::stateful_pointer<amqp_bridge_state>;

/// Sends every part an exit and quits once all of them are down.
void stop_parts(bridge_ptr self, caf::error reason) {
  auto& st = self->state;
  if (st.stopping)
    return;
  st.stopping = true;
  st.reason = reason ? std::move(reason)
                     : caf::make_error(caf::exit_reason::user_shutdown);
  if (st.running.empty()) {
    self->quit(st.reason);
    return;
  }
  for (auto& part : st.parts)
    self->send_exit(part, st.reason);
}

} // namespace

amqp_bridge_actor::behavior_type
amqp_bridge(amqp_bridge_actor::stateful_pointer<amqp_bridge_state> self,
            std::string broker, std::shared_ptr<bridge_counters> counters,
            std::vector<caf::actor> parts) {
  auto& st = self->state;
  st.broker = std::move(broker);
  st.counters = std::move(counters);
  st.parts = std::move(parts);
  for (auto& part : st.parts) {
    self->link_to(part);
    self->monitor(part);
    st.running.insert(part.address());
  }
  // An exit message, or a part failing (through its link): stop the others,
  // then go down.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (from_another_node(self)) {
      spdlog::warn("amqp: ignored an exit message from another node");
      return;
    }
    if (msg.source != self->address() && self->state.running.count(msg.source))
      spdlog::warn("amqp: bridge part failed: {}", render(msg.reason));
    stop_parts(self, std::move(msg.reason));
  });
  ignore_stray_errors(self);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    st.running.erase(msg.source);
    if (st.stopping && st.running.empty())
      self->quit(st.reason);
  });
  // Killed without a chance to wait: tell the parts at least.
  self->attach_functor([parts = st.parts](const caf::error& reason) {
    auto why
        = reason ? reason : caf::make_error(caf::exit_reason::user_shutdown);
    for (auto& part : parts)
      caf::anon_send<caf::message_priority::high>(
          part, caf::exit_msg{caf::actor_addr{}, why});
  });
  return {
      [self](atom::bridge, atom::status) {
        return self->state.counters->snapshot(self->state.broker);
      },
  };
}

std::vector<std::string> outbound_topics(const amqp_settings& settings) {
  std::vector<std::string> result;
  for (auto topic : {topic_user_created, topic_user_updated, topic_user_deleted,
                     topic_password_changed, topic_reset_requested}) {
    auto matches = [&](const outbound_route& route) {
      return std::any_of(route.topics.begin(), route.topics.end(),
                         [&](const std::string& pattern) {
                           return topic_matches(pattern, topic);
                         });
    };
    if (std::any_of(settings.outbound.begin(), settings.outbound.end(),
                    matches))
      result.emplace_back(topic);
  }
  return result;
}

caf::expected<amqp_bridge_actor>
spawn_amqp_bridge(caf::actor_system& sys, amqp_settings settings,
                  event_bus_actor bus,
                  std::map<std::string, event_handler_actor> handlers) {
  for (auto& route : settings.inbound) {
    auto i = handlers.find(route.handler);
    if (i == handlers.end() || !i->second)
      return caf::make_error(ec::invalid_argument,
                             "inbound queue " + route.queue + ": no handler "
                                 + route.handler + " on this node");
  }
  if (!settings.outbound.empty() && !bus)
    return caf::make_error(ec::invalid_argument,
                           std::string{"outbound routes need an event bus"});
  auto counters = std::make_shared<bridge_counters>(settings);
  std::vector<caf::actor> parts;
  if (!settings.outbound.empty()) {
    auto topics = outbound_topics(settings);
    if (topics.empty())
      spdlog::warn("amqp: no outbound route matches any event topic");
    auto publisher = spawn_amqp_publisher(sys, settings, counters);
    for (auto& topic : topics)
      caf::anon_send(bus, atom::subscribe_v, topic, publisher);
    parts.push_back(caf::actor_cast<caf::actor>(publisher));
  }
  for (size_t i = 0; i < settings.inbound.size(); ++i) {
    auto& route = settings.inbound[i];
    std::shared_ptr<doorbell> bell;
    try {
      bell = std::make_shared<doorbell>();
    } catch (const std::system_error& ex) {
      for (auto& part : parts)
        caf::anon_send_exit(part, caf::exit_reason::user_shutdown);
      return caf::make_error(ec::unavailable,
                             std::string{"amqp consumer: "} + ex.what());
    }
    auto coordinator
        = sys.spawn(inbound, settings, route, handlers[route.handler], bell);
    auto cons = sys.spawn(consumer, settings, i,
                          caf::actor_cast<inbound_actor>(coordinator), counters,
                          bell);
    parts.push_back(caf::actor_cast<caf::actor>(coordinator));
    parts.push_back(cons);
  }
  auto broker = describe_broker(settings.url);
  return sys.spawn(amqp_bridge, std::move(broker), std::move(counters),
                   std::move(parts));
}

} // namespace herald::amqp
