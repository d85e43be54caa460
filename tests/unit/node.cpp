#define CAF_SUITE node

#include "node/node.hpp"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "actors/worker_pool.hpp"
#include "node/catalogue.hpp"
#include "tests/support/fake_storage.hpp"
#include "tests/test.hpp"

using namespace herald;
using namespace std::chrono_literals;
using herald::test::code_of;

namespace {

/// What the stand-in components saw, shared with the test.
struct journal {
  /// Names in the order their exit messages arrived.
  std::vector<std::string> stopped;
};

/// A stand-in component: it answers nothing the node asks of real services
/// (tests only ask the node) and notes when it is told to stop. `stubborn`
/// ones ignore an orderly stop (the node must kill them).
caf::behavior stand_in(caf::event_based_actor* self, std::string name,
                       std::shared_ptr<journal> log, bool stubborn) {
  self->set_exit_handler([self, name, log, stubborn](caf::exit_msg& msg) {
    log->stopped.push_back(name);
    if (!stubborn || msg.reason == caf::exit_reason::kill)
      self->quit(msg.reason);
  });
  return {
      [](caf::ok_atom) {
        // Never sent; keeps the behavior non-empty.
      },
  };
}

std::vector<std::string> names_of(const std::vector<const component*>& cs) {
  std::vector<std::string> result;
  for (auto c : cs)
    result.push_back(c->name);
  return result;
}

std::vector<std::string> planned(std::vector<std::string> roles) {
  auto p = plan(catalogue(), roles);
  CAF_REQUIRE(p);
  return names_of(*p);
}

struct fixture : herald::test::fixture {
  std::shared_ptr<journal> log = std::make_shared<journal>();
  caf::actor node_handle;
  std::vector<registered_component> registry;
  /// A storage pool of event-based fake workers (the node's storage is a
  /// pool of detached ones; detached actors are not deterministic here).
  std::shared_ptr<test::fake_store> store
      = std::make_shared<test::fake_store>();
  std::vector<caf::actor> storage_workers;

  /// Stand-ins for every component the catalogue starts with `roles`, in
  /// its order; "storage" is a real pool over the fake store.
  void assemble(std::vector<std::string> roles,
                std::set<std::string> stubborn = {}) {
    for (auto& name : planned(std::move(roles))) {
      caf::actor handle;
      bool pool = false;
      if (name == "storage") {
        worker_pool_settings cfg;
        cfg.name = "storage";
        auto s = store;
        auto& workers = storage_workers;
        handle = caf::actor_cast<caf::actor>(spawn_worker_pool<storage_actor>(
            sys, 1,
            [this, s, &workers] {
              auto w = sys.spawn(test::fake_storage, s);
              workers.push_back(caf::actor_cast<caf::actor>(w));
              return w;
            },
            cfg));
        pool = true;
      } else {
        handle = sys.spawn(stand_in, name, log, stubborn.count(name) > 0);
      }
      registry.push_back({name, handle, {name, "running", 0, 0}, pool});
    }
    node_status info;
    info.name = "test-node";
    info.instance = "0123456789abcdef";
    node_handle = caf::actor_cast<caf::actor>(sys.spawn(
        herald::node, info, registry, std::chrono::milliseconds{500},
        herald::membership_actor{}));
    run();
  }

  node_actor node_api() { return caf::actor_cast<node_actor>(node_handle); }

  template <class Handle, class Atom>
  caf::expected<Handle> get(Atom what) {
    return call<Handle>(node_api(), atom::get_v, what);
  }

  caf::actor handle_of(const std::string& name) {
    for (auto& c : registry)
      if (c.name == name)
        return c.handle;
    CAF_FAIL("no component " << name);
    return {};
  }

  /// Monitors the node; `seen` gets its exit reason.
  std::shared_ptr<std::optional<caf::error>> watch_node() {
    auto seen = std::make_shared<std::optional<caf::error>>();
    watcher = sys.spawn([n = node_handle, seen](caf::event_based_actor* self) {
      self->monitor(n);
      self->set_down_handler([self, seen](caf::down_msg& msg) {
        *seen = msg.reason;
        self->quit();
      });
      return caf::behavior{[](caf::ok_atom) {}};
    });
    run();
    return seen;
  }

  caf::actor watcher;

  ~fixture() override {
    for (auto& c : registry)
      caf::anon_send_exit(c.handle, caf::exit_reason::kill);
    if (node_handle)
      caf::anon_send_exit(node_handle, caf::exit_reason::kill);
  }
};

} // namespace

CAF_TEST(each role set starts exactly its components in dependency order) {
  CAF_CHECK_EQUAL(planned({"user"}),
                  (std::vector<std::string>{"storage", "hasher", "user"}));
  CAF_CHECK_EQUAL(planned({"token"}),
                  (std::vector<std::string>{"storage", "token"}));
  CAF_CHECK_EQUAL(planned({"reset"}),
                  (std::vector<std::string>{"storage", "hasher", "reset"}));
  CAF_CHECK_EQUAL(planned({"mailer"}),
                  (std::vector<std::string>{"storage", "event-bus", "smtp",
                                            "mailer", "outbox-relay"}));
  CAF_CHECK_EQUAL(planned({"bridge"}),
                  (std::vector<std::string>{"storage", "event-bus",
                                            "amqp-bridge", "outbox-relay"}));
  // Login needs both the users and the keys on one node.
  CAF_CHECK_EQUAL(planned({"token", "user"}),
                  (std::vector<std::string>{"storage", "hasher", "token",
                                            "user", "session"}));
  // ... or the keys and the hasher (a token node of a cluster).
  CAF_CHECK_EQUAL(planned({"token", "reset"}),
                  (std::vector<std::string>{"storage", "hasher", "token",
                                            "session", "reset"}));
  CAF_CHECK_EQUAL(planned({"token"}),
                  (std::vector<std::string>{"storage", "token"}));
  CAF_CHECK_EQUAL(
      planned({"user", "token", "reset", "mailer", "bridge"}),
      (std::vector<std::string>{"storage", "hasher", "token", "event-bus",
                                "smtp", "mailer", "amqp-bridge", "outbox-relay",
                                "user", "session", "reset"}));
}

CAF_TEST(the catalogue lists every dependency before what needs it) {
  std::set<std::string> seen;
  for (auto& c : catalogue()) {
    for (auto& need : c.needs)
      CAF_CHECK(seen.count(need) > 0);
    CAF_CHECK(seen.insert(c.name).second);
    CAF_CHECK(c.spawn != nullptr);
  }
  // Every role starts something of its own.
  for (auto& role : known_roles()) {
    auto with = planned({role});
    CAF_CHECK(with.size() > 1);
  }
}

CAF_TEST(a plan whose component needs another role says which) {
  std::vector<component> cs;
  cs.push_back({"a", {{"x"}, {}}, {}, {}, nullptr});
  cs.push_back({"b", {{"y"}, {}}, {"a"}, {}, nullptr});
  auto p = plan(cs, {"y"});
  CAF_REQUIRE(!p);
  CAF_CHECK_EQUAL(render(p.error()),
                  "invalid_argument: b needs a on the same node, which runs "
                  "with role x");
  CAF_CHECK(plan(cs, {"x", "y"}));
}

CAF_TEST_FIXTURE_SCOPE(node_tests, fixture)

CAF_TEST(the registry answers exactly the services of the roles) {
  assemble({"user", "token"});
  CAF_CHECK(get<user_actor>(atom::user_v));
  CAF_CHECK(get<session_actor>(atom::session_v));
  CAF_CHECK(get<token_actor>(atom::token_v));
  CAF_CHECK_EQUAL(*get<user_actor>(atom::user_v),
                  caf::actor_cast<user_actor>(handle_of("user")));
  for (auto res :
       {get<password_reset_actor>(atom::reset_v).error(),
        get<amqp_bridge_actor>(atom::bridge_v).error(),
        call<outbox_status>(node_api(), atom::outbox_v, atom::status_v)
            .error()})
    CAF_CHECK_EQUAL(code_of(res), ec::unavailable);
  auto st = call<node_status>(node_api(), atom::status_v, ctx);
  CAF_REQUIRE(st);
  std::vector<std::string> names;
  for (auto& c : st->components) {
    names.push_back(c.name);
    CAF_CHECK_EQUAL(c.state, "running");
  }
  CAF_CHECK_EQUAL(names, planned({"user", "token"}));
  CAF_CHECK_EQUAL(st->storage_state, "ok");
  CAF_CHECK_EQUAL(call<std::string>(node_api(), atom::ping_v),
                  "0123456789abcdef");
}

CAF_TEST(a killed storage worker is replaced and the next request succeeds) {
  assemble({"user"});
  auto seen = watch_node();
  CAF_REQUIRE_EQUAL(storage_workers.size(), 1u);
  caf::anon_send_exit(storage_workers[0], caf::exit_reason::kill);
  run_once();
  sched.run();
  // The pool restarts it after its backoff; the node stays up meanwhile.
  sched.advance_time(200ms);
  run();
  CAF_CHECK(!seen->has_value());
  CAF_CHECK_EQUAL(storage_workers.size(), 2u);
  auto storage = caf::actor_cast<storage_actor>(handle_of("storage"));
  auto res = call<storage_status>(storage, atom::status_v);
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->state, "ok");
  auto st = call<node_status>(node_api(), atom::status_v, ctx);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->components.front().name, "storage");
  CAF_CHECK_EQUAL(st->components.front().restarts, 1u);
  CAF_CHECK_EQUAL(st->components.front().state, "running");
}

CAF_TEST(a component that cannot be restarted ends the node with an error) {
  assemble({"user", "token"});
  auto seen = watch_node();
  caf::anon_send_exit(handle_of("token"), caf::exit_reason::kill);
  run();
  // The others stop in reverse order of their start, then the node goes.
  CAF_CHECK_EQUAL(log->stopped,
                  (std::vector<std::string>{"session", "user", "hasher"}));
  CAF_REQUIRE(seen->has_value());
  CAF_CHECK_EQUAL(code_of(**seen), ec::internal);
  CAF_CHECK(render(**seen).find("component token failed") != std::string::npos);
  // While stopping (and after) nothing is handed out.
  CAF_CHECK(!get<user_actor>(atom::user_v));
}

CAF_TEST(a shutdown stops components in reverse order and waits for each) {
  assemble({"user", "token", "reset"});
  auto seen = watch_node();
  caf::anon_send_exit(node_handle, caf::exit_reason::user_shutdown);
  run();
  CAF_CHECK_EQUAL(log->stopped,
                  (std::vector<std::string>{"reset", "session", "user", "token",
                                            "hasher"}));
  CAF_REQUIRE(seen->has_value());
  CAF_CHECK_EQUAL(**seen, caf::exit_reason::user_shutdown);
}

CAF_TEST(a component that does not stop in time is killed and the rest go on) {
  assemble({"user", "token"}, {"user"});
  auto seen = watch_node();
  caf::anon_send_exit(node_handle, caf::exit_reason::user_shutdown);
  sched.run();
  // session stopped; user ignores the orderly stop: the node waits.
  CAF_CHECK_EQUAL(log->stopped, (std::vector<std::string>{"session", "user"}));
  CAF_CHECK(!seen->has_value());
  for (int i = 0; i < 10; ++i) {
    sched.advance_time(100ms);
    sched.run();
  }
  // Killed (a kill never reaches an exit handler), then the rest go.
  CAF_CHECK_EQUAL(log->stopped, (std::vector<std::string>{"session", "user",
                                                          "token", "hasher"}));
  run();
  CAF_REQUIRE(seen->has_value());
  CAF_CHECK_EQUAL(**seen, caf::exit_reason::user_shutdown);
}

CAF_TEST(a stop that runs out of its budget kills what is left at once) {
  // Budget 1.5 s; each stubborn one is killed after 0.6 s.
  assemble({"user", "token"}, {"session", "user", "token"});
  auto seen = watch_node();
  caf::anon_send_exit(node_handle, caf::exit_reason::user_shutdown);
  for (int i = 0; i < 20; ++i) {
    sched.advance_time(100ms);
    sched.run();
  }
  // hasher got no orderly stop: no time was left when its turn came.
  CAF_CHECK_EQUAL(log->stopped,
                  (std::vector<std::string>{"session", "user", "token"}));
  CAF_REQUIRE(seen->has_value());
  CAF_CHECK_EQUAL(**seen, caf::exit_reason::user_shutdown);
}

CAF_TEST(a component that fails while stopping makes the exit an error) {
  assemble({"user"});
  auto seen = watch_node();
  // user fails on its way down (not the orderly stop it was asked for).
  caf::anon_send_exit(node_handle, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(handle_of("user"), caf::exit_reason::unhandled_exception);
  run();
  CAF_REQUIRE(seen->has_value());
  CAF_CHECK_EQUAL(code_of(**seen), ec::internal);
  CAF_CHECK(render(**seen).find("component user failed") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
