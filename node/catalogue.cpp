#include "node/catalogue.hpp"

#include <algorithm>
#include <set>

#include "messages/error.hpp"

namespace herald {

const std::vector<component>& catalogue() {
  static const std::vector<component> all{
      storage_component(),     hasher_component(),       token_component(),
      event_bus_component(),   smtp_component(),         mailer_component(),
      amqp_bridge_component(), outbox_relay_component(), user_component(),
      session_component(),     reset_component(),        gateway_component(),
  };
  return all;
}

std::vector<config::option> node_options() {
  auto result = options_of(node_section(), cluster_section());
  std::set<std::string> seen;
  for (auto& opt : result)
    seen.insert(opt.name());
  for (auto& c : catalogue())
    for (auto& opt : c.options)
      if (seen.insert(opt.name()).second)
        result.push_back(opt);
  return result;
}

caf::expected<std::vector<const component*>>
plan(const std::vector<component>& all, const std::vector<std::string>& roles) {
  std::vector<const component*> result;
  auto started = [&](const std::string& name) {
    return std::any_of(result.begin(), result.end(),
                       [&](const component* c) { return c->name == name; });
  };
  for (auto& c : all) {
    if (!c.roles.matches(roles))
      continue;
    for (auto& need : c.needs) {
      if (started(need))
        continue;
      auto i = std::find_if(all.begin(), all.end(),
                            [&](const component& x) { return x.name == need; });
      std::string hint = i == all.end()
                             ? "which does not exist"
                             : "which runs with role " + i->roles.describe();
      return caf::make_error(ec::invalid_argument,
                             c.name + " needs " + need
                                 + " on the same node, " + hint);
    }
    result.push_back(&c);
  }
  return result;
}

// -- component_context and role_rule
// -------------------------------------------

bool component_context::has_role(const std::string& role) const {
  return std::find(node.roles.begin(), node.roles.end(), role)
         != node.roles.end();
}

bool role_rule::matches(const std::vector<std::string>& roles) const {
  auto has = [&](const std::string& r) {
    return std::find(roles.begin(), roles.end(), r) != roles.end();
  };
  if (!any.empty() && std::none_of(any.begin(), any.end(), has))
    return false;
  return std::all_of(all.begin(), all.end(), has);
}

std::string role_rule::describe() const {
  auto join = [](const std::vector<std::string>& xs, const char* sep) {
    std::string out;
    for (auto& x : xs)
      out += (out.empty() ? "" : sep) + x;
    return out;
  };
  if (any.empty() && all.empty())
    return "any";
  if (all.empty())
    return join(any, " or ");
  if (any.empty())
    return join(all, " and ");
  return "(" + join(any, " or ") + ") and " + join(all, " and ");
}

} // namespace herald
