#define CAF_SUITE outbox_relay

#include "actors/outbox_relay.hpp"

#include <algorithm>

#include "actors/event_bus.hpp"
#include "tests/support/fake_storage.hpp"
#include "tests/support/recording_handler.hpp"
#include "tests/test.hpp"

using namespace herald;
using namespace std::chrono_literals;
using herald::test::handler_log;

namespace {

struct fixture : herald::test::fixture {
  std::shared_ptr<herald::test::fake_store> store
      = std::make_shared<herald::test::fake_store>();
  storage_actor storage = sys.spawn(herald::test::fake_storage, store);
  event_bus_actor bus = sys.spawn(event_bus, std::chrono::seconds(5));
  std::shared_ptr<handler_log> log = std::make_shared<handler_log>();
  event_handler_actor handler = sys.spawn(herald::test::recording_handler, log);
  outbox_settings settings;
  outbox_relay_actor relay;

  fixture() {
    settings.poll_interval = 100ms;
    settings.batch = 10;
    settings.max_attempts = 3;
    settings.backoff_min = 1s;
    settings.backoff_max = 4s;
    for (auto topic : {topic_user_created, topic_user_updated})
      CAF_REQUIRE(call<caf::ok_atom>(bus, atom::subscribe_v, std::string{topic},
                                     handler));
  }

  /// An event handler that keeps every answer until it gets `ok`.
  static caf::behavior holding_handler(caf::event_based_actor* self) {
    auto held = std::make_shared<
        std::vector<caf::typed_response_promise<caf::ok_atom>>>();
    return {
        [self, held](atom::handle, event&) -> caf::result<caf::ok_atom> {
          held->push_back(self->make_response_promise<caf::ok_atom>());
          return held->back();
        },
        [held](caf::ok_atom) {
          for (auto& rp : *held)
            rp.deliver(caf::ok_atom_v);
          held->clear();
        },
    };
  }

  ~fixture() override {
    if (relay)
      caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// Writes an event as storage does when a user is created or renamed.
  std::string add(uint64_t user, const char* topic) {
    if (topic == std::string{topic_user_created}) {
      new_account acc{"n", "u" + std::to_string(user) + "@example.org",
                      role_user, "h"};
      auto res = ask<account>(storage, atom::create_v, ctx, acc);
      CAF_REQUIRE(res);
      CAF_REQUIRE_EQUAL(res->profile.id, user);
    } else {
      account_patch p;
      p.set_name = true;
      p.name = "renamed";
      CAF_REQUIRE(ask<account>(storage, atom::update_v, ctx, user, p));
    }
    return store->outbox.rbegin()->second.id;
  }

  void start() {
    relay = sys.spawn(outbox_relay, settings, storage, bus);
    sched.run();
  }

  /// Lets `d` of test time pass, firing the relay's timers on the way.
  void pass(caf::timespan d) {
    for (auto t = caf::timespan{0}; t < d; t += settings.poll_interval) {
      advance_time(settings.poll_interval);
      sched.run();
    }
  }

  std::vector<std::string> seen_ids() {
    std::vector<std::string> ids;
    for (auto& ev : log->seen)
      ids.push_back(ev.id);
    return ids;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(outbox_relay_tests, fixture)

CAF_TEST(pending events are delivered in order and then purged) {
  auto e1 = add(1, topic_user_created);
  auto e2 = add(2, topic_user_created);
  auto e3 = add(1, topic_user_updated);
  start();
  pass(200ms);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{e1, e2, e3}));
  CAF_CHECK(store->outbox.empty());
  auto st = ask<outbox_status>(relay, atom::outbox_v, atom::status_v);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->pending, 0u);
  CAF_CHECK_EQUAL(st->delivered, 3u);
}

CAF_TEST(an orderly stop deletes the delivered rows before the relay goes) {
  auto e1 = add(1, topic_user_created);
  auto e2 = add(2, topic_user_created);
  start();
  // Delivered, but not yet deleted: that happens at the next tick.
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{e1, e2}));
  CAF_CHECK_EQUAL(store->outbox.size(), 2u);
  self->send_exit(relay, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(store->outbox.empty());
  relay = nullptr;
}

CAF_TEST(events written later are picked up by the next poll or a wake) {
  start();
  auto e1 = add(1, topic_user_created);
  pass(100ms);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{e1}));
  auto e2 = add(2, topic_user_created);
  self->send(relay, atom::wake_v);
  sched.run();
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{e1, e2}));
}

CAF_TEST(at most a batch is with the bus and the next one is read ahead) {
  // 25 users: 25 keys, all ready at once. Batch 10.
  std::vector<std::string> ids;
  for (uint64_t user = 1; user <= 25; ++user)
    ids.push_back(add(user, topic_user_created));
  log->silent = true;
  start();
  // The oldest ten with the handler, none answered; the next ten read, not
  // sent.
  auto seen = seen_ids();
  std::sort(seen.begin(), seen.end());
  CAF_CHECK_EQUAL(seen,
                  std::vector<std::string>(ids.begin(), ids.begin() + 10));
  // Polls read the next batch, but the bus gets no more meanwhile.
  pass(300ms);
  CAF_CHECK_EQUAL(log->seen.size(), 10u);
  // After the bus timed them out (5 s), the oldest ten go again first.
  log->silent = false;
  pass(7s);
  CAF_CHECK(store->outbox.empty());
  auto st = ask<outbox_status>(relay, atom::outbox_v, atom::status_v);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->delivered, 25u);
}

CAF_TEST(a failing event is retried with backoff and holds back its key only) {
  auto a1 = add(1, topic_user_created);
  auto b1 = add(2, topic_user_created);
  auto a2 = add(1, topic_user_updated);
  log->fail_ids.insert(a1);
  start();
  // a1 failed once; b1 went through; a2 waits behind a1.
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{a1, b1}));
  CAF_CHECK_EQUAL(store->outbox.size(), 3u);
  pass(100ms); // flush b1
  CAF_CHECK_EQUAL(store->outbox.size(), 2u);
  CAF_CHECK_EQUAL(store->outbox.begin()->second.attempts, 1u);
  CAF_CHECK(store->last_error.find("refusing " + a1) != std::string::npos);
  pass(800ms); // not yet due (backoff 1s)
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  log->fail_ids.clear();
  pass(200ms);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{a1, b1, a1, a2}));
  pass(100ms);
  CAF_CHECK(store->outbox.empty());
}

CAF_TEST(after max_attempts a row is dead and its key moves on) {
  auto a1 = add(1, topic_user_created);
  auto a2 = add(1, topic_user_updated);
  log->fail_ids.insert(a1);
  start();
  pass(10s); // attempts at 0s, 1s, 3s
  auto ids = seen_ids();
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), a1), 3);
  CAF_REQUIRE(!ids.empty());
  CAF_CHECK_EQUAL(ids.back(), a2);
  auto st = ask<outbox_status>(relay, atom::outbox_v, atom::status_v);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->dead, 1u);
  CAF_CHECK_EQUAL(st->pending, 0u);
  CAF_CHECK(st->last_error.find(a1) != std::string::npos);
  // The status names the dead row and why.
  CAF_REQUIRE_EQUAL(st->dead_events.size(), 1u);
  CAF_CHECK_EQUAL(st->dead_events[0].id, a1);
  CAF_CHECK_EQUAL(st->dead_events[0].topic, topic_user_created);
  CAF_CHECK_EQUAL(st->dead_events[0].attempts, 3u);
  CAF_CHECK(st->dead_events[0].error.find("refusing " + a1)
            != std::string::npos);
}

CAF_TEST(a row given up on is not delivered again before storage marked it) {
  auto a1 = add(1, topic_user_created);
  log->fail_ids.insert(a1);
  start();
  pass(2s); // attempts at 0s and 1s
  store->hold_failures = true;
  pass(2s); // the third attempt: dead, but storage has not marked it yet
  auto ids = seen_ids();
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), a1), 3);
  CAF_REQUIRE_EQUAL(store->held_failures.size(), 1u);
  pass(1s); // polls read the row, still pending in storage
  ids = seen_ids();
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), a1), 3);
  store->hold_failures = false; // the next read records and answers it
  pass(2s);
  CAF_CHECK(store->held_failures.empty());
  ids = seen_ids();
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), a1), 3);
  CAF_CHECK_EQUAL(store->dead.size(), 1u);
}

CAF_TEST(a new relay delivers what an old one did not get rid of) {
  auto e1 = add(1, topic_user_created);
  log->silent = true; // the bus never gets an answer: nothing is done
  start();
  CAF_CHECK_EQUAL(log->seen.size(), 1u);
  caf::anon_send_exit(relay, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(store->outbox.size(), 1u);
  log->silent = false;
  // The dead relay's claim holds until its lease ran out.
  start();
  pass(300ms);
  CAF_CHECK_EQUAL(log->seen.size(), 1u);
  store->now += 31;
  pass(200ms);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{e1, e1}));
  CAF_CHECK(store->outbox.empty());
}

CAF_TEST(storage outages are survived) {
  store->down = true;
  start();
  pass(300ms);
  auto st = ask<outbox_status>(relay, atom::outbox_v, atom::status_v);
  CAF_REQUIRE(!st);
  CAF_CHECK_EQUAL(test::code_of(st.error()), ec::unavailable);
  store->down = false;
  auto e1 = add(1, topic_user_created);
  pass(100ms);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{e1}));
}

CAF_TEST(an outage pauses every key and one event probes for its end) {
  auto a = add(1, topic_user_created);
  auto b = add(2, topic_user_created);
  auto c = add(3, topic_user_created);
  log->fail_with = caf::make_error(ec::unavailable, std::string{"smtp down"});
  settings.max_attempts = 10;
  start();
  CAF_CHECK_EQUAL(log->seen.size(), 3u); // all three were on their way
  pass(1s);
  CAF_CHECK_EQUAL(log->seen.size(), 4u); // one probe after the pause
  pass(1s);
  CAF_CHECK_EQUAL(log->seen.size(), 4u); // the pause doubled
  pass(1s);
  CAF_CHECK_EQUAL(log->seen.size(), 5u);
  log->fail_with = caf::error{};
  pass(4s);
  auto ids = seen_ids();
  for (auto& id : {a, b, c})
    CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), id) >= 2, true);
  pass(100ms);
  CAF_CHECK(store->outbox.empty());
}

CAF_TEST(an outage costs no attempt however long it lasts) {
  auto a = add(1, topic_user_created);
  auto b = add(2, topic_user_created);
  log->fail_with = caf::make_error(ec::unavailable, std::string{"smtp down"});
  start();
  pass(60s); // far more probes than max_attempts (3)
  CAF_CHECK_GREATER(log->seen.size(), 6u);
  CAF_CHECK(store->dead.empty());
  for (auto& [seq, ev] : store->outbox)
    CAF_CHECK_EQUAL(ev.attempts, 0u);
  auto st = ask<outbox_status>(relay, atom::outbox_v, atom::status_v);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->pending, 2u);
  CAF_CHECK_EQUAL(st->dead, 0u);
  CAF_CHECK(st->last_error.find("smtp down") != std::string::npos);
  // Over: both go out, and the status no longer shows the error.
  log->fail_with = caf::error{};
  log->seen.clear();
  pass(5s);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{a, b}));
  CAF_CHECK(store->outbox.empty());
  st = ask<outbox_status>(relay, atom::outbox_v, atom::status_v);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->pending, 0u);
  CAF_CHECK_EQUAL(st->last_error, "");
}

CAF_TEST(probes take turns so one event failing unavailable holds back no other) {
  auto a = add(1, topic_user_created);
  auto b = add(2, topic_user_created);
  auto c = add(3, topic_user_created);
  // `a` alone fails as if something were down, for good.
  log->fail_with = caf::make_error(ec::unavailable, std::string{"down"});
  start();
  log->fail_with = caf::error{};
  log->fail_ids.clear();
  // From now on only `a` fails (as an outage).
  log->unavailable_ids.insert(a);
  pass(20s);
  auto ids = seen_ids();
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), b), 2);
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), c), 2);
  CAF_CHECK_EQUAL(store->outbox.size(), 1u); // only `a` is left
  CAF_CHECK(store->dead.empty());
}

CAF_TEST(a deferred event waits on its own key without counting attempts) {
  auto a1 = add(1, topic_user_created);
  auto a2 = add(1, topic_user_updated);
  log->defer_ids.insert(a1);
  start();
  auto b1 = add(2, topic_user_created);
  pass(30s); // a1 deferred again and again; b1 is not held up
  auto ids = seen_ids();
  CAF_CHECK_GREATER(std::count(ids.begin(), ids.end(), a1), 3);
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), a2), 0);
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), b1), 1);
  CAF_CHECK(store->dead.empty());
  CAF_CHECK_EQUAL(store->outbox.size(), 2u);
  for (auto& [seq, ev] : store->outbox)
    CAF_CHECK_EQUAL(ev.attempts, 0u);
  // The queue has room again: a1 and then a2 go out, in order.
  log->defer_ids.clear();
  log->seen.clear();
  pass(5s);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{a1, a2}));
  CAF_CHECK(store->outbox.empty());
}

CAF_TEST(a row that commits below one already read is still delivered) {
  add(1, topic_user_created);
  auto e2 = add(2, topic_user_created);
  // Make room below: move e2 up so seq 2 is free, as if its transaction had
  // not committed yet when the relay read the outbox.
  auto row = store->outbox.at(2);
  store->outbox.erase(2);
  row.seq = 5;
  store->outbox[5] = row;
  start();
  pass(100ms);
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  auto late = row;
  late.seq = 2;
  late.id = "late-commit";
  late.key = "user:9";
  store->outbox[2] = late;
  pass(300ms);
  auto ids = seen_ids();
  CAF_CHECK(std::count(ids.begin(), ids.end(), "late-commit") == 1);
  CAF_CHECK(std::count(ids.begin(), ids.end(), e2) == 1);
  pass(100ms);
  CAF_CHECK(store->outbox.empty());
}

CAF_TEST(rows another relay holds wait for its lease and hold back their key) {
  auto a1 = add(1, topic_user_created);
  auto a2 = add(1, topic_user_updated);
  auto b1 = add(2, topic_user_created);
  // Another relay holds a1 (seq 1) for 30 s more.
  store->claims[1] = {"other-relay", store->now * 1000 + 30000};
  start();
  pass(300ms);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{b1}));
  // The other relay died: its lease runs out, this one takes the key.
  store->now += 31;
  pass(300ms);
  CAF_CHECK_EQUAL(seen_ids(), (std::vector<std::string>{b1, a1, a2}));
  CAF_CHECK(store->outbox.empty());
}

CAF_TEST(every poll renews the claims even with no room for more rows) {
  settings.batch = 2;
  for (uint64_t user = 1; user <= 6; ++user)
    add(user, topic_user_created);
  log->silent = true;
  start();
  store->claim_limits.clear();
  pass(300ms);
  CAF_REQUIRE(!store->claim_limits.empty());
  // More than a batch in hand: claims of no rows, which renew the leases.
  CAF_CHECK_EQUAL(store->claim_limits.back(), 0u);
  for (auto& [seq, claim] : store->claims)
    CAF_CHECK_EQUAL(claim.second, store->now * 1000 + 30000);
}

CAF_TEST(a row taken over by another relay is dropped and not delivered twice) {
  auto a1 = add(1, topic_user_created);
  auto b1 = add(2, topic_user_created);
  log->fail_ids.insert(a1);
  start();
  // a1 failed once and waits for its retry (1 s); meanwhile this relay
  // missed renewing it and another relay took it over.
  store->claims[1] = {"other-relay", store->now * 1000 + 30000};
  pass(3s);
  auto ids = seen_ids();
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), a1), 1);
  CAF_CHECK_EQUAL(std::count(ids.begin(), ids.end(), b1), 1);
  CAF_CHECK_EQUAL(store->outbox.count(1), 1u);
  CAF_CHECK_EQUAL(store->claims.at(1).first, "other-relay");
}

CAF_TEST(an orderly stop waits for the events with the bus then releases) {
  // A second subscriber keeps the answers until told: the bus answers the
  // relay once both handlers did.
  auto holder = sys.spawn(holding_handler);
  CAF_REQUIRE(call<caf::ok_atom>(bus, atom::subscribe_v,
                                 std::string{topic_user_created},
                                 caf::actor_cast<event_handler_actor>(holder)));
  // 12 users, batch 10: ten events with the bus, two read ahead later.
  for (uint64_t user = 1; user <= 12; ++user)
    add(user, topic_user_created);
  start();
  CAF_REQUIRE_EQUAL(log->seen.size(), 10u);
  CAF_CHECK_EQUAL(store->claims.size(), 10u);
  pass(100ms);
  CAF_CHECK_EQUAL(store->claims.size(), 12u);
  self->send_exit(relay, caf::exit_reason::user_shutdown);
  sched.run();
  // Nothing released while its delivery may still happen: another relay
  // would publish it a second time.
  pass(1s);
  CAF_CHECK_EQUAL(store->claims.size(), 12u);
  self->send(holder, caf::ok_atom_v);
  sched.run();
  // The ten answered are deleted, the two queued released; nothing new
  // went to the bus meanwhile.
  CAF_CHECK_EQUAL(log->seen.size(), 10u);
  CAF_CHECK_EQUAL(store->outbox.size(), 2u);
  CAF_CHECK(store->claims.empty());
  relay = nullptr;
  self->send_exit(holder, caf::exit_reason::user_shutdown);
}

CAF_TEST(a stop that waits for the bus keeps renewing its leases) {
  auto holder = sys.spawn(holding_handler);
  CAF_REQUIRE(call<caf::ok_atom>(bus, atom::subscribe_v,
                                 std::string{topic_user_created},
                                 caf::actor_cast<event_handler_actor>(holder)));
  add(1, topic_user_created);
  add(2, topic_user_created);
  start();
  self->send_exit(relay, caf::exit_reason::user_shutdown);
  sched.run();
  // A minute of storage's time later, past the 30 s lease: the polls during
  // the stop renewed the claims, so no other relay can take the rows.
  store->now += 60;
  pass(300ms);
  CAF_REQUIRE_EQUAL(store->claims.size(), 2u);
  for (auto& [seq, claim] : store->claims)
    CAF_CHECK_EQUAL(claim.second, store->now * 1000 + 30000);
  self->send(holder, caf::ok_atom_v);
  sched.run();
  CAF_CHECK(store->outbox.empty());
  CAF_CHECK(store->claims.empty());
  relay = nullptr;
  self->send_exit(holder, caf::exit_reason::user_shutdown);
}

CAF_TEST(an orderly stop waits for the bus at most its grace) {
  add(1, topic_user_created);
  add(2, topic_user_created);
  settings.drain_grace = 2s; // the bus gives its handlers 5 s
  log->silent = true;
  start();
  CAF_CHECK_EQUAL(store->claims.size(), 2u);
  self->send_exit(relay, caf::exit_reason::user_shutdown);
  sched.run();
  pass(1900ms);
  CAF_CHECK_EQUAL(store->claims.size(), 2u);
  pass(200ms);
  CAF_CHECK(store->claims.empty());
  CAF_CHECK_EQUAL(store->outbox.size(), 2u);
  relay = nullptr;
}

CAF_TEST(rows claimed as the stop begins go to nobody and are released) {
  start();
  add(1, topic_user_created);
  add(2, topic_user_created);
  // The wake's claim is with storage when the exit arrives.
  self->send(relay, atom::wake_v);
  self->send_exit(relay, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(log->seen.empty());
  CAF_CHECK(store->claims.empty());
  CAF_CHECK_EQUAL(store->outbox.size(), 2u);
  relay = nullptr;
}

CAF_TEST(an orderly stop with nothing under way releases at once) {
  add(1, topic_user_created);
  log->fail_ids.insert(store->outbox.begin()->second.id);
  start();
  // The event failed and waits for its retry: held, not with the bus.
  CAF_CHECK_EQUAL(store->claims.size(), 1u);
  self->send_exit(relay, caf::exit_reason::user_shutdown);
  sched.run();
  CAF_CHECK(store->claims.empty());
  CAF_CHECK_EQUAL(store->outbox.size(), 1u);
  relay = nullptr;
}

CAF_TEST(backoff doubles up to its cap) {
  CAF_CHECK_EQUAL(backoff(settings, 1).count(), 1000);
  CAF_CHECK_EQUAL(backoff(settings, 2).count(), 2000);
  CAF_CHECK_EQUAL(backoff(settings, 3).count(), 4000);
  CAF_CHECK_EQUAL(backoff(settings, 30).count(), 4000);
}

CAF_TEST_FIXTURE_SCOPE_END()
