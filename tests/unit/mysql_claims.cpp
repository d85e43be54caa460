#define CAF_SUITE mysql_claims

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "storage/outbox.hpp"
#include "tests/unit/mysql_fixture.hpp"

// Work that must happen once when several nodes share one MariaDB: outbox
// rows claimed by relays (SKIP LOCKED, leases, order per key) and a
// handler's claim of an event before it works on it. Each relay or mailer is
// a connection of its own on a thread of its own, as on separate nodes.

using namespace herald;
using herald::storage::claim_events;
using herald::storage::event_claim;
using herald::storage::mysql::connection;

namespace {

struct fixture : herald::test::mysql_fixture {
  fixture() { start(); }

  std::unique_ptr<connection> open() {
    auto c = connection::open(db);
    if (!c)
      CAF_FAIL("cannot connect: " << render(c.error()));
    return std::move(*c);
  }

  /// Writes `per_key` rows for each of `keys` keys, interleaved (key 0, 1,
  /// ..., then key 0 again): answers seq -> key.
  std::map<uint64_t, std::string> write_rows(int keys, int per_key) {
    std::map<uint64_t, std::string> out;
    for (int n = 0; n < per_key; ++n)
      for (int k = 0; k < keys; ++k) {
        auto key = "user:" + std::to_string(k + 1);
        sql("INSERT INTO " + table("outbox")
              + " (event_id, topic, event_key, source, data, created_at_ms) "
                "VALUES (UUID(), 'user.updated', ?, 'test-node', '{}', 0)",
            {key});
        out[number("SELECT MAX(seq) FROM " + table("outbox"))] = key;
      }
    return out;
  }

  static std::vector<uint64_t> seqs(const storage::outbox_claim& c) {
    std::vector<uint64_t> out;
    for (auto& ev : c.claimed)
      out.push_back(ev.seq);
    return out;
  }
};

using seq_list = std::vector<uint64_t>;

#define REQUIRE_NONE(expr)                                                     \
  do {                                                                         \
    if (auto err_ = (expr))                                                    \
      CAF_FAIL(#expr " failed: " << herald::render(err_));                     \
  } while (false)

/// Lets `n` threads wait for each other, then go at once.
struct barrier {
  std::mutex mx;
  std::condition_variable cv;
  size_t waiting = 0;
  size_t round = 0;
  size_t n;
  explicit barrier(size_t n) : n(n) {}
  void wait() {
    std::unique_lock<std::mutex> guard{mx};
    auto my_round = round;
    if (++waiting == n) {
      waiting = 0;
      ++round;
      cv.notify_all();
      return;
    }
    cv.wait(guard, [&] { return round != my_round; });
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(mysql_claims_tests, fixture)

// -- outbox -------------------------------------------------------------------

CAF_TEST(concurrent relays never get one row twice and keep order per key) {
  auto rows = write_rows(40, 8); // 320 rows, 8 per key
  constexpr int relays = 4;
  std::mutex mx;
  std::map<uint64_t, int> claimed_by;   // seq -> relay
  std::map<uint64_t, uint64_t> done_at; // seq -> delivery number
  std::vector<std::string> errors;
  std::atomic<uint64_t> clock{0};
  std::atomic<size_t> left{rows.size()};
  std::vector<std::thread> threads;
  for (int r = 0; r < relays; ++r)
    threads.emplace_back([&, r] {
      storage::mysql::thread_init();
      {
        auto conn = connection::open(db);
        if (!conn) {
          std::lock_guard<std::mutex> guard{mx};
          errors.push_back(render(conn.error()));
          storage::mysql::thread_end();
          return;
        }
        auto owner = "relay-" + std::to_string(r);
        auto deadline = std::chrono::steady_clock::now()
                        + std::chrono::seconds{60};
        while (left > 0 && std::chrono::steady_clock::now() < deadline) {
          auto c = claim_events(**conn, owner, 7, 60000);
          if (!c) {
            std::lock_guard<std::mutex> guard{mx};
            errors.push_back(render(c.error()));
            break;
          }
          {
            std::lock_guard<std::mutex> guard{mx};
            for (auto& ev : c->claimed)
              if (!claimed_by.emplace(ev.seq, r).second)
                errors.push_back("row " + std::to_string(ev.seq)
                                 + " claimed twice");
          }
          // Delivered one by one in seq order, as the relay does per key.
          for (auto& ev : c->claimed) {
            {
              std::lock_guard<std::mutex> guard{mx};
              done_at[ev.seq] = ++clock;
            }
            if (auto err = storage::delete_events(**conn, {ev.seq})) {
              std::lock_guard<std::mutex> guard{mx};
              errors.push_back(render(err));
            }
            --left;
          }
          if (c->claimed.empty())
            std::this_thread::sleep_for(std::chrono::milliseconds{2});
        }
      }
      storage::mysql::thread_end();
    });
  for (auto& t : threads)
    t.join();
  for (auto& e : errors)
    CAF_ERROR(e);
  CAF_CHECK_EQUAL(left.load(), 0u);
  CAF_CHECK_EQUAL(claimed_by.size(), rows.size());
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("outbox")), 0u);
  // Every relay got some work, and per key the rows went in seq order even
  // when relays took turns on a key.
  std::set<int> workers;
  for (auto& [seq, r] : claimed_by)
    workers.insert(r);
  CAF_CHECK_GREATER(workers.size(), 1u);
  std::map<std::string, uint64_t> last;
  size_t out_of_order = 0;
  for (auto& [seq, key] : rows) {
    auto at = done_at[seq];
    if (at < last[key])
      ++out_of_order;
    last[key] = at;
  }
  CAF_CHECK_EQUAL(out_of_order, 0u);
}

CAF_TEST(a lease that runs out hands the rows to another relay) {
  write_rows(3, 2);
  auto a = open();
  auto b = open();
  // The checks below are a renewal interval (1 s) apart: without the
  // renewal the lease would run out between them, with it a loaded machine
  // has 500 ms of slack.
  constexpr int64_t lease_ms = 1500;
  auto by_a = claim_events(*a, "relay-a", 100, lease_ms);
  REQUIRE_OK(by_a);
  CAF_CHECK_EQUAL(by_a->claimed.size(), 6u);
  CAF_CHECK_EQUAL(by_a->held.size(), 6u);
  // Held by a live lease: nothing for b.
  auto by_b = claim_events(*b, "relay-b", 100, lease_ms);
  REQUIRE_OK(by_b);
  CAF_CHECK(by_b->claimed.empty());
  CAF_CHECK(by_b->held.empty());
  // a renews (a claim of no rows) and keeps them past the first lease.
  std::this_thread::sleep_for(std::chrono::milliseconds{1000});
  REQUIRE_OK(claim_events(*a, "relay-a", 0, lease_ms));
  std::this_thread::sleep_for(std::chrono::milliseconds{1000});
  by_b = claim_events(*b, "relay-b", 100, lease_ms);
  REQUIRE_OK(by_b);
  CAF_CHECK(by_b->claimed.empty());
  // a stops renewing (it died): after the lease b takes everything. (The
  // lease runs on the server's clock: real time has to pass.)
  std::this_thread::sleep_for(std::chrono::milliseconds{lease_ms + 200});
  by_b = claim_events(*b, "relay-b", 100, 60000);
  REQUIRE_OK(by_b);
  CAF_CHECK_EQUAL(by_b->claimed.size(), 6u);
  CAF_CHECK_EQUAL(by_b->held, seqs(*by_b));
  // a comes back: it holds nothing any more, and learns so.
  by_a = claim_events(*a, "relay-a", 100, 60000);
  REQUIRE_OK(by_a);
  CAF_CHECK(by_a->claimed.empty());
  CAF_CHECK(by_a->held.empty());
  // Released at b's orderly stop: free for a at once.
  REQUIRE_OK(ask<caf::ok_atom>(store, atom::outbox_release_v,
                               std::string{"relay-b"}));
  by_a = claim_events(*a, "relay-a", 100, 60000);
  REQUIRE_OK(by_a);
  CAF_CHECK_EQUAL(by_a->claimed.size(), 6u);
}

CAF_TEST(order per key holds across two relays) {
  // seq 1: k1, 2: k2, 3: k1, 4: k2
  auto rows = write_rows(2, 2);
  auto s = seq_list{};
  for (auto& [seq, key] : rows)
    s.push_back(seq);
  auto a = open();
  auto b = open();
  auto by_a = claim_events(*a, "relay-a", 1, 60000);
  REQUIRE_OK(by_a);
  CAF_CHECK_EQUAL(seqs(*by_a), (seq_list{s[0]}));
  // b may not take k1's second row while a holds its first.
  auto by_b = claim_events(*b, "relay-b", 10, 60000);
  REQUIRE_OK(by_b);
  CAF_CHECK_EQUAL(seqs(*by_b), (seq_list{s[1], s[3]}));
  // a may: it holds the row before.
  by_a = claim_events(*a, "relay-a", 10, 60000);
  REQUIRE_OK(by_a);
  CAF_CHECK_EQUAL(seqs(*by_a), (seq_list{s[2]}));
  CAF_CHECK_EQUAL(by_a->held, (seq_list{s[0], s[2]}));
}

CAF_TEST(a row another relay is claiming right now holds back its key) {
  auto rows = write_rows(2, 2); // seq 1: k1, 2: k2, 3: k1, 4: k2
  auto s = seq_list{};
  for (auto& [seq, key] : rows)
    s.push_back(seq);
  // A claim under way elsewhere has the first row locked, not yet marked.
  auto other = open();
  REQUIRE_OK(other->execute("SET SESSION innodb_lock_wait_timeout = 5"));
  REQUIRE_NONE(other->begin());
  REQUIRE_OK(other->query("SELECT seq FROM outbox WHERE seq = ? FOR UPDATE",
                          {s[0]}, {storage::mysql::column::u64}));
  auto b = open();
  auto by_b = claim_events(*b, "relay-b", 10, 60000);
  REQUIRE_OK(by_b);
  // Row 1 skipped (locked), so k1's row 3 waits; k2 is free.
  CAF_CHECK_EQUAL(seqs(*by_b), (seq_list{s[1], s[3]}));
  REQUIRE_NONE(other->rollback());
  by_b = claim_events(*b, "relay-b", 10, 60000);
  REQUIRE_OK(by_b);
  CAF_CHECK_EQUAL(seqs(*by_b), (seq_list{s[0], s[2]}));
}

CAF_TEST(a dead row lets the rest of its key go to any relay) {
  auto rows = write_rows(1, 2);
  auto first = rows.begin()->first;
  auto second = std::next(rows.begin())->first;
  auto a = open();
  auto b = open();
  REQUIRE_OK(claim_events(*a, "relay-a", 1, 60000));
  REQUIRE_NONE(storage::record_failure(*a, first, "broken", true));
  auto by_b = claim_events(*b, "relay-b", 10, 60000);
  REQUIRE_OK(by_b);
  CAF_CHECK_EQUAL(seqs(*by_b), (seq_list{second}));
}

CAF_TEST(the storage actor answers claims and refuses bad ones) {
  write_rows(2, 1);
  auto res = self->request(store, test::reply_timeout, atom::outbox_claim_v,
                           std::string{"relay-x"}, uint32_t{10},
                           int64_t{60000});
  size_t claimed = 0;
  size_t held = 0;
  res.receive(
      [&](std::vector<event>& rows, std::vector<uint64_t>& seqs) {
        claimed = rows.size();
        held = seqs.size();
      },
      [&](caf::error& err) { CAF_FAIL("claim failed: " << render(err)); });
  CAF_CHECK_EQUAL(claimed, 2u);
  CAF_CHECK_EQUAL(held, 2u);
  self
      ->request(store, test::reply_timeout, atom::outbox_claim_v,
                std::string{}, uint32_t{10}, int64_t{60000})
      .receive(
          [&](std::vector<event>&, std::vector<uint64_t>&) {
            CAF_FAIL("a claim without owner was answered");
          },
          [&](caf::error& err) {
            CAF_CHECK_EQUAL(test::code_of(err), ec::invalid_argument);
          });
}

// -- event claims ---------------------------------------------------------------

CAF_TEST(of several mailers claiming one event at once exactly one gets it) {
  constexpr size_t mailers = 6;
  constexpr int events = 30;
  barrier start_line{mailers};
  std::mutex mx;
  std::map<int, std::vector<event_claim>> outcomes;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (size_t m = 0; m < mailers; ++m)
    threads.emplace_back([&, m] {
      storage::mysql::thread_init();
      {
        auto conn = connection::open(db);
        for (int e = 0; e < events; ++e) {
          start_line.wait();
          if (!conn)
            continue;
          auto res = storage::claim_event(**conn, "mailer",
                                          "event-" + std::to_string(e),
                                          "mailer-" + std::to_string(m),
                                          60000);
          std::lock_guard<std::mutex> guard{mx};
          if (res)
            outcomes[e].push_back(*res);
          else
            errors.push_back(render(res.error()));
        }
      }
      storage::mysql::thread_end();
    });
  for (auto& t : threads)
    t.join();
  for (auto& e : errors)
    CAF_ERROR(e);
  for (int e = 0; e < events; ++e) {
    auto& got = outcomes[e];
    CAF_CHECK_EQUAL(got.size(), mailers);
    CAF_CHECK_EQUAL(std::count(got.begin(), got.end(), event_claim::claimed),
                    1);
    CAF_CHECK_EQUAL(std::count(got.begin(), got.end(), event_claim::held),
                    static_cast<long>(mailers - 1));
  }
}

CAF_TEST(a claim is taken over after the timeout and a finished event stays) {
  auto a = open();
  auto b = open();
  using storage::claim_event;
  auto by_a = claim_event(*a, "mailer", "e1", "mailer-a", 60000);
  REQUIRE_OK(by_a);
  CAF_CHECK(*by_a == event_claim::claimed);
  // Claiming again is the owner's retry: still its own.
  by_a = claim_event(*a, "mailer", "e1", "mailer-a", 60000);
  REQUIRE_OK(by_a);
  CAF_CHECK(*by_a == event_claim::claimed);
  auto by_b = claim_event(*b, "mailer", "e1", "mailer-b", 300);
  REQUIRE_OK(by_b);
  CAF_CHECK(*by_b == event_claim::held);
  // An unfinished claim is not a processed event.
  auto done = storage::is_processed(*b, "mailer", "e1");
  REQUIRE_OK(done);
  CAF_CHECK(!*done);
  // a died: after b's timeout b takes over, and a (back) is refused.
  std::this_thread::sleep_for(std::chrono::milliseconds{400});
  by_b = claim_event(*b, "mailer", "e1", "mailer-b", 300);
  REQUIRE_OK(by_b);
  CAF_CHECK(*by_b == event_claim::claimed);
  by_a = claim_event(*a, "mailer", "e1", "mailer-a", 60000);
  REQUIRE_OK(by_a);
  CAF_CHECK(*by_a == event_claim::held);
  // a's release does not touch b's claim.
  REQUIRE_NONE(storage::release_event(*a, "mailer", "e1", "mailer-a"));
  by_a = claim_event(*a, "mailer", "e1", "mailer-a", 60000);
  REQUIRE_OK(by_a);
  CAF_CHECK(*by_a == event_claim::held);
  // b finishes: the event is processed, nobody claims it again.
  REQUIRE_NONE(storage::mark_processed(*b, "mailer", "e1"));
  done = storage::is_processed(*a, "mailer", "e1");
  REQUIRE_OK(done);
  CAF_CHECK(*done);
  std::this_thread::sleep_for(std::chrono::milliseconds{400});
  by_a = claim_event(*a, "mailer", "e1", "mailer-a", 300);
  REQUIRE_OK(by_a);
  CAF_CHECK(*by_a == event_claim::done);
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("processed_events")
                         + " WHERE claimed_by IS NULL"),
                  1u);
}

CAF_TEST(a released claim lets the retry claim the event anew) {
  auto a = open();
  auto b = open();
  REQUIRE_OK(storage::claim_event(*a, "mailer", "e2", "mailer-a", 60000));
  // The send failed: a releases, and any mailer may claim at once.
  REQUIRE_NONE(storage::release_event(*a, "mailer", "e2", "mailer-a"));
  auto by_b = storage::claim_event(*b, "mailer", "e2", "mailer-b", 60000);
  REQUIRE_OK(by_b);
  CAF_CHECK(*by_b == event_claim::claimed);
}

CAF_TEST(the storage actor answers a held claim with deferred) {
  auto claim = [&](const char* owner) {
    return ask<bool>(store, atom::event_claim_v, std::string{"mailer"},
                     std::string{"e3"}, std::string{owner}, int64_t{60000});
  };
  auto first = claim("mailer-a");
  REQUIRE_OK(first);
  CAF_CHECK(*first);
  auto second = claim("mailer-b");
  CAF_REQUIRE(!second);
  CAF_CHECK_EQUAL(test::code_of(second.error()), ec::deferred);
  REQUIRE_OK(ask<caf::ok_atom>(store, atom::mark_processed_v,
                               std::string{"mailer"}, std::string{"e3"}));
  auto third = claim("mailer-b");
  REQUIRE_OK(third);
  CAF_CHECK(!*third);
  auto processed = ask<bool>(store, atom::processed_v, std::string{"mailer"},
                             std::string{"e3"});
  REQUIRE_OK(processed);
  CAF_CHECK(*processed);
}

CAF_TEST_FIXTURE_SCOPE_END()
