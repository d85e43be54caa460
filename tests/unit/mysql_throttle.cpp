#define CAF_SUITE mysql_throttle

#include <atomic>
#include <thread>

#include "messages/digest.hpp"
#include "messages/throttle.hpp"
#include "storage/throttle.hpp"
#include "tests/unit/mysql_fixture.hpp"

// Throttling counters in MySQL: counting up to the threshold, the growing wait
// capped at max_wait, the window after which a count starts over, hits while
// blocked that count nothing, undo, clear, refused input, pruning, what is
// stored of a key (its SHA-256 only), and exact counts when hits on one key
// race on separate connections.

using namespace herald;
using herald::test::code_of;
using herald::test::reply_timeout;

namespace {

throttle_rule rule(std::string key, uint32_t threshold = 3,
                   int64_t increment = 60, int64_t max_wait = 150,
                   int64_t window = 43200) {
  return throttle_rule{std::move(key), threshold, increment, max_wait, window};
}

/// A key's row as the test reads it; events -1 when there is none.
struct stored {
  int64_t events = -1;
  /// blocked_until - last_at, or 0 when not blocked.
  int64_t wait = 0;
};

struct fixture : herald::test::mysql_fixture {
  fixture() {
    db.pool_size = 4;
    start();
  }

  caf::expected<int64_t> hit(std::vector<throttle_rule> rules) {
    return ask<int64_t>(store, atom::throttle_hit_v, std::move(rules));
  }

  /// The answer of a hit that must not fail.
  int64_t hit_ok(std::vector<throttle_rule> rules) {
    auto res = hit(std::move(rules));
    REQUIRE_OK(res);
    return *res;
  }

  caf::expected<caf::ok_atom> undo(std::vector<std::string> keys) {
    return ask<caf::ok_atom>(store, atom::throttle_undo_v, std::move(keys));
  }

  caf::expected<caf::ok_atom> clear(std::vector<std::string> keys) {
    return ask<caf::ok_atom>(store, atom::throttle_clear_v, std::move(keys));
  }

  stored row(const std::string& key) {
    auto rows = admin->query(
        "SELECT events, IF(blocked_until > 0, blocked_until - last_at, 0) FROM "
            + table("throttle") + " WHERE key_hash = UNHEX(?)",
        {sha256_hex(key)},
        {storage::mysql::column::i64, storage::mysql::column::i64});
    REQUIRE_OK(rows);
    if (rows->empty())
      return {};
    return {std::get<int64_t>(rows->front()[0]),
            std::get<int64_t>(rows->front()[1])};
  }

  /// Moves every stored time `seconds` into the past: as if that time
  /// passed.
  void pass(int64_t seconds) {
    sql("UPDATE " + table("throttle")
            + " SET last_at = last_at - ?, blocked_until = IF(blocked_until > "
              "0, blocked_until - ?, 0), forget_at = forget_at - ?",
        {seconds, seconds, seconds});
  }

  uint64_t rows() {
    return number("SELECT COUNT(*) FROM " + table("throttle"));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(mysql_throttle_tests, fixture)

CAF_TEST(hits count up to the threshold and the threshold starts the wait) {
  auto r = rule("login:email:a@x.org");
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).events, 1);
  CAF_CHECK_EQUAL(row(r.key).wait, 0);
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).events, 2);
  CAF_CHECK_EQUAL(row(r.key).wait, 0);
  // The third event is counted (answer 0) and blocks the key for 60 s.
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).events, 3);
  CAF_CHECK_EQUAL(row(r.key).wait, 60);
  auto blocked = hit({r});
  REQUIRE_OK(blocked);
  CAF_CHECK_GREATER(*blocked, 0);
  CAF_CHECK_LESS_OR_EQUAL(*blocked, 60);
  // Other keys are unaffected.
  CAF_CHECK_EQUAL(hit_ok({rule("login:email:b@x.org")}), int64_t{0});
}

CAF_TEST(the wait grows by increment per event and stops at max_wait) {
  auto r = rule("login:addr:192.0.2.7", 2, 60, 150);
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).wait, 0);
  std::vector<int64_t> waits;
  for (int i = 0; i < 4; ++i) {
    CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
    waits.push_back(row(r.key).wait);
    pass(1000); // the block is over, the window is not
  }
  CAF_CHECK_EQUAL(waits, (std::vector<int64_t>{60, 120, 150, 150}));
  CAF_CHECK_EQUAL(row(r.key).events, 5);
}

CAF_TEST(a key without events for its window starts over at one) {
  auto r = rule("reset:addr:192.0.2.8", 3, 60, 150, 100);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).events, 3);
  pass(30);
  CAF_CHECK_GREATER(hit_ok({r}), 0); // blocked for 30 s more: not counted
  CAF_CHECK_EQUAL(row(r.key).events, 3);
  pass(70); // 100 s without an event: the window is over
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).events, 1);
  CAF_CHECK_EQUAL(row(r.key).wait, 0);
}

CAF_TEST(a hit while any key is blocked counts nothing on any key) {
  auto blocked = rule("login:email:c@x.org", 1, 300, 900);
  auto other = rule("login:addr:192.0.2.9");
  CAF_CHECK_EQUAL(hit_ok({blocked, other}), int64_t{0});
  CAF_CHECK_EQUAL(row(blocked.key).wait, 300);
  CAF_CHECK_EQUAL(row(other.key).events, 1);
  auto fresh = rule("login:addr:198.51.100.1");
  for (int i = 0; i < 3; ++i) {
    auto wait = hit({other, blocked, fresh});
    REQUIRE_OK(wait);
    CAF_CHECK_GREATER(*wait, 250);
    CAF_CHECK_LESS_OR_EQUAL(*wait, 300);
  }
  // Nothing counted and no row made for the key that had none.
  CAF_CHECK_EQUAL(row(blocked.key).events, 1);
  CAF_CHECK_EQUAL(row(blocked.key).wait, 300);
  CAF_CHECK_EQUAL(row(other.key).events, 1);
  CAF_CHECK_EQUAL(row(fresh.key).events, -1);
  // The longest remaining wait of several blocked keys is answered.
  pass(200);
  auto longer = rule("login:email:d@x.org", 1, 600, 900);
  CAF_CHECK_EQUAL(hit_ok({longer}), int64_t{0});
  auto wait = hit({blocked, longer});
  REQUIRE_OK(wait);
  CAF_CHECK_GREATER(*wait, 300);
  CAF_CHECK_LESS_OR_EQUAL(*wait, 600);
}

CAF_TEST(undo takes back one event and recomputes the block) {
  auto r = rule("login:addr:203.0.113.5", 2, 60, 900);
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).wait, 60);
  REQUIRE_OK(undo({r.key}));
  CAF_CHECK_EQUAL(row(r.key).events, 1);
  CAF_CHECK_EQUAL(row(r.key).wait, 0);
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0}); // no longer blocked
  CAF_CHECK_EQUAL(row(r.key).events, 2);
  CAF_CHECK_EQUAL(row(r.key).wait, 60);
  // Undo never goes below 0: the row goes at 0; unknown keys are fine;
  // a key named twice is taken back once.
  REQUIRE_OK(undo({r.key, r.key, "login:addr:never-seen"}));
  CAF_CHECK_EQUAL(row(r.key).events, 1);
  REQUIRE_OK(undo({r.key}));
  CAF_CHECK_EQUAL(row(r.key).events, -1);
  REQUIRE_OK(undo({r.key}));
  CAF_CHECK_EQUAL(row(r.key).events, -1);
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).events, 1);
}

CAF_TEST(undo keeps a block the remaining count still earns) {
  auto r = rule("login:addr:203.0.113.6", 2, 60, 900);
  for (int i = 0; i < 3; ++i) {
    CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
    pass(1000);
  }
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(row(r.key).events, 4);
  CAF_CHECK_EQUAL(row(r.key).wait, 180);
  REQUIRE_OK(undo({r.key}));
  CAF_CHECK_EQUAL(row(r.key).events, 3);
  CAF_CHECK_EQUAL(row(r.key).wait, 120);
  CAF_CHECK_GREATER(hit_ok({r}), 0);
}

CAF_TEST(clear forgets the keys) {
  auto email = rule("login:email:e@x.org", 1, 900, 900);
  auto addr = rule("login:addr:192.0.2.10", 1, 900, 900);
  auto kept = rule("login:addr:192.0.2.11", 1, 900, 900);
  CAF_CHECK_EQUAL(hit_ok({email, addr}), int64_t{0});
  CAF_CHECK_EQUAL(hit_ok({kept}), int64_t{0});
  CAF_CHECK_GREATER(hit_ok({email}), 0);
  REQUIRE_OK(clear({email.key, addr.key, "login:email:never-seen"}));
  CAF_CHECK_EQUAL(row(email.key).events, -1);
  CAF_CHECK_EQUAL(row(addr.key).events, -1);
  CAF_CHECK_EQUAL(row(kept.key).events, 1);
  CAF_CHECK_EQUAL(hit_ok({email}), int64_t{0});
  CAF_CHECK_EQUAL(row(email.key).events, 1);
}

CAF_TEST(invalid input is refused and counts nothing) {
  auto ok = rule("login:email:f@x.org");
  auto expect_invalid
      = [&](std::vector<throttle_rule> rules, const std::string& what) {
          auto res = hit(std::move(rules));
          CAF_CHECK(!res);
          if (!res) {
            CAF_CHECK_EQUAL(code_of(res.error()), ec::invalid_argument);
            CAF_CHECK(render(res.error()).find(what) != std::string::npos);
          }
        };
  expect_invalid({}, "no rules");
  expect_invalid({ok, rule("")}, "empty key");
  expect_invalid({ok, rule("x", 0)}, "threshold 0");
  expect_invalid({ok, rule("x", 3, -1)}, "negative time");
  expect_invalid({ok, rule("x", 3, 60, -1)}, "negative time");
  expect_invalid({ok, rule("x", 3, 60, 900, -1)}, "negative time");
  expect_invalid({ok, ok}, "named twice");
  std::vector<throttle_rule> nine;
  for (int i = 0; i < 9; ++i)
    nine.push_back(rule("k" + std::to_string(i)));
  expect_invalid(nine, "more than 8");
  nine.pop_back();
  CAF_CHECK_EQUAL(hit_ok(nine), int64_t{0});
  CAF_CHECK_EQUAL(rows(), 8u);
  for (auto res : {undo({}), undo({"a", ""}), clear({}), clear({""}),
                   undo(std::vector<std::string>(9, "a"))}) {
    CAF_CHECK(!res);
    if (!res)
      CAF_CHECK_EQUAL(code_of(res.error()), ec::invalid_argument);
  }
  CAF_CHECK_EQUAL(row(ok.key).events, -1);
  CAF_CHECK_EQUAL(rows(), 8u);
}

CAF_TEST(storage keeps only the SHA - 256 of a key) {
  auto r = rule("login:email:secret-person@x.org");
  CAF_CHECK_EQUAL(hit_ok({r}), int64_t{0});
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("throttle")
                             + " WHERE key_hash = UNHEX(?) AND "
                               "LENGTH(key_hash) = 32",
                         {sha256_hex(r.key)}),
                  1u);
  auto text_columns = number(
      "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? "
      "AND TABLE_NAME = 'throttle' AND DATA_TYPE NOT IN ('binary', 'int', "
      "'bigint')",
      {db.database});
  CAF_CHECK_EQUAL(text_columns, 0u);
}

CAF_TEST(hits prune rows that no longer matter and keep blocks) {
  auto stale = rule("login:addr:stale", 1, 60, 60, 100);
  auto blocked = rule("login:addr:blocked", 1, 900, 900, 100);
  auto recent = rule("login:addr:recent", 5, 60, 60, 100);
  CAF_CHECK_EQUAL(hit_ok({stale}), int64_t{0});
  CAF_CHECK_EQUAL(hit_ok({blocked}), int64_t{0});
  CAF_CHECK_EQUAL(hit_ok({recent}), int64_t{0});
  pass(150); // stale: window and block over; blocked: 750 s left
  CAF_CHECK_EQUAL(hit_ok({recent}), int64_t{0});
  CAF_CHECK_EQUAL(row(stale.key).events, -1);
  CAF_CHECK_EQUAL(row(blocked.key).events, 1);
  CAF_CHECK_GREATER(hit_ok({blocked}), 700);
  CAF_CHECK_EQUAL(row(recent.key).events, 1); // its window was over too
}

CAF_TEST(concurrent hits on separate connections count exactly) {
  constexpr int threads = 4;
  constexpr int per_thread = 50;
  auto a = rule("login:addr:race-a", 1000);
  auto b = rule("login:email:race-b", 1000);
  // A key that blocks after 10 events: exactly 10 hits get through.
  auto c = rule("login:email:race-c", 10, 600, 900);
  std::atomic<int> failures{0};
  std::atomic<int> passed_c{0};
  std::atomic<int> throttled_c{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      storage::mysql::thread_init();
      {
        auto conn = storage::mysql::connection::open(db);
        if (!conn) {
          failures += per_thread;
        } else {
          for (int i = 0; i < per_thread; ++i) {
            // Half the threads name the keys in the other order.
            auto rules = t % 2 == 0 ? std::vector<throttle_rule>{a, b}
                                    : std::vector<throttle_rule>{b, a};
            auto res = storage::throttle_hit(**conn, rules);
            if (!res || *res != 0)
              ++failures;
            auto res_c = storage::throttle_hit(**conn, {c});
            if (!res_c)
              ++failures;
            else if (*res_c == 0)
              ++passed_c;
            else
              ++throttled_c;
          }
        }
      }
      storage::mysql::thread_end();
    });
  for (auto& th : pool)
    th.join();
  CAF_CHECK_EQUAL(failures.load(), 0);
  CAF_CHECK_EQUAL(row(a.key).events, threads * per_thread);
  CAF_CHECK_EQUAL(row(b.key).events, threads * per_thread);
  CAF_CHECK_EQUAL(passed_c.load(), 10);
  CAF_CHECK_EQUAL(throttled_c.load(), threads * per_thread - 10);
  CAF_CHECK_EQUAL(row(c.key).events, 10);
  CAF_CHECK_EQUAL(row(c.key).wait, 600);
}

CAF_TEST(concurrent hits through the storage pool count exactly) {
  auto r = rule("login:addr:pool-race", 1000);
  using handle
      = decltype(self->request(store, reply_timeout, atom::throttle_hit_v,
                               std::vector<throttle_rule>{}));
  std::vector<handle> pending;
  for (int i = 0; i < 200; ++i)
    pending.push_back(self->request(store, reply_timeout, atom::throttle_hit_v,
                                    std::vector<throttle_rule>{r}));
  int ok = 0;
  for (auto& rh : pending)
    rh.receive(
        [&](int64_t wait) { ok += wait == 0 ? 1 : 0; },
        [&](caf::error& err) { CAF_FAIL("hit failed: " << render(err)); });
  CAF_CHECK_EQUAL(ok, 200);
  CAF_CHECK_EQUAL(row(r.key).events, 200);
}

CAF_TEST_FIXTURE_SCOPE_END()
