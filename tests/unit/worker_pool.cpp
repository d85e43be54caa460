#define CAF_SUITE worker_pool

#include "actors/worker_pool.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "tests/test.hpp"

using namespace herald;
using namespace std::chrono_literals;

namespace {

/// The workers' interface: a ping answers the id of the worker that served
/// it, so a test sees which worker the pool chose.
using echo_actor
    = caf::typed_actor<caf::replies_to<caf::ping_atom>::with<caf::actor_id>>;

echo_actor::behavior_type echo_worker(echo_actor::pointer self) {
  return {
      [self](caf::ping_atom) { return self->id(); },
  };
}

/// Monitors `whom` and records its exit reason in `seen`.
caf::behavior watcher(caf::event_based_actor* self, caf::actor whom,
                      std::shared_ptr<std::optional<caf::error>> seen) {
  self->monitor(whom);
  self->set_down_handler([self, seen](caf::down_msg& msg) {
    *seen = msg.reason;
    self->quit();
  });
  return {
      [](caf::ok_atom) {
        // Never sent; keeps the behavior non-empty.
      },
  };
}

worker_pool_settings echo_settings() {
  worker_pool_settings cfg;
  cfg.name = "echo_pool";
  return cfg;
}

struct fixture : herald::test::fixture {
  /// Every worker any pool spawned, in order: restarts append.
  std::vector<echo_actor> spawned;
  echo_actor pool;
  /// Kept here: an actor nobody holds a handle to is terminated when idle.
  std::vector<caf::actor> watchers;

  /// A restart still pending would call start()'s spawn function after the
  /// members it records into are gone: stop the pool while they live.
  ~fixture() override {
    if (pool)
      caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
    run();
  }

  void start(size_t n, worker_pool_settings cfg = echo_settings()) {
    pool = spawn_worker_pool<echo_actor>(
        sys, n,
        [this] {
          auto w = sys.spawn(echo_worker);
          spawned.push_back(w);
          return w;
        },
        std::move(cfg));
    sched.run();
  }

  /// Kills spawned worker `i` and lets the pool see it, firing no timers.
  void kill(size_t i, caf::error reason = caf::exit_reason::kill) {
    caf::anon_send<caf::message_priority::high>(
        caf::actor_cast<caf::actor>(spawned.at(i)),
        caf::exit_msg{caf::actor_addr{}, std::move(reason)});
    sched.run();
  }

  /// Pings the pool, delivering messages but firing no timers (so no restart
  /// happens meanwhile). A request the pool dropped fails the test.
  caf::expected<caf::actor_id> ping() {
    caf::expected<caf::actor_id> result{
        caf::make_error(ec::internal, std::string{"no reply"})};
    auto rh = self->request(pool, caf::infinite, caf::ping_atom_v);
    sched.run();
    if (!self->has_next_message()) {
      CAF_FAIL("the pool dropped the request");
      return result;
    }
    rh.receive([&](caf::actor_id id) { result = id; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  worker_pool_health health() {
    auto res = ask<worker_pool_health>(caf::actor_cast<caf::actor>(pool),
                                       caf::get_atom_v, caf::sys_atom_v);
    if (!res)
      CAF_FAIL("no health: " << render(res.error()));
    return *res;
  }

  std::shared_ptr<std::optional<caf::error>> watch(const caf::actor& whom) {
    auto seen = std::make_shared<std::optional<caf::error>>();
    watchers.push_back(sys.spawn(watcher, whom, seen));
    sched.run();
    return seen;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(worker_pool_tests, fixture)

CAF_TEST(a killed worker is replaced after the backoff and serves the next) {
  start(1);
  CAF_REQUIRE_EQUAL(spawned.size(), 1u);
  CAF_CHECK_EQUAL(ping(), spawned[0].id());
  kill(0);
  advance_time(99ms);
  sched.run();
  CAF_CHECK_EQUAL(spawned.size(), 1u);
  advance_time(1ms);
  sched.run();
  CAF_REQUIRE_EQUAL(spawned.size(), 2u);
  CAF_CHECK_EQUAL(ping(), spawned[1].id());
  // The slot's second restart waits twice as long.
  kill(1);
  advance_time(199ms);
  sched.run();
  CAF_CHECK_EQUAL(spawned.size(), 2u);
  advance_time(1ms);
  sched.run();
  CAF_REQUIRE_EQUAL(spawned.size(), 3u);
  CAF_CHECK_EQUAL(ping(), spawned[2].id());
  auto h = health();
  CAF_CHECK_EQUAL(h.name, "echo_pool");
  CAF_CHECK_EQUAL(h.size, 1u);
  CAF_CHECK_EQUAL(h.live, 1u);
  CAF_CHECK_EQUAL(h.restarts, 2u);
}

CAF_TEST(while a slot is empty the live workers serve every request) {
  start(2);
  kill(0);
  for (int i = 0; i < 4; ++i)
    CAF_CHECK_EQUAL(ping(), spawned[1].id());
  auto h = health();
  CAF_CHECK_EQUAL(h.size, 2u);
  CAF_CHECK_EQUAL(h.live, 1u);
  CAF_CHECK_EQUAL(h.restarts, 1u);
}

CAF_TEST(with no worker live a request is answered unavailable at once) {
  start(2);
  kill(0);
  kill(1);
  CHECK_REJECTED(ping(), ec::unavailable, "echo_pool");
  CHECK_REJECTED(ping(), ec::unavailable, "restarting");
  CAF_CHECK_EQUAL(health().live, 0u);
  trigger_timeouts();
  sched.run();
  CAF_REQUIRE_EQUAL(spawned.size(), 4u);
  CAF_CHECK_EQUAL(health().live, 2u);
  auto served = ping();
  CAF_REQUIRE(served);
  CAF_CHECK(*served == spawned[2].id() || *served == spawned[3].id());
}

CAF_TEST(one restart too many within the window ends the pool) {
  auto cfg = echo_settings();
  cfg.max_restarts = 2;
  auto baseline = sys.registry().running();
  start(2, cfg);
  auto seen = watch(caf::actor_cast<caf::actor>(pool));
  // Slot 0 dies twice and comes back twice...
  kill(0);
  trigger_timeouts();
  sched.run();
  kill(2);
  trigger_timeouts();
  sched.run();
  CAF_REQUIRE_EQUAL(spawned.size(), 4u);
  CAF_CHECK(!seen->has_value());
  // ... and a third death within the window ends the pool with its reason.
  auto bug = caf::make_error(ec::internal, std::string{"worker bug"});
  kill(3, bug);
  trigger_timeouts();
  sched.run();
  CAF_REQUIRE(seen->has_value());
  CAF_CHECK_EQUAL(render(**seen), "internal: worker bug");
  // No restart, and the other worker went down with the pool.
  CAF_CHECK_EQUAL(spawned.size(), 4u);
  CAF_CHECK_EQUAL(sys.registry().running(), baseline);
}

CAF_TEST(restarts older than the window no longer count) {
  auto cfg = echo_settings();
  cfg.max_restarts = 1;
  cfg.window = std::chrono::seconds{60};
  start(1, cfg);
  auto seen = watch(caf::actor_cast<caf::actor>(pool));
  kill(0);
  trigger_timeouts();
  sched.run();
  advance_time(61s);
  kill(1);
  trigger_timeouts();
  sched.run();
  CAF_CHECK(!seen->has_value());
  CAF_REQUIRE_EQUAL(spawned.size(), 3u);
  CAF_CHECK_EQUAL(ping(), spawned[2].id());
}

CAF_TEST(a pool that is shut down stops every worker and restarts none) {
  auto baseline = sys.registry().running();
  start(3);
  CAF_CHECK_EQUAL(sys.registry().running(), baseline + 4);
  auto seen = watch(caf::actor_cast<caf::actor>(pool));
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
  sched.run();
  advance_time(1min);
  sched.run();
  CAF_REQUIRE(seen->has_value());
  CAF_CHECK_EQUAL(**seen, caf::error{caf::exit_reason::user_shutdown});
  CAF_CHECK_EQUAL(spawned.size(), 3u);
  CAF_CHECK_EQUAL(sys.registry().running(), baseline);
}

CAF_TEST_FIXTURE_SCOPE_END()
