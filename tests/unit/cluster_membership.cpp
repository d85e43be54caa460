#define CAF_SUITE cluster_membership

#include "node/membership.hpp"

#include "node/node.hpp"

#include "tests/test.hpp"

#include <map>
#include <memory>
#include <set>
#include <vector>

using namespace herald;
using namespace std::chrono_literals;

namespace {

/// The fake network: which "port" answers with which node actor, and how
/// often each was dialed.
struct network {
  std::map<uint16_t, caf::actor> nodes;
  std::map<uint16_t, size_t> dials;
};

/// Stands in for the middleman actor: `connect` answers the node at that
/// port, or fails like an unreachable host.
caf::behavior fake_transport(caf::event_based_actor*,
                             std::shared_ptr<network> net) {
  return {
      [=](caf::connect_atom, std::string&, uint16_t port) -> caf::message {
        ++net->dials[port];
        auto i = net->nodes.find(port);
        if (i == net->nodes.end() || !i->second)
          return caf::make_message(
              caf::make_error(caf::sec::cannot_connect_to_node));
        return caf::make_message(
            caf::node_id{}, caf::actor_cast<caf::strong_actor_ptr>(i->second),
            std::set<std::string>{});
      },
  };
}

/// What a fake peer was told.
struct peer_log {
  std::vector<member_info> hellos;
};

member_info info_of(std::string name, uint16_t port, std::string instance,
                    std::vector<std::string> roles = {"token"}) {
  return {std::move(name), "127.0.0.1:" + std::to_string(port),
          std::move(roles), std::move(instance), 1};
}

/// A peer's node actor: answers `join` with itself and `others`, and the
/// services it has; anything else `unavailable`.
caf::behavior fake_node(caf::event_based_actor*, member_info me,
                        std::vector<member_info> others,
                        std::map<std::string, caf::actor> services,
                        std::shared_ptr<peer_log> log) {
  auto service = [services](const char* name) -> caf::expected<caf::actor> {
    auto i = services.find(name);
    if (i == services.end())
      return caf::make_error(ec::unavailable, std::string{"not here"});
    return i->second;
  };
  return {
      [=](atom::join, member_info& peer) {
        log->hellos.push_back(peer);
        auto view = others;
        view.insert(view.begin(), me);
        return view;
      },
      [=](atom::get, atom::user) -> caf::result<user_actor> {
        auto x = service("user");
        if (!x)
          return x.error();
        return caf::actor_cast<user_actor>(*x);
      },
      [=](atom::get, atom::session) -> caf::result<session_actor> {
        auto x = service("session");
        if (!x)
          return x.error();
        return caf::actor_cast<session_actor>(*x);
      },
      [=](atom::get, atom::token) -> caf::result<token_actor> {
        auto x = service("token");
        if (!x)
          return x.error();
        return caf::actor_cast<token_actor>(*x);
      },
      [=](atom::get, atom::reset) -> caf::result<password_reset_actor> {
        auto x = service("reset");
        if (!x)
          return x.error();
        return caf::actor_cast<password_reset_actor>(*x);
      },
  };
}

/// Records what membership tells a router: "join <member>", "leave <member>".
caf::behavior fake_router(caf::event_based_actor*,
                          std::shared_ptr<std::vector<std::string>> log) {
  return {
      [=](atom::join, std::string& member, caf::actor&) {
        log->push_back("join " + member);
      },
      [=](atom::leave, std::string& member) {
        log->push_back("leave " + member);
      },
  };
}

caf::behavior idle(caf::event_based_actor*) {
  return {[](caf::ok_atom) {}};
}

struct fixture : herald::test::fixture {
  std::shared_ptr<network> net = std::make_shared<network>();
  std::shared_ptr<std::vector<std::string>> token_routes
      = std::make_shared<std::vector<std::string>>();
  caf::actor token_service = sys.spawn(idle);
  membership_actor members;
  member_info me = info_of("a", 1, "a1", {"gateway", "user"});

  ~fixture() override {
    // Its gossip timer re-arms for ever: the fixture's final run() would
    // never end.
    if (members)
      self->send_exit(members, caf::exit_reason::kill);
    sched.run();
  }

  void start(std::vector<std::string> seeds) {
    membership_settings cfg;
    cfg.seeds = std::move(seeds);
    cfg.retry_min = 250ms;
    cfg.retry_max = 2s;
    cfg.gossip_interval = 10s;
    std::vector<std::pair<std::string, caf::actor>> routers{
        {"token", sys.spawn(fake_router, token_routes)}};
    members = sys.spawn(membership, cfg,
                        caf::actor_cast<caf::io::middleman_actor>(
                            sys.spawn(fake_transport, net)),
                        routers);
    self->send(members, atom::start_v, me,
               std::vector<std::string>{"user"});
    sched.run();
  }

  caf::actor peer(uint16_t port, member_info who,
                  std::vector<member_info> others = {},
                  std::shared_ptr<peer_log> log = std::make_shared<peer_log>()) {
    auto hdl = sys.spawn(fake_node, std::move(who), std::move(others),
                         std::map<std::string, caf::actor>{
                             {"token", token_service}},
                         std::move(log));
    net->nodes[port] = hdl;
    return hdl;
  }

  cluster_status status() {
    auto x = ask<cluster_status>(members, atom::cluster_v, atom::status_v);
    CAF_REQUIRE(x);
    return *x;
  }

  std::string state_of(const std::string& address) {
    for (auto& m : status().members)
      if (m.info.address == address)
        return m.state;
    return "absent";
  }

  std::vector<std::string> token_via() {
    for (auto& r : status().routes)
      if (r.service == "token")
        return r.via;
    return {};
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_membership_tests, fixture)

CAF_TEST(a node learns members from its seed and dials them itself) {
  auto b = info_of("b", 2, "b1");
  auto c = info_of("c", 3, "c1");
  auto b_log = std::make_shared<peer_log>();
  auto c_log = std::make_shared<peer_log>();
  peer(2, b, {c}, b_log);
  peer(3, c, {}, c_log);
  start({"127.0.0.1:2"});
  CAF_CHECK_EQUAL(state_of("127.0.0.1:2"), "up");
  CAF_CHECK_EQUAL(state_of("127.0.0.1:3"), "up");
  // Each peer was introduced to this node by this node, not through b.
  CAF_REQUIRE_EQUAL(c_log->hellos.size(), 1u);
  CAF_CHECK_EQUAL(c_log->hellos[0].instance, "a1");
  CAF_CHECK_EQUAL(net->dials[3], 1u);
  CAF_CHECK_EQUAL(*token_routes, (std::vector<std::string>{
                                     "join 127.0.0.1:2/b1",
                                     "join 127.0.0.1:3/c1"}));
  CAF_CHECK_EQUAL(token_via(),
                  (std::vector<std::string>{"b@127.0.0.1:2", "c@127.0.0.1:3"}));
  auto st = status();
  CAF_REQUIRE(!st.members.empty());
  CAF_CHECK_EQUAL(st.members[0].state, "self");
  CAF_CHECK_EQUAL(st.members[0].info.instance, "a1");
  // Its own services are routed locally.
  for (auto& r : st.routes)
    if (r.service == "user")
      CAF_CHECK_EQUAL(r.via, (std::vector<std::string>{"local"}));
    else if (r.service == "session")
      CAF_CHECK(r.via.empty());
}

CAF_TEST(an unreachable seed is dialed again with a growing capped pause) {
  start({"127.0.0.1:2"});
  CAF_CHECK_EQUAL(net->dials[2], 1u);
  CAF_CHECK(state_of("127.0.0.1:2").rfind("unreachable", 0) == 0);
  CAF_CHECK(token_via().empty());
  sched.advance_time(250ms);
  sched.run();
  CAF_CHECK_EQUAL(net->dials[2], 2u);
  // Now 500 ms.
  sched.advance_time(250ms);
  sched.run();
  CAF_CHECK_EQUAL(net->dials[2], 2u);
  sched.advance_time(250ms);
  sched.run();
  CAF_CHECK_EQUAL(net->dials[2], 3u);
  // 1 s, 2 s, then capped at 2 s.
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(net->dials[2], 4u);
  sched.advance_time(2s);
  sched.run();
  CAF_CHECK_EQUAL(net->dials[2], 5u);
  sched.advance_time(2s);
  sched.run();
  CAF_CHECK_EQUAL(net->dials[2], 6u);
  // It answers at last: up, and routed to.
  peer(2, info_of("b", 2, "b1"));
  sched.advance_time(2s);
  sched.run();
  CAF_CHECK_EQUAL(state_of("127.0.0.1:2"), "up");
  CAF_CHECK_EQUAL(token_via(), (std::vector<std::string>{"b@127.0.0.1:2"}));
}

CAF_TEST(a member that goes down is dropped and taken back as a new start) {
  auto b = peer(2, info_of("b", 2, "b1"));
  start({"127.0.0.1:2"});
  CAF_CHECK_EQUAL(state_of("127.0.0.1:2"), "up");
  // Killed (for a remote actor: its connection lost).
  net->nodes.erase(2);
  self->send_exit(b, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK(state_of("127.0.0.1:2").rfind("unreachable", 0) == 0);
  CAF_CHECK(token_via().empty());
  CAF_CHECK_EQUAL(token_routes->back(), "leave 127.0.0.1:2/b1");
  // Restarted at the same address: another instance.
  peer(2, info_of("b", 2, "b2"));
  sched.advance_time(250ms);
  sched.run();
  CAF_CHECK_EQUAL(state_of("127.0.0.1:2"), "up");
  CAF_CHECK_EQUAL(token_routes->back(), "join 127.0.0.1:2/b2");
  auto st = status();
  for (auto& m : st.members)
    if (m.info.address == "127.0.0.1:2")
      CAF_CHECK_EQUAL(m.info.instance, "b2");
}

CAF_TEST(a peer that introduces itself is dialed back) {
  start({});
  auto d_log = std::make_shared<peer_log>();
  peer(4, info_of("d", 4, "d1"), {}, d_log);
  auto view = ask<std::vector<member_info>>(members, atom::join_v,
                                            info_of("d", 4, "d1"));
  CAF_REQUIRE(view);
  CAF_REQUIRE(!view->empty());
  CAF_CHECK_EQUAL(view->front().instance, "a1");
  CAF_CHECK_EQUAL(state_of("127.0.0.1:4"), "up");
  CAF_CHECK_EQUAL(d_log->hellos.size(), 1u);
  // The next peer hears of d.
  auto next = ask<std::vector<member_info>>(members, atom::join_v,
                                            info_of("e", 5, "e1"));
  CAF_REQUIRE(next);
  bool lists_d = false;
  for (auto& m : *next)
    lists_d = lists_d || m.instance == "d1";
  CAF_CHECK(lists_d);
}

CAF_TEST(a restarted member announcing itself replaces the old instance) {
  peer(2, info_of("b", 2, "b1"));
  start({"127.0.0.1:2"});
  CAF_CHECK_EQUAL(state_of("127.0.0.1:2"), "up");
  // b restarted faster than its connection was noticed lost.
  peer(2, info_of("b", 2, "b2"));
  auto view = ask<std::vector<member_info>>(members, atom::join_v,
                                            info_of("b", 2, "b2"));
  CAF_REQUIRE(view);
  CAF_CHECK(std::find(token_routes->begin(), token_routes->end(),
                      "leave 127.0.0.1:2/b1")
            != token_routes->end());
  sched.advance_time(250ms);
  sched.run();
  CAF_CHECK_EQUAL(token_routes->back(), "join 127.0.0.1:2/b2");
}

CAF_TEST(this node among its seeds is not a member) {
  peer(1, me);
  start({"127.0.0.1:1", "localhost:1"});
  auto st = status();
  CAF_CHECK_EQUAL(st.members.size(), 1u);
  CAF_CHECK(token_routes->empty());
}

CAF_TEST(nothing is answered to peers before the node started) {
  membership_settings cfg;
  auto m = sys.spawn(membership, cfg, caf::io::middleman_actor{},
                     std::vector<std::pair<std::string, caf::actor>>{});
  auto view = ask<std::vector<member_info>>(m, atom::join_v,
                                            info_of("b", 2, "b1"));
  CHECK_REJECTED(view, ec::unavailable, "starting");
}

CAF_TEST(the node actor relays introductions and the status to membership) {
  peer(2, info_of("b", 2, "b1"));
  start({"127.0.0.1:2"});
  node_status info;
  info.name = "a";
  info.instance = "a1";
  auto n = sys.spawn(herald::node, info, std::vector<registered_component>{},
                     std::chrono::milliseconds{500}, members);
  auto view = ask<std::vector<member_info>>(n, atom::join_v,
                                            info_of("d", 4, "d1"));
  CAF_REQUIRE(view);
  CAF_CHECK_EQUAL(view->front().instance, "a1");
  CAF_CHECK_EQUAL(view->size(), 2u); // a itself and b (d is not up)
  auto st = ask<cluster_status>(n, atom::cluster_v, atom::status_v, ctx);
  CAF_REQUIRE(st);
  // a, b, and d (dialed back, unreachable: nothing at its port).
  CAF_CHECK_EQUAL(st->members.size(), 3u);
  // A node without membership answers both unavailable.
  auto alone = sys.spawn(herald::node, info,
                         std::vector<registered_component>{},
                         std::chrono::milliseconds{500}, membership_actor{});
  CHECK_REJECTED(ask<std::vector<member_info>>(alone, atom::join_v,
                                               info_of("d", 4, "d1")),
                 ec::unavailable, "takes no members");
  CHECK_REJECTED(
      ask<cluster_status>(alone, atom::cluster_v, atom::status_v, ctx),
      ec::unavailable, "no membership");
}

CAF_TEST_FIXTURE_SCOPE_END()
