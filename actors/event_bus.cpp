#include "actors/event_bus.hpp"

#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace herald {

event_bus_actor::behavior_type
event_bus(event_bus_actor::stateful_pointer<event_bus_state> self,
          std::chrono::seconds handler_timeout) {
  self->state.timeout = handler_timeout;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& subs = self->state.subscribers;
    for (auto i = subs.begin(); i != subs.end();)
      if (i->second.address() == msg.source)
        i = subs.erase(i);
      else
        ++i;
  });
  return {
      [self](atom::subscribe, std::string& topic,
             event_handler_actor& handler) -> caf::ok_atom {
        auto& subs = self->state.subscribers;
        auto range = subs.equal_range(topic);
        for (auto i = range.first; i != range.second; ++i)
          if (i->second == handler)
            return caf::ok_atom_v;
        self->monitor(handler);
        subs.emplace(std::move(topic), std::move(handler));
        return caf::ok_atom_v;
      },
      [self](atom::publish, event& ev) -> caf::result<caf::ok_atom> {
        auto range = self->state.subscribers.equal_range(ev.topic);
        std::vector<event_handler_actor> handlers;
        for (auto i = range.first; i != range.second; ++i)
          handlers.push_back(i->second);
        if (handlers.empty())
          return caf::ok_atom_v;
        struct pending {
          size_t open;
          bool failed = false;
        };
        auto rp = self->make_response_promise<caf::ok_atom>();
        auto state = std::make_shared<pending>(pending{handlers.size()});
        for (auto& h : handlers)
          self->request(h, self->state.timeout, atom::handle_v, ev)
              .then(
                  [rp, state](caf::ok_atom) mutable {
                    if (--state->open == 0 && !state->failed)
                      rp.deliver(caf::ok_atom_v);
                  },
                  [rp, state, topic = ev.topic](caf::error& err) mutable {
                    --state->open;
                    if (state->failed)
                      return;
                    state->failed = true;
                    auto what = "a handler of " + topic + " failed";
                    if (err == caf::sec::request_timeout)
                      rp.deliver(caf::make_error(ec::unavailable,
                                                 what + ": no answer in time"));
                    else
                      rp.deliver(annotate(err, what));
                  });
        return rp;
      },
  };
}

} // namespace herald
