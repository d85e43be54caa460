#define CAF_SUITE event_bus

#include "actors/event_bus.hpp"

#include "tests/support/recording_handler.hpp"
#include "tests/test.hpp"

using namespace herald;
using herald::test::handler_log;
using herald::test::make_event;
using herald::test::recording_handler;

namespace {

struct fixture : herald::test::fixture {
  event_bus_actor bus = sys.spawn(event_bus, std::chrono::seconds(5));

  std::shared_ptr<handler_log> subscribe(const std::string& topic) {
    auto log = std::make_shared<handler_log>();
    auto h = sys.spawn(recording_handler, log);
    CAF_REQUIRE(call<caf::ok_atom>(bus, atom::subscribe_v, topic, h));
    return log;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(event_bus_tests, fixture)

CAF_TEST(an event reaches every subscriber of its topic and only those) {
  auto a = subscribe("user.created");
  auto b = subscribe("user.created");
  auto other = subscribe("user.deleted");
  auto res = call<caf::ok_atom>(bus, atom::publish_v,
                                make_event("user.created", "user:1", 1));
  CAF_CHECK(res);
  CAF_CHECK_EQUAL(a->seen.size(), 1u);
  CAF_CHECK_EQUAL(b->seen.size(), 1u);
  CAF_CHECK_EQUAL(other->seen.size(), 0u);
}

CAF_TEST(no subscriber is success) {
  CAF_CHECK(call<caf::ok_atom>(bus, atom::publish_v,
                               make_event("user.updated", "user:1", 1)));
}

CAF_TEST(one failing subscriber fails the publish) {
  auto good = subscribe("user.created");
  auto bad = subscribe("user.created");
  bad->fail_with = caf::make_error(ec::unavailable, std::string{"smtp down"});
  auto res = call<caf::ok_atom>(bus, atom::publish_v,
                                make_event("user.created", "user:1", 1));
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(test::code_of(res.error()), ec::unavailable);
  CAF_CHECK(render(res.error()).find("smtp down") != std::string::npos);
  CAF_CHECK_EQUAL(good->seen.size(), 1u);
}

CAF_TEST(a subscriber that never answers fails the publish by timeout) {
  auto mute = subscribe("user.created");
  mute->silent = true;
  auto res = call<caf::ok_atom>(bus, atom::publish_v,
                                make_event("user.created", "user:1", 1));
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(test::code_of(res.error()), ec::unavailable);
}

CAF_TEST(subscribing twice delivers once and dead handlers are dropped) {
  auto log = std::make_shared<handler_log>();
  auto h = sys.spawn(recording_handler, log);
  CAF_REQUIRE(call<caf::ok_atom>(bus, atom::subscribe_v,
                                 std::string{"user.created"}, h));
  CAF_REQUIRE(call<caf::ok_atom>(bus, atom::subscribe_v,
                                 std::string{"user.created"}, h));
  CAF_CHECK(call<caf::ok_atom>(bus, atom::publish_v,
                               make_event("user.created", "user:1", 1)));
  CAF_CHECK_EQUAL(log->seen.size(), 1u);
  caf::anon_send_exit(h, caf::exit_reason::kill);
  run();
  // With the handler gone the topic has no subscriber: success, no timeout.
  CAF_CHECK(call<caf::ok_atom>(bus, atom::publish_v,
                               make_event("user.created", "user:1", 2)));
}

CAF_TEST_FIXTURE_SCOPE_END()
