#define CAF_SUITE open_requests

#include "actors/open_requests.hpp"

#include <memory>
#include <optional>
#include <vector>

#include "actors/hasher.hpp"
#include "actors/user.hpp"
#include "tests/test.hpp"

using namespace herald;
using namespace std::chrono_literals;
using herald::test::code_of;

namespace {

/// A storage that holds every `remove` until it gets (ok): then it answers
/// them all ok. Stands for a database that is slow while a node stops.
caf::behavior holding_storage(caf::event_based_actor* self,
                              std::shared_ptr<size_t> held_count) {
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  self->set_default_handler(
      [held, held_count](caf::scheduled_actor* ptr,
                         caf::message_view&) -> caf::result<caf::message> {
        held->push_back(ptr->make_response_promise());
        *held_count = held->size();
        return caf::delegated<caf::message>{};
      });
  return {
      [held, held_count](caf::ok_atom) {
        for (auto& rp : *held)
          rp.deliver(caf::ok_atom_v);
        held->clear();
        *held_count = 0;
      },
  };
}

struct fixture : herald::test::fixture {
  std::shared_ptr<size_t> held = std::make_shared<size_t>(0);
  caf::actor storage = sys.spawn(holding_storage, held);
  user_actor users;

  fixture() {
    user_settings us;
    us.dummy_hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
    us.drain_grace = 10s;
    users = sys.spawn(user_service, us, caf::actor_cast<storage_actor>(storage),
                      sys.spawn(hasher_worker, argon2_params{64, 1, 1}),
                      token_actor{}, outbox_relay_actor{});
  }

  /// Sends (remove, 7) from the test actor; the answer stays in its mailbox.
  auto remove_one() {
    return self->request(users, caf::infinite, atom::remove_v, ctx,
                         uint64_t{7});
  }

  std::shared_ptr<std::optional<caf::error>> watch(caf::actor whom) {
    auto seen = std::make_shared<std::optional<caf::error>>();
    watchers.push_back(sys.spawn([whom, seen](caf::event_based_actor* w) {
      w->monitor(whom);
      w->set_down_handler([w, seen](caf::down_msg& msg) {
        *seen = msg.reason;
        w->quit();
      });
      return caf::behavior{[](caf::ok_atom) {}};
    }));
    sched.run();
    return seen;
  }

  std::vector<caf::actor> watchers;

  ~fixture() override {
    // Held promises point back at the storage actor: answer them so that it
    // can go.
    caf::anon_send(storage, caf::ok_atom_v);
    caf::anon_send_exit(storage, caf::exit_reason::kill);
    sched.run();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(open_requests_tests, fixture)

CAF_TEST(a stop lets a request under way finish and then exits) {
  auto down = watch(caf::actor_cast<caf::actor>(users));
  auto rh = remove_one();
  sched.run();
  CAF_REQUIRE_EQUAL(*held, 1u);
  caf::anon_send_exit(users, caf::exit_reason::user_shutdown);
  sched.run();
  // Still waiting for storage: the service does not exit yet.
  if (down->has_value())
    CAF_MESSAGE("down: " << render(**down));
  CAF_CHECK(!down->has_value());
  caf::anon_send(storage, caf::ok_atom_v);
  sched.run();
  bool ok = false;
  rh.receive([&](caf::ok_atom) { ok = true; },
             [&](caf::error& err) { CAF_FAIL("got " << render(err)); });
  CAF_CHECK(ok);
  CAF_REQUIRE(down->has_value());
  CAF_CHECK_EQUAL(**down, caf::exit_reason::user_shutdown);
}

CAF_TEST(after the grace what is still open is answered unavailable) {
  auto down = watch(caf::actor_cast<caf::actor>(users));
  auto rh = remove_one();
  sched.run();
  caf::anon_send_exit(users, caf::exit_reason::user_shutdown);
  sched.run();
  // A request that comes while it drains is taken too.
  auto late = remove_one();
  sched.run();
  CAF_CHECK_EQUAL(*held, 2u);
  sched.advance_time(11s);
  sched.run();
  for (auto* h : {&rh, &late}) {
    std::optional<caf::error> got;
    h->receive([&](caf::ok_atom) { CAF_FAIL("answered ok"); },
               [&](caf::error& err) { got = err; });
    CAF_REQUIRE(got);
    CAF_CHECK_EQUAL(code_of(*got), ec::unavailable);
    CAF_CHECK(render(*got).find("may still have been applied")
              != std::string::npos);
  }
  CAF_REQUIRE(down->has_value());
  CAF_CHECK_EQUAL(**down, caf::exit_reason::user_shutdown);
}

CAF_TEST(a stop with nothing open exits at once) {
  auto down = watch(caf::actor_cast<caf::actor>(users));
  caf::anon_send_exit(users, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_REQUIRE(down->has_value());
  CAF_CHECK_EQUAL(**down, caf::exit_reason::user_shutdown);
}

CAF_TEST(any other exit answers every open request at once) {
  auto rh = remove_one();
  sched.run();
  caf::anon_send_exit(users, caf::exit_reason::unreachable);
  sched.run();
  std::optional<caf::error> got;
  rh.receive([&](caf::ok_atom) { CAF_FAIL("answered ok"); },
             [&](caf::error& err) { got = err; });
  CAF_REQUIRE(got);
  CAF_CHECK_EQUAL(code_of(*got), ec::unavailable);
}

CAF_TEST(refusals before any work leave nothing open) {
  // A weak password is refused before a promise is made: a stop right after
  // finds nothing to wait for.
  auto down = watch(caf::actor_cast<caf::actor>(users));
  user_patch weak;
  weak.set_password = true;
  weak.password = "short";
  auto res = call<user>(users, atom::update_v, ctx, uint64_t{7}, weak);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::invalid_argument);
  caf::anon_send_exit(users, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(down->has_value());
}

CAF_TEST_FIXTURE_SCOPE_END()
