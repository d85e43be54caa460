#define CAF_SUITE throttle

#include "messages/throttle.hpp"

#include "tests/test.hpp"

#include "messages/digest.hpp"
#include "tests/support/fake_storage.hpp"

// The throttling rules (messages/throttle.hpp) and the fake storage's
// throttle_hit/undo/clear, which actor-level tests of the gateway rely on to
// behave as MySQL's (tests/unit/mysql_throttle.cpp holds MySQL to the same).

using namespace herald;
using herald::test::code_of;

namespace {

throttle_rule rule(std::string key, uint32_t threshold = 3,
                   int64_t increment = 60, int64_t max_wait = 150,
                   int64_t window = 43200) {
  return throttle_rule{std::move(key), threshold, increment, max_wait, window};
}

struct fixture : herald::test::fixture {
  std::shared_ptr<herald::test::fake_store> store
      = std::make_shared<herald::test::fake_store>();
  storage_actor storage = sys.spawn(herald::test::fake_storage, store);

  int64_t hit(std::vector<throttle_rule> rules) {
    auto res = call<int64_t>(storage, atom::throttle_hit_v, std::move(rules));
    if (!res)
      CAF_FAIL("hit failed: " << render(res.error()));
    return *res;
  }

  caf::expected<caf::ok_atom> undo(std::vector<std::string> keys) {
    return call<caf::ok_atom>(storage, atom::throttle_undo_v, std::move(keys));
  }

  caf::expected<caf::ok_atom> clear(std::vector<std::string> keys) {
    return call<caf::ok_atom>(storage, atom::throttle_clear_v, std::move(keys));
  }

  void ok(const caf::expected<caf::ok_atom>& res) {
    if (!res)
      CAF_FAIL("request failed: " << render(res.error()));
  }

  /// Events counted for `key`, -1 if it has no state.
  int64_t events(const std::string& key) {
    auto i = store->throttles.find(sha256_hex(key));
    return i == store->throttles.end() ? -1
                                       : static_cast<int64_t>(i->second.events);
  }
};

} // namespace

CAF_TEST(the wait starts at the threshold grows and is capped) {
  auto r = rule("k", 3, 60, 150);
  CAF_CHECK_EQUAL(throttle_wait(r, 0), 0);
  CAF_CHECK_EQUAL(throttle_wait(r, 2), 0);
  CAF_CHECK_EQUAL(throttle_wait(r, 3), 60);
  CAF_CHECK_EQUAL(throttle_wait(r, 4), 120);
  CAF_CHECK_EQUAL(throttle_wait(r, 5), 150);
  CAF_CHECK_EQUAL(throttle_wait(r, 4000000000u), 150);
  // Keycloak's defaults: 30 failures, +60 s, at most 15 min.
  throttle_rule keycloak;
  CAF_CHECK_EQUAL(throttle_wait(keycloak, 29), 0);
  CAF_CHECK_EQUAL(throttle_wait(keycloak, 30), 60);
  CAF_CHECK_EQUAL(throttle_wait(keycloak, 44), 900);
  CAF_CHECK_EQUAL(throttle_wait(keycloak, 100), 900);
  // No overflow with huge increments.
  auto huge = rule("k", 1, INT64_MAX, INT64_MAX - 1);
  CAF_CHECK_EQUAL(throttle_wait(huge, 3), INT64_MAX - 1);
  CAF_CHECK_EQUAL(throttle_wait(rule("k", 1, 0, 900), 9), 0);
  CAF_CHECK_EQUAL(throttle_key_hash("login:email:a@x.org"),
                  sha256_hex("login:email:a@x.org"));
}

CAF_TEST_FIXTURE_SCOPE(throttle_tests, fixture)

CAF_TEST(the fake counts blocks and forgets as mysql does) {
  auto r = rule("login:email:a@x.org", 3, 60, 150, 1000);
  auto other = rule("login:addr:192.0.2.7");
  CAF_CHECK_EQUAL(hit({r, other}), 0);
  CAF_CHECK_EQUAL(hit({r, other}), 0);
  CAF_CHECK_EQUAL(hit({r, other}), 0); // the third counts and blocks
  CAF_CHECK_EQUAL(events(r.key), 3);
  CAF_CHECK_EQUAL(hit({other, r}), 60);
  store->now += 10;
  CAF_CHECK_EQUAL(hit({other, r}), 50);
  CAF_CHECK_EQUAL(events(r.key), 3); // nothing counted while blocked
  CAF_CHECK_EQUAL(events(other.key), 3);
  store->now += 50;
  CAF_CHECK_EQUAL(hit({r}), 0);
  CAF_CHECK_EQUAL(hit({r}), 120);
  store->now += 120;
  CAF_CHECK_EQUAL(hit({r}), 0);
  CAF_CHECK_EQUAL(hit({r}), 150);
  // Undo recomputes the block from the remaining count.
  ok(undo({r.key, r.key, "unknown"}));
  CAF_CHECK_EQUAL(events(r.key), 4);
  CAF_CHECK_EQUAL(hit({r}), 120);
  ok(undo({r.key}));
  ok(undo({r.key}));
  CAF_CHECK_EQUAL(hit({r}), 0);
  CAF_CHECK_EQUAL(events(r.key), 3);
  // The window: a count starts over after `window` seconds without events.
  store->now += 1000;
  CAF_CHECK_EQUAL(hit({r}), 0);
  CAF_CHECK_EQUAL(events(r.key), 1);
  ok(undo({r.key}));
  CAF_CHECK_EQUAL(events(r.key), -1);
  ok(clear({other.key}));
  CAF_CHECK_EQUAL(events(other.key), -1);
}

CAF_TEST(the fake refuses what mysql refuses) {
  for (auto rules : std::vector<std::vector<throttle_rule>>{
           {},
           {rule("")},
           {rule("a", 0)},
           {rule("a", 3, -1)},
           {rule("a", 3, 60, -1)},
           {rule("a", 3, 60, 60, -1)},
           {rule("a"), rule("a")},
           std::vector<throttle_rule>(9, rule("a"))}) {
    auto res = call<int64_t>(storage, atom::throttle_hit_v, rules);
    CAF_CHECK(!res);
    if (!res)
      CAF_CHECK_EQUAL(code_of(res.error()), ec::invalid_argument);
  }
  for (auto res : {undo({}), undo({""}), clear({}), clear({"a", ""}),
                   clear(std::vector<std::string>(9, "a"))}) {
    CAF_CHECK(!res);
    if (!res)
      CAF_CHECK_EQUAL(code_of(res.error()), ec::invalid_argument);
  }
  CAF_CHECK(store->throttles.empty());
  store->down = true;
  auto res = call<int64_t>(storage, atom::throttle_hit_v,
                           std::vector<throttle_rule>{rule("a")});
  CAF_CHECK(!res);
  if (!res)
    CAF_CHECK_EQUAL(code_of(res.error()), ec::unavailable);
}

CAF_TEST_FIXTURE_SCOPE_END()
