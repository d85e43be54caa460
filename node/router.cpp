#include "node/router.hpp"

#include <algorithm>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/open_requests.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

/// Whether a request may be sent again to another instance when the one it
/// went to is gone: it reads, validates or checks a password (a login signs
/// a token, but a second one does no harm).
enum class kind { safe, write };

/// The failures that mean "that member went away": no answer in time, the
/// receiver gone, the connection lost. Anything else is the service's
/// answer and goes back to the caller as it is.
bool went_away(const caf::error& err) {
  return err == caf::sec::request_timeout
         || err == caf::sec::request_receiver_down
         || err.category() == caf::atom("exit");
}

template <class Self>
std::optional<routed_instance> pick(Self* self, const std::string& avoid) {
  auto& st = self->state;
  if (st.local)
    return routed_instance{"", st.local};
  auto n = st.remotes.size();
  for (size_t k = 0; k < n; ++k) {
    auto i = (st.next + k) % n;
    if (st.remotes[i].member == avoid)
      continue;
    st.next = (i + 1) % n;
    return st.remotes[i];
  }
  return std::nullopt;
}

/// Sends `msg` to an instance (not `avoid`) and delivers its answer to `rp`;
/// a safe request whose instance goes away is tried once more elsewhere.
template <class R, class Self>
void attempt(Self* self, caf::typed_response_promise<R> rp, caf::message msg,
             kind k, std::string avoid, bool retried) {
  auto& st = self->state;
  auto target = pick(self, avoid);
  if (!target) {
    auto text = "no live node hosts the " + st.service + " service";
    if (retried)
      text += " (its instance at " + avoid + " went away)";
    rp.deliver(caf::make_error(ec::unavailable, std::move(text)));
    return;
  }
  auto id = ++st.last_id;
  auto member = target->member;
  auto gone = [self, rp, msg, k, member,
               retried](const std::string& why) mutable {
    if (k == kind::safe && !retried) {
      spdlog::debug("{} router: {} {}; trying another instance",
                    self->state.service, member, why);
      attempt<R>(self, rp, msg, k, member, true);
      return;
    }
    auto text = "the " + self->state.service + " service at " + member + " "
                + why;
    if (k == kind::write)
      text += "; the change may or may not have been made";
    rp.deliver(caf::make_error(ec::unavailable, std::move(text)));
  };
  st.in_flight.emplace(id, router_state::attempt{member, std::move(gone)});
  self->request(target->handle, st.timeout, std::move(msg))
      .then(
          [self, rp, id](R& r) mutable {
            if (self->state.in_flight.erase(id) == 0)
              return; // answered already (failed over)
            rp.deliver(std::move(r));
          },
          [self, rp, id](caf::error& err) mutable {
            auto& flights = self->state.in_flight;
            auto i = flights.find(id);
            if (i == flights.end())
              return;
            auto a = std::move(i->second);
            flights.erase(i);
            // This node's own instance does not go away while the node runs:
            // its errors are answers.
            if (!a.member.empty() && went_away(err))
              a.gone("did not answer (" + render(err) + ")");
            else
              rp.deliver(std::move(err));
          });
}

template <class R, class Self, class... Ts>
caf::result<R> route(Self* self, kind k, Ts&&... xs) {
  if (from_another_node(self))
    return caf::make_error(ec::forbidden,
                           std::string{"a router takes requests from its own "
                                       "node only"});
  auto rp = self->template make_response_promise<R>();
  attempt<R>(self, rp, caf::make_message(std::forward<Ts>(xs)...), k, "",
             false);
  return rp;
}

/// Drops `member`'s instance; what was in flight to it fails over.
template <class Self>
void drop(Self* self, const std::string& member) {
  auto& st = self->state;
  auto& xs = st.remotes;
  auto before = xs.size();
  xs.erase(std::remove_if(xs.begin(), xs.end(),
                          [&](auto& x) { return x.member == member; }),
           xs.end());
  if (xs.size() != before)
    spdlog::info("{} router: dropped the instance of {}", st.service, member);
  if (st.next >= xs.size())
    st.next = 0;
  std::vector<router_state::attempt> lost;
  for (auto i = st.in_flight.begin(); i != st.in_flight.end();) {
    if (i->second.member == member) {
      lost.push_back(std::move(i->second));
      i = st.in_flight.erase(i);
    } else {
      ++i;
    }
  }
  for (auto& a : lost)
    a.gone("went away");
}

template <class Self>
void join(Self* self, const std::string& member, caf::actor handle) {
  if (from_another_node(self))
    return;
  auto& st = self->state;
  if (member.empty()) {
    st.local = std::move(handle);
    return;
  }
  drop(self, member);
  if (!handle)
    return;
  self->monitor(handle);
  st.remotes.push_back({member, std::move(handle)});
  spdlog::info("{} router: routes to {} too", st.service, member);
}

template <class Self>
void setup(Self* self, std::string service, caf::timespan timeout) {
  auto& st = self->state;
  st.service = std::move(service);
  st.timeout = timeout;
  ignore_stray_errors(self);
  self->set_down_handler([self](caf::down_msg& msg) {
    std::vector<std::string> gone;
    for (auto& x : self->state.remotes)
      if (x.handle.address() == msg.source)
        gone.push_back(x.member);
    for (auto& m : gone)
      drop(self, m);
  });
}

} // namespace

#define HERALD_ROUTER_MEMBERSHIP                                               \
  [self](atom::join, std::string& member, caf::actor& handle) {                \
    join(self, member, std::move(handle));                                     \
  },                                                                           \
      [self](atom::leave, std::string& member) {                               \
        if (!from_another_node(self))                                          \
          drop(self, member);                                                  \
      }

user_router_actor::behavior_type
user_router(user_router_actor::stateful_pointer<router_state> self,
            caf::timespan timeout) {
  setup(self, "user", timeout);
  return {
      [self](atom::create, request_context& ctx, new_user& x) {
        return route<user>(self, kind::write, atom::create_v, std::move(ctx),
                           std::move(x));
      },
      [self](atom::get, request_context& ctx, uint64_t id) {
        return route<user>(self, kind::safe, atom::get_v, std::move(ctx), id);
      },
      [self](atom::get, request_context& ctx, atom::by_email,
             std::string& email) {
        return route<user>(self, kind::safe, atom::get_v, std::move(ctx),
                           atom::by_email_v, std::move(email));
      },
      [self](atom::list, request_context& ctx, uint64_t after,
             uint32_t limit) {
        return route<user_page>(self, kind::safe, atom::list_v, std::move(ctx),
                                after, limit);
      },
      [self](atom::update, request_context& ctx, uint64_t id,
             user_patch& patch) {
        return route<user>(self, kind::write, atom::update_v, std::move(ctx),
                           id, std::move(patch));
      },
      [self](atom::set_role, request_context& ctx, uint64_t id,
             std::string& role) {
        return route<user>(self, kind::write, atom::set_role_v,
                           std::move(ctx), id, std::move(role));
      },
      [self](atom::remove, request_context& ctx, uint64_t id) {
        return route<caf::ok_atom>(self, kind::write, atom::remove_v,
                                   std::move(ctx), id);
      },
      [self](atom::authenticate, request_context& ctx, std::string& email,
             std::string& password) {
        return route<user>(self, kind::safe, atom::authenticate_v,
                           std::move(ctx), std::move(email),
                           std::move(password));
      },
      HERALD_ROUTER_MEMBERSHIP,
  };
}

session_router_actor::behavior_type
session_router(session_router_actor::stateful_pointer<router_state> self,
               caf::timespan timeout) {
  setup(self, "session", timeout);
  return {
      [self](atom::login, request_context& ctx, std::string& email,
             std::string& password) {
        return route<session>(self, kind::safe, atom::login_v, std::move(ctx),
                              std::move(email), std::move(password));
      },
      HERALD_ROUTER_MEMBERSHIP,
  };
}

token_router_actor::behavior_type
token_router(token_router_actor::stateful_pointer<router_state> self,
             caf::timespan timeout) {
  setup(self, "token", timeout);
  return {
      [self](atom::validate, request_context& ctx, std::string& token) {
        return route<claims>(self, kind::safe, atom::validate_v,
                             std::move(ctx), std::move(token));
      },
      [self](atom::revoke, request_context& ctx, uint64_t id) {
        return route<uint32_t>(self, kind::write, atom::revoke_v,
                               std::move(ctx), id);
      },
      [self](atom::forget, uint64_t id, uint32_t version) {
        if (from_another_node(self))
          return;
        auto& st = self->state;
        auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
        if (st.local && sender != st.local.address())
          caf::anon_send(st.local, atom::forget_v, id, version);
        for (auto& x : st.remotes)
          caf::anon_send(x.handle, atom::forget_v, id, version);
      },
      HERALD_ROUTER_MEMBERSHIP,
  };
}

reset_router_actor::behavior_type
reset_router(reset_router_actor::stateful_pointer<router_state> self,
             caf::timespan timeout) {
  setup(self, "reset", timeout);
  return {
      [self](atom::reset_request, request_context& ctx, std::string& email) {
        return route<caf::ok_atom>(self, kind::write, atom::reset_request_v,
                                   std::move(ctx), std::move(email));
      },
      [self](atom::reset_confirm, request_context& ctx, std::string& token,
             std::string& password) {
        return route<caf::ok_atom>(self, kind::write, atom::reset_confirm_v,
                                   std::move(ctx), std::move(token),
                                   std::move(password));
      },
      HERALD_ROUTER_MEMBERSHIP,
  };
}

#undef HERALD_ROUTER_MEMBERSHIP

std::vector<std::pair<std::string, caf::actor>> routers::all() const {
  return {{"user", caf::actor_cast<caf::actor>(user)},
          {"session", caf::actor_cast<caf::actor>(session)},
          {"token", caf::actor_cast<caf::actor>(token)},
          {"reset", caf::actor_cast<caf::actor>(reset)}};
}

routers spawn_routers(caf::actor_system& sys, caf::timespan timeout) {
  return {sys.spawn(user_router, timeout), sys.spawn(session_router, timeout),
          sys.spawn(token_router, timeout), sys.spawn(reset_router, timeout)};
}

} // namespace herald
