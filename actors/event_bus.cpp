#include "actors/event_bus.hpp"

#include <vector>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace herald {

namespace {

using self_ptr = event_bus_impl::stateful_pointer<event_bus_state>;
using op_ptr = std::shared_ptr<event_bus_state::publish_op>;

void schedule_tick(self_ptr self) {
  auto& st = self->state;
  if (st.pending.tick_needed())
    self->delayed_send(self, tick_interval(st.timeout), atom::tick_v);
}

/// A handler answered the publish `id` (if it is still open).
void answered(self_ptr self, uint64_t id, const op_ptr& op,
              const caf::error& err) {
  auto& st = self->state;
  if (op->open == 0)
    return; // Failed or timed out already.
  if (!err && --op->open > 0)
    return;
  op->open = 0;
  st.pending.take(id);
  if (err)
    op->rp.deliver(annotate(err, "a handler of " + op->topic + " failed"));
  else
    op->rp.deliver(caf::ok_atom_v);
}

} // namespace

event_bus_impl::behavior_type
event_bus(event_bus_impl::stateful_pointer<event_bus_state> self,
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
      [self](atom::unsubscribe, const std::string& topic,
             const event_handler_actor& handler) -> caf::ok_atom {
        auto& subs = self->state.subscribers;
        auto range = subs.equal_range(topic);
        for (auto i = range.first; i != range.second; ++i)
          if (i->second == handler) {
            subs.erase(i);
            break;
          }
        return caf::ok_atom_v;
      },
      [self](atom::publish, event& ev) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        auto range = st.subscribers.equal_range(ev.topic);
        std::vector<event_handler_actor> handlers;
        for (auto i = range.first; i != range.second; ++i)
          handlers.push_back(i->second);
        if (handlers.empty())
          return caf::ok_atom_v;
        auto op = std::make_shared<event_bus_state::publish_op>();
        op->rp = self->make_response_promise<caf::ok_atom>();
        op->topic = ev.topic;
        op->open = handlers.size();
        auto id = st.pending.add(self->clock().now() + st.timeout, op);
        // No request timeouts: the tick fails what takes too long. The
        // last handler gets the event itself, the others copies.
        for (size_t i = 0; i < handlers.size(); ++i)
          self->request(handlers[i], caf::infinite, atom::handle_v,
                        i + 1 < handlers.size() ? event{ev} : std::move(ev))
              .then([self, id,
                     op](caf::ok_atom) { answered(self, id, op, caf::none); },
                    [self, id, op](caf::error& err) {
                      answered(self, id, op, err);
                    });
        schedule_tick(self);
        return op->rp;
      },
      [self](atom::tick) {
        auto& st = self->state;
        st.pending.ticked();
        for (auto& op : st.pending.expire(self->clock().now())) {
          op->open = 0;
          op->rp.deliver(caf::make_error(
              ec::unavailable,
              "a handler of " + op->topic + " failed: no answer in "
                  + std::to_string(st.timeout.count()) + " s"));
        }
        schedule_tick(self);
      },
  };
}

} // namespace herald
