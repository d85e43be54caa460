#include "node/membership.hpp"

#include <algorithm>
#include <ctime>
#include <memory>
#include <set>

#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/open_requests.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

using self_ptr = membership_actor::stateful_pointer<membership_state>;

/// The services a member may host and routers exist for.
const std::vector<std::string>& routed_services() {
  static const std::vector<std::string> xs{"user", "session", "token",
                                           "reset"};
  return xs;
}

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

bool split(const std::string& address, std::string& host, uint16_t& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  auto digits = address.substr(colon + 1);
  if (digits.empty() || digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto n = std::stoul(digits);
  if (n == 0 || n > 65535)
    return false;
  host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  port = static_cast<uint16_t>(n);
  return true;
}

peer_state* find(self_ptr self, const std::string& address, uint64_t gen) {
  auto i = self->state.peers.find(address);
  if (i == self->state.peers.end() || i->second.gen != gen)
    return nullptr;
  return &i->second;
}

void tell_routers_leave(self_ptr self, const peer_state& p) {
  if (p.info.instance.empty())
    return;
  for (auto& r : self->state.routers)
    caf::anon_send(r.second, atom::leave_v, member_key(p.info));
}

void dial(self_ptr self, const std::string& address);

/// The dial or handshake failed, or the member went down: try again later.
void lost(self_ptr self, peer_state& p, const std::string& why) {
  auto& cfg = self->state.cfg;
  auto was_up = p.state == "up";
  if (was_up) {
    tell_routers_leave(self, p);
    spdlog::warn("cluster: member {} at {} (instance {}) is down: {}",
                 p.info.name, p.address, p.info.instance, why);
  } else if (!p.reported) {
    spdlog::info("cluster: cannot reach {} yet ({}); retrying", p.address,
                 why);
  }
  p.reported = true;
  if (p.node)
    self->demonitor(p.node.address());
  p.node = nullptr;
  p.services.clear();
  p.state = "unreachable (" + why + ")";
  ++p.gen;
  if (was_up || p.backoff.count() == 0)
    p.backoff = cfg.retry_min;
  else
    p.backoff = std::min(p.backoff * 2, cfg.retry_max);
  self->delayed_send(self, p.backoff, atom::tick_v, p.address, p.gen);
}

/// Adds an address learned from a peer (or a seed) and dials it, unless it
/// is this node or a member known already.
void learn(self_ptr self, const std::string& address) {
  auto& st = self->state;
  if (address.empty() || address == st.self_info.address)
    return;
  if (st.peers.count(address) > 0)
    return;
  for (auto& kv : st.peers)
    if (kv.second.info.address == address)
      return; // known under the address it was dialed at
  std::string host;
  uint16_t port = 0;
  if (!split(address, host, port)) {
    spdlog::warn("cluster: ignoring member address '{}' (not host:port)",
                 address);
    return;
  }
  peer_state p;
  p.address = address;
  st.peers.emplace(address, std::move(p));
  dial(self, address);
}

/// The member answered its introduction: takes its services, then it is up.
void welcome(self_ptr self, const std::string& address, uint64_t gen,
             node_actor node, std::vector<member_info> view) {
  auto p = find(self, address, gen);
  if (p == nullptr)
    return;
  auto& st = self->state;
  if (view.empty() || view.front().instance.empty()) {
    lost(self, *p, "it did not say who it is");
    return;
  }
  auto info = view.front();
  if (info.instance == st.self_info.instance) {
    spdlog::info("cluster: {} is this node; not dialing it again", address);
    p->state = "alias";
    p->info = info;
    ++p->gen;
    return;
  }
  for (auto& kv : st.peers)
    if (kv.first != address && kv.second.info.instance == info.instance
        && kv.second.state != "alias") {
      p->state = "alias";
      p->info = info;
      ++p->gen;
      return;
    }
  // Its services, asked in parallel; up once every answer is in.
  struct gathering {
    std::map<std::string, caf::actor> services;
    size_t open = 4;
  };
  auto g = std::make_shared<gathering>();
  auto finish = [self, address, gen, node, info, g]() {
    if (--g->open > 0)
      return;
    auto p = find(self, address, gen);
    if (p == nullptr)
      return;
    auto& st = self->state;
    auto restarted = !p->info.instance.empty()
                     && p->info.instance != info.instance;
    p->info = info;
    p->node = node;
    p->services = g->services;
    p->state = "up";
    p->last_seen = now_s();
    p->backoff = caf::timespan{0};
    p->reported = false;
    self->monitor(node);
    std::string names;
    for (auto& kv : p->services) {
      names += (names.empty() ? "" : ", ") + kv.first;
      for (auto& r : st.routers)
        if (r.first == kv.first)
          caf::anon_send(r.second, atom::join_v, member_key(info), kv.second);
    }
    spdlog::info("cluster: member {} at {} is up (instance {}{}; services: "
                 "{})",
                 info.name, address, info.instance,
                 restarted ? ", a new start" : "",
                 names.empty() ? "none" : names);
  };
  auto timeout = st.cfg.request_timeout;
  self->request(node, timeout, atom::get_v, atom::user_v)
      .then(
          [g, finish](user_actor& h) {
            if (h)
              g->services["user"] = caf::actor_cast<caf::actor>(h);
            finish();
          },
          [finish](caf::error&) { finish(); });
  self->request(node, timeout, atom::get_v, atom::session_v)
      .then(
          [g, finish](session_actor& h) {
            if (h)
              g->services["session"] = caf::actor_cast<caf::actor>(h);
            finish();
          },
          [finish](caf::error&) { finish(); });
  self->request(node, timeout, atom::get_v, atom::token_v)
      .then(
          [g, finish](token_actor& h) {
            if (h)
              g->services["token"] = caf::actor_cast<caf::actor>(h);
            finish();
          },
          [finish](caf::error&) { finish(); });
  self->request(node, timeout, atom::get_v, atom::reset_v)
      .then(
          [g, finish](password_reset_actor& h) {
            if (h)
              g->services["reset"] = caf::actor_cast<caf::actor>(h);
            finish();
          },
          [finish](caf::error&) { finish(); });
  for (size_t i = 1; i < view.size(); ++i)
    learn(self, view[i].address);
}

void dial(self_ptr self, const std::string& address) {
  auto& st = self->state;
  auto i = st.peers.find(address);
  if (i == st.peers.end())
    return;
  auto& p = i->second;
  std::string host;
  uint16_t port = 0;
  if (!split(address, host, port))
    return;
  auto gen = ++p.gen;
  if (p.state != "up")
    p.state = p.state.rfind("unreachable", 0) == 0 ? p.state : "connecting";
  self
      ->request(st.transport, st.cfg.connect_timeout, caf::connect_atom_v,
                host, port)
      .then(
          [self, address, gen](caf::node_id&, caf::strong_actor_ptr& ptr,
                               std::set<std::string>&) {
            auto p = find(self, address, gen);
            if (p == nullptr)
              return;
            if (!ptr) {
              lost(self, *p, "no actor published there");
              return;
            }
            auto node = caf::actor_cast<node_actor>(ptr);
            auto& st = self->state;
            self->request(node, st.cfg.request_timeout, atom::join_v,
                          st.self_info)
                .then(
                    [self, address, gen, node](std::vector<member_info>& view) {
                      welcome(self, address, gen, node, std::move(view));
                    },
                    [self, address, gen](caf::error& err) {
                      if (auto p = find(self, address, gen))
                        lost(self, *p, "no answer to join: " + render(err));
                    });
          },
          [self, address, gen](caf::error& err) {
            if (auto p = find(self, address, gen))
              lost(self, *p, render(err));
          });
}

/// Asks every member that is up for its members again.
void gossip(self_ptr self) {
  auto& st = self->state;
  for (auto& kv : st.peers) {
    auto& p = kv.second;
    if (p.state != "up")
      continue;
    auto address = kv.first;
    auto gen = p.gen;
    auto instance = p.info.instance;
    self->request(p.node, st.cfg.request_timeout, atom::join_v, st.self_info)
        .then(
            [self, address, gen, instance](std::vector<member_info>& view) {
              auto p = find(self, address, gen);
              if (p == nullptr || view.empty())
                return;
              if (view.front().instance != instance) {
                // Cannot happen over the same connection; never mix starts.
                lost(self, *p, "it answered as another instance");
                return;
              }
              p->last_seen = now_s();
              for (size_t i = 1; i < view.size(); ++i)
                learn(self, view[i].address);
            },
            [](caf::error&) {
              // The down message (heartbeats) decides whether it is gone.
            });
  }
  self->delayed_send(self, st.cfg.gossip_interval, atom::gossip_v);
}

cluster_status status(self_ptr self) {
  auto& st = self->state;
  cluster_status result;
  result.members.push_back({st.self_info, "self", now_s()});
  for (auto& kv : st.peers) {
    auto& p = kv.second;
    if (p.state == "alias")
      continue;
    member_row row{p.info, p.state, p.last_seen};
    if (row.info.address.empty())
      row.info.address = p.address;
    result.members.push_back(std::move(row));
  }
  for (auto& name : routed_services()) {
    route_row r{name, {}};
    if (std::find(st.local_services.begin(), st.local_services.end(), name)
        != st.local_services.end()) {
      r.via.push_back("local");
    } else {
      for (auto& kv : st.peers)
        if (kv.second.state == "up" && kv.second.services.count(name) > 0)
          r.via.push_back(kv.second.info.name + "@" + kv.second.info.address);
    }
    result.routes.push_back(std::move(r));
  }
  return result;
}

} // namespace

std::string member_key(const member_info& info) {
  return info.address + "/" + info.instance;
}

membership_actor::behavior_type
membership(membership_actor::stateful_pointer<membership_state> self,
           membership_settings cfg, caf::io::middleman_actor transport,
           std::vector<std::pair<std::string, caf::actor>> routers) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.transport = std::move(transport);
  st.routers = std::move(routers);
  ignore_stray_errors(self);
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& kv : self->state.peers) {
      auto& p = kv.second;
      if (p.state == "up" && p.node && p.node.address() == msg.source) {
        lost(self, p, "connection lost (" + render(msg.reason) + ")");
        return;
      }
    }
  });
  return {
      [self](atom::join,
             member_info& peer) -> caf::result<std::vector<member_info>> {
        auto& st = self->state;
        if (!st.started)
          return caf::make_error(ec::unavailable,
                                 std::string{"this node is starting"});
        if (!peer.instance.empty() && peer.instance != st.self_info.instance) {
          // Known at this address as another start: that one is gone.
          auto i = st.peers.find(peer.address);
          if (i != st.peers.end() && i->second.state == "up"
              && i->second.info.instance != peer.instance) {
            lost(self, i->second, "restarted as instance " + peer.instance);
          } else if (i != st.peers.end() && i->second.state != "up"
                     && i->second.state != "connecting"
                     && i->second.state != "alias") {
            // It is back: dial it now rather than at the end of the backoff.
            i->second.backoff = caf::timespan{0};
            dial(self, peer.address);
          } else {
            learn(self, peer.address);
          }
        }
        std::vector<member_info> view{st.self_info};
        for (auto& kv : st.peers)
          if (kv.second.state == "up")
            view.push_back(kv.second.info);
        return view;
      },
      [self](atom::start, member_info& me, std::vector<std::string>& local) {
        auto& st = self->state;
        if (st.started)
          return;
        st.started = true;
        st.self_info = std::move(me);
        st.local_services = std::move(local);
        for (auto& seed : st.cfg.seeds)
          learn(self, seed);
        self->delayed_send(self, st.cfg.gossip_interval, atom::gossip_v);
      },
      [self](atom::cluster, atom::status) { return status(self); },
      [self](atom::tick, std::string& address, uint64_t gen) {
        auto p = find(self, address, gen);
        if (p == nullptr || p->state == "up" || p->state == "alias")
          return;
        dial(self, address);
      },
      [self](atom::gossip) { gossip(self); },
  };
}

} // namespace herald
