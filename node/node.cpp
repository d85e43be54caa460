#include "node/node.hpp"

#include <algorithm>
#include <ctime>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "actors/open_requests.hpp"
#include "actors/worker_pool.hpp"
#include "messages/error.hpp"
#include "messages/storage_actor.hpp"

namespace herald {

namespace {

using self_ptr = node_impl::stateful_pointer<node_state>;

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

uint64_t random_step() {
  uint64_t x = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&x), sizeof(x));
  return x;
}

void set_state(registered_component& c, std::string state) {
  c.status.state = std::move(state);
  c.status.since = now_s();
}

registered_component* find(self_ptr self, const caf::actor_addr& addr) {
  for (auto& c : self->state.components)
    if (c.handle.address() == addr)
      return &c;
  return nullptr;
}

bool is_down(const registered_component& c) {
  return c.status.state == "stopped" || c.status.state.rfind("failed", 0) == 0;
}

/// Stops the next component still running, from the last started down;
/// exits once none is left.
void stop_next(self_ptr self) {
  auto& st = self->state;
  while (st.next_stop > 0) {
    auto& c = st.components[--st.next_stop];
    if (is_down(c))
      continue;
    set_state(c, "stopping");
    st.step = random_step();
    // The component's own grace is stop_timeout: give it a fifth more, but
    // no more than what is left of the whole stop's budget.
    auto left = st.stop_deadline - self->clock().now();
    if (left <= caf::timespan{0}) {
      spdlog::warn("stopping {}: no time left, killing it", c.name);
      c.killed = true;
      self->send_exit(c.handle, caf::exit_reason::kill);
      return;
    }
    spdlog::info("stopping {}", c.name);
    self->send_exit(c.handle, caf::exit_reason::user_shutdown);
    auto wait
        = std::min<caf::timespan>(st.stop_timeout + st.stop_timeout / 5, left);
    self->delayed_send(self, wait, atom::tick_v, st.step);
    return;
  }
  spdlog::info("every component stopped");
  self->quit(st.exit_reason);
}

void begin_stop(self_ptr self, caf::error reason) {
  auto& st = self->state;
  if (st.stopping)
    return;
  st.stopping = true;
  st.exit_reason = std::move(reason);
  st.stop_deadline = self->clock().now() + stop_budget(st.stop_timeout);
  st.next_stop = st.components.size();
  stop_next(self);
}

caf::error not_hosted(const char* service) {
  return caf::make_error(ec::unavailable,
                         std::string{"this node does not run the "} + service
                             + " service");
}

/// The handle of a registered service as `Handle`, or why there is none.
template <class Handle>
caf::expected<Handle> lookup(self_ptr self, const char* name) {
  auto& st = self->state;
  if (st.stopping)
    return caf::make_error(ec::unavailable,
                           std::string{"the node is shutting down"});
  for (auto& c : st.components)
    if (c.name == name) {
      if (is_down(c))
        return caf::make_error(ec::unavailable,
                               std::string{name} + " is " + c.status.state);
      return caf::actor_cast<Handle>(c.handle);
    }
  return not_hosted(name);
}

/// Collects a status: the pools' health and a storage check, each answer
/// (or error) filled in as it comes; delivered when none is outstanding.
struct status_gathering {
  node_status result;
  caf::typed_response_promise<node_status> rp;
  size_t open = 1;

  void done() {
    if (--open == 0)
      rp.deliver(std::move(result));
  }
};

caf::result<node_status> status(self_ptr self) {
  auto& st = self->state;
  auto g = std::make_shared<status_gathering>();
  g->rp = self->make_response_promise<node_status>();
  g->result = st.info;
  g->result.storage_state = "not running";
  for (size_t i = 0; i < st.components.size(); ++i) {
    auto& c = st.components[i];
    g->result.components.push_back(c.status);
    if (!c.pool || is_down(c))
      continue;
    ++g->open;
    self->request(c.handle, std::chrono::seconds(2), caf::get_atom_v,
                  caf::sys_atom_v)
        .then(
            [g, i](worker_pool_health& h) {
              auto& out = g->result.components[i];
              out.restarts = static_cast<uint32_t>(h.restarts);
              if (h.live < h.size && out.state == "running")
                out.state = "restarting (" + std::to_string(h.live) + " of "
                            + std::to_string(h.size) + " workers live)";
              g->done();
            },
            [g](caf::error&) { g->done(); });
    if (c.name != "storage")
      continue;
    // Status also reports a sick database instead of failing: it is what
    // an operator looks at when something is wrong.
    ++g->open;
    self->request(caf::actor_cast<storage_actor>(c.handle),
                  std::chrono::seconds(5), atom::status_v)
        .then(
            [g](storage_status& s) {
              g->result.storage = s.target;
              g->result.storage_state = s.state;
              g->result.users_estimate = s.users_estimate;
              g->done();
            },
            [g](caf::error& err) {
              g->result.storage_state = render(err);
              g->done();
            });
  }
  g->done();
  return g->rp;
}

} // namespace

caf::timespan stop_budget(std::chrono::milliseconds stop_timeout) {
  return 3 * stop_timeout;
}

node_impl::behavior_type node(node_impl::stateful_pointer<node_state> self,
                              node_status info,
                              std::vector<registered_component> components,
                              std::chrono::milliseconds stop_timeout,
                              membership_actor membership) {
  auto& st = self->state;
  st.membership = std::move(membership);
  st.info = std::move(info);
  st.components = std::move(components);
  st.stop_timeout = stop_timeout;
  for (auto& c : st.components) {
    set_state(c, "running");
    self->monitor(c.handle);
  }
  self->set_down_handler([self](caf::down_msg& msg) {
    auto c = find(self, msg.source);
    if (c == nullptr)
      return;
    auto& st = self->state;
    if (!st.stopping) {
      auto why = render(msg.reason);
      spdlog::error("component {} stopped unexpectedly ({}): stopping the "
                    "node",
                    c->name, why);
      set_state(*c, "failed: " + why);
      begin_stop(self, caf::make_error(ec::internal, "component " + c->name
                                                         + " failed: " + why));
      return;
    }
    auto expected = st.next_stop < st.components.size()
                    && &st.components[st.next_stop] == c;
    // An orderly stop, or the kill after its timeout, is a stop; anything
    // else is a failure, and the node says so with its exit.
    auto orderly = !msg.reason || msg.reason == caf::exit_reason::user_shutdown
                   || (msg.reason == caf::exit_reason::kill && c->killed);
    if (orderly) {
      set_state(*c, "stopped");
    } else {
      auto why = render(msg.reason);
      spdlog::error("component {} failed while stopping ({})", c->name, why);
      set_state(*c, "failed: " + why);
      if (!st.exit_reason || st.exit_reason == caf::exit_reason::user_shutdown)
        st.exit_reason = caf::make_error(ec::internal, "component " + c->name
                                                           + " failed: " + why);
    }
    if (expected)
      stop_next(self);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // main sends user_shutdown on SIGTERM or SIGINT; the published node
    // takes no orders to stop from another node.
    if (from_another_node(self)) {
      spdlog::warn("node: ignored an exit message from another node");
      return;
    }
    begin_stop(self, msg.reason);
  });
  ignore_stray_errors(self);
  return {
      [self](atom::ping) { return self->state.info.instance; },
      [self](atom::status, request_context& ctx) -> caf::result<node_status> {
        if (auto err = admit(ctx))
          return err;
        return status(self);
      },
      [self](atom::get, atom::user) -> caf::result<user_actor> {
        return lookup<user_actor>(self, "user");
      },
      [self](atom::get, atom::session) -> caf::result<session_actor> {
        return lookup<session_actor>(self, "session");
      },
      [self](atom::get, atom::token) -> caf::result<token_actor> {
        return lookup<token_actor>(self, "token");
      },
      [self](atom::get, atom::reset) -> caf::result<password_reset_actor> {
        return lookup<password_reset_actor>(self, "reset");
      },
      [self](atom::outbox, atom::status) -> caf::result<outbox_status> {
        auto relay = lookup<outbox_relay_actor>(self, "outbox-relay");
        if (!relay)
          return std::move(relay.error());
        auto rp = self->make_response_promise<outbox_status>();
        self->request(*relay, std::chrono::seconds(10), atom::outbox_v,
                      atom::status_v)
            .then(
                [rp](outbox_status& s) mutable { rp.deliver(std::move(s)); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::get, atom::bridge) -> caf::result<amqp_bridge_actor> {
        return lookup<amqp_bridge_actor>(self, "amqp-bridge");
      },
      [self](atom::join,
             member_info& peer) -> caf::result<std::vector<member_info>> {
        auto& st = self->state;
        if (!st.membership || st.stopping)
          return caf::make_error(ec::unavailable,
                                 std::string{"this node takes no members "
                                             "now"});
        auto rp = self->make_response_promise<std::vector<member_info>>();
        self->request(st.membership, std::chrono::seconds(2), atom::join_v,
                      std::move(peer))
            .then([rp](std::vector<member_info>& view) mutable {
                    rp.deliver(std::move(view));
                  },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::cluster, atom::status,
             request_context& ctx) -> caf::result<cluster_status> {
        if (auto err = admit(ctx))
          return err;
        auto& st = self->state;
        if (!st.membership)
          return caf::make_error(ec::unavailable,
                                 std::string{"this node runs no membership"});
        auto rp = self->make_response_promise<cluster_status>();
        self->request(st.membership, std::chrono::seconds(2), atom::cluster_v,
                      atom::status_v)
            .then([rp](cluster_status& x) mutable { rp.deliver(std::move(x)); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](atom::tick, uint64_t step) {
        auto& st = self->state;
        if (!st.stopping || step != st.step
            || st.next_stop >= st.components.size())
          return;
        auto& c = st.components[st.next_stop];
        if (is_down(c))
          return;
        spdlog::warn("{} did not stop within {} ms: killing it", c.name,
                     st.stop_timeout.count());
        c.killed = true;
        self->send_exit(c.handle, caf::exit_reason::kill);
      },
  };
}

} // namespace herald
