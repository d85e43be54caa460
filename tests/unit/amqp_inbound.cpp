#define CAF_SUITE amqp_inbound

// The inbound side of the AMQP bridge without a broker: queue names, retry
// delays and topology, the messages republished to retry and dead-letter
// queues, the coordinator's decisions on the deterministic scheduler; and
// which topics the bridge subscribes its publisher to.

#include "bridges/amqp/inbound.hpp"

#include "tests/test.hpp"

#include <poll.h>

#include <algorithm>
#include <deque>
#include <map>

#include <caf/typed_event_based_actor.hpp>

#include "bridges/amqp/bridge.hpp"
#include "bridges/amqp/codec.hpp"
#include "tests/support/recording_handler.hpp"

using namespace herald;
using namespace herald::amqp;
using namespace std::chrono_literals;

namespace {

amqp_settings test_settings() {
  amqp_settings result;
  result.max_attempts = 3;
  result.retry_delay = 200ms;
  result.handler_timeout = std::chrono::seconds{5};
  result.outage_probe_min = 1s;
  result.outage_probe_max = 4s;
  result.max_deferrals = 3;
  return result;
}

inbound_route test_route() {
  inbound_route result;
  result.queue = "herald.mailer";
  result.exchange = "herald.events";
  result.bindings = {"user.created"};
  result.handler = "mailer";
  return result;
}

delivery sample_delivery() {
  delivery d;
  d.tag = 9;
  d.exchange = "herald.events";
  d.routing_key = "user.created";
  d.msg.body = R"({"specversion":"1.0"})";
  d.msg.content_type = "application/cloudevents+json";
  d.msg.message_id = "ev-1";
  d.msg.timestamp = 1700000000;
  d.msg.persistent = false;
  d.msg.headers["trace"] = "abc";
  return d;
}

struct fixture : herald::test::fixture {
  std::shared_ptr<herald::test::handler_log> log
      = std::make_shared<herald::test::handler_log>();
  event_handler_actor handler = sys.spawn(herald::test::recording_handler, log);
  std::shared_ptr<doorbell> bell = std::make_shared<doorbell>();
  inbound_actor coordinator
      = sys.spawn(inbound, test_settings(), test_route(), handler, bell);

  /// A paused route probes forever while its handler stays silent: ends
  /// both before the base class runs every timer until none is left.
  ~fixture() override {
    anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
    anon_send_exit(handler, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// Hands one delivery over like the consumer does (a plain send) and
  /// runs until idle; answers the outcome the coordinator sent back.
  inbound_outcome hand(uint64_t tag, uint32_t attempts,
                       const std::string& id = "ev-1") {
    send(tag, attempts, id);
    sched.run();
    return receive_outcome();
  }

  /// A delivery of a CloudEvent with `id` that failed `attempts` times.
  static inbound_job job(uint64_t tag, uint32_t attempts,
                         const std::string& id) {
    auto ev = herald::test::make_event("user.created", "user:1", tag);
    ev.id = id;
    delivery d;
    d.tag = tag;
    d.exchange = "herald.events";
    d.routing_key = "user.created";
    d.msg = encode(ev, wire_format::cloudevents, "test");
    if (attempts > 0)
      d.msg.headers[header_attempts] = std::to_string(attempts);
    return inbound_job{delivery_ref{7, tag}, std::move(d)};
  }

  void send(uint64_t tag, uint32_t attempts, const std::string& id) {
    self->send(coordinator, atom::handle_v,
               std::vector<inbound_job>{job(tag, attempts, id)});
  }

  /// Outcomes received and not looked at yet.
  std::deque<inbound_outcome> outcomes;

  /// The next outcome the coordinator sent (they come in batches).
  inbound_outcome receive_outcome() {
    while (outcomes.empty()) {
      bool got = false;
      self->receive(
          [&](std::vector<inbound_outcome>& xs) {
            got = true;
            outcomes.insert(outcomes.end(), xs.begin(), xs.end());
          },
          caf::after(std::chrono::seconds{0}) >> [] {});
      if (!got)
        CAF_FAIL("no outcome received");
    }
    auto result = std::move(outcomes.front());
    outcomes.pop_front();
    return result;
  }
};

/// The doorbell's eventfd is readable now.
bool rung(const doorbell& bell) {
  pollfd p{bell.fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(amqp_inbound_tests, fixture)

CAF_TEST(the doorbell wakes only an armed owner) {
  doorbell b;
  b.ring();
  CAF_CHECK(!rung(b));
  b.arm();
  b.ring();
  CAF_CHECK(rung(b));
  b.disarm();
  b.clear();
  CAF_CHECK(!rung(b));
  // Disarmed: rings write nothing.
  b.ring();
  CAF_CHECK(!rung(b));
  // Armed again, and several rings: one wake-up, cleared at once.
  b.arm();
  b.ring();
  b.ring();
  b.disarm();
  CAF_CHECK(rung(b));
  b.clear();
  CAF_CHECK(!rung(b));
}

CAF_TEST(the coordinator rings after each outcome) {
  bell->arm();
  CAF_CHECK_EQUAL(hand(3, 0).what, verdict::ack);
  CAF_CHECK(rung(*bell));
  bell->disarm();
  bell->clear();
  // Failures and deferrals ring, too.
  bell->arm();
  log->fail_with = caf::make_error(ec::internal, "bug");
  CAF_CHECK_EQUAL(hand(4, 0).what, verdict::retry);
  CAF_CHECK(rung(*bell));
  bell->disarm();
  bell->clear();
  log->fail_with = caf::none;
  log->defer_ids.insert("ev-5");
  bell->arm();
  CAF_CHECK_EQUAL(hand(5, 0, "ev-5").what, verdict::defer);
  CAF_CHECK(rung(*bell));
  bell->disarm();
  bell->clear();
  // A timeout is an outage: held, no outcome, no ring.
  log->silent = true;
  send(6, 0, "ev-6");
  sched.run();
  bell->arm();
  sched.advance_time(5s + tick_interval(test_settings().handler_timeout));
  sched.run();
  CAF_CHECK(self->mailbox().empty());
  CAF_CHECK(!rung(*bell));
}

CAF_TEST(a batch is handed over at once and answered per delivery) {
  log->fail_ids.insert("ev-2"); // ec::rejected: dead at once
  self->send(coordinator, atom::handle_v,
             std::vector<inbound_job>{job(1, 0, "ev-1"), job(2, 0, "ev-2"),
                                      job(3, 0, "ev-3")});
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 3u);
  // The three outcomes come back together, in one message.
  std::map<uint64_t, verdict> verdicts;
  self->receive(
      [&](std::vector<inbound_outcome>& xs) {
        for (auto& x : xs)
          verdicts[x.ref.tag] = x.what;
      },
      caf::after(std::chrono::seconds{0}) >> [] {});
  CAF_REQUIRE_EQUAL(verdicts.size(), 3u);
  CAF_CHECK_EQUAL(verdicts[1], verdict::ack);
  CAF_CHECK_EQUAL(verdicts[2], verdict::dead);
  CAF_CHECK_EQUAL(verdicts[3], verdict::ack);
  CAF_CHECK(self->mailbox().empty());
}

CAF_TEST(an undecodable delivery is dead at once without the handler) {
  auto bad = job(4, 2, "ev-4");
  bad.d.msg.body = "not json";
  self->send(coordinator, atom::handle_v,
             std::vector<inbound_job>{std::move(bad), job(5, 0, "ev-5")});
  sched.run();
  // Only the good one reached the handler.
  CAF_REQUIRE_EQUAL(log->seen.size(), 1u);
  CAF_CHECK_EQUAL(log->seen[0].id, "ev-5");
  std::map<uint64_t, inbound_outcome> by_tag;
  for (int i = 0; i < 2; ++i) {
    auto x = receive_outcome();
    by_tag[x.ref.tag] = x;
  }
  CAF_CHECK_EQUAL(by_tag[4].what, verdict::dead);
  CAF_CHECK_EQUAL(by_tag[4].attempts, 2u);
  CAF_CHECK_EQUAL(by_tag[4].reason.rfind("undecodable: ", 0), 0u);
  CAF_CHECK_EQUAL(by_tag[5].what, verdict::ack);
}

CAF_TEST(a delivery handed over twice is handled once) {
  log->silent = true;
  send(8, 0, "ev-8");
  send(8, 0, "ev-8");
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 1u);
  CAF_CHECK(self->mailbox().empty());
  // Timed out, it is held; handed over again it is still ignored.
  sched.advance_time(5s + tick_interval(test_settings().handler_timeout));
  sched.run();
  send(8, 0, "ev-8");
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 1u);
  CAF_CHECK(self->mailbox().empty());
  // The probe takes it to the handler once more, which now answers.
  log->silent = false;
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  CAF_CHECK_EQUAL(receive_outcome().ref.tag, 8u);
  CAF_CHECK(self->mailbox().empty());
}

CAF_TEST(names and retry delays) {
  auto settings = test_settings();
  CAF_CHECK_EQUAL(retry_queue("q", 2), "q.retry.2");
  CAF_CHECK_EQUAL(dead_queue("q"), "q.dead");
  CAF_CHECK_EQUAL(retry_delay(settings, 1).count(), 200);
  CAF_CHECK_EQUAL(retry_delay(settings, 2).count(), 400);
  CAF_CHECK_EQUAL(retry_delay(settings, 3).count(), 800);
  CAF_CHECK_EQUAL(retry_delay(settings, 10).count(), 200 * 512);
  // The broker takes at most 2^32 - 1 ms.
  CAF_CHECK_EQUAL(retry_delay(settings, 60).count(), 4294967295);
  settings.max_attempts = 0;
  CAF_CHECK_EQUAL(max_attempts(settings), 1u);
}

CAF_TEST(topology with main and retry and dead queues) {
  auto settings = test_settings();
  settings.max_attempts = 4;
  auto queues = inbound_queues(settings, test_route());
  CAF_REQUIRE_EQUAL(queues.size(), 5u);
  CAF_CHECK_EQUAL(queues[0].name, "herald.mailer");
  CAF_CHECK(queues[0].options.durable);
  CAF_CHECK_EQUAL(queues[0].options.message_ttl_ms, 0u);
  CAF_CHECK_EQUAL(queues[0].options.dead_letter_routing_key, "");
  uint32_t ttl = 200;
  for (uint32_t n = 1; n <= 3; ++n) {
    auto& q = queues[n];
    CAF_CHECK_EQUAL(q.name, "herald.mailer.retry." + std::to_string(n));
    CAF_CHECK(q.options.durable);
    CAF_CHECK_EQUAL(q.options.message_ttl_ms, ttl);
    CAF_CHECK_EQUAL(q.options.dead_letter_exchange, "amq.direct");
    CAF_CHECK_EQUAL(q.options.dead_letter_routing_key, "herald.mailer");
    ttl *= 2;
  }
  CAF_CHECK_EQUAL(queues[4].name, "herald.mailer.dead");
  CAF_CHECK(queues[4].options.durable);
  CAF_CHECK_EQUAL(queues[4].options.message_ttl_ms, 0u);
  // One retry queue even without retries: deferrals wait there.
  settings.max_attempts = 1;
  queues = inbound_queues(settings, test_route());
  CAF_REQUIRE_EQUAL(queues.size(), 3u);
  CAF_CHECK_EQUAL(queues[1].name, "herald.mailer.retry.1");
  CAF_CHECK_EQUAL(deferral_queue(settings, 0), 1u);
  CAF_CHECK_EQUAL(deferral_queue(settings, 9), 1u);
  settings.max_attempts = 4;
  CAF_CHECK_EQUAL(deferral_queue(settings, 0), 1u);
  CAF_CHECK_EQUAL(deferral_queue(settings, 1), 2u);
  CAF_CHECK_EQUAL(deferral_queue(settings, 2), 3u);
  CAF_CHECK_EQUAL(deferral_queue(settings, 50), 3u);
  // Expired retries come back through amq.direct, by the queue's name.
  auto route = test_route();
  route.bindings.push_back("user.deleted");
  auto bindings = inbound_bindings(route);
  CAF_REQUIRE_EQUAL(bindings.size(), 3u);
  CAF_CHECK_EQUAL(bindings[0].exchange, "herald.events");
  CAF_CHECK_EQUAL(bindings[0].routing_key, "user.created");
  CAF_CHECK_EQUAL(bindings[1].routing_key, "user.deleted");
  CAF_CHECK_EQUAL(bindings[2].exchange, "amq.direct");
  CAF_CHECK_EQUAL(bindings[2].routing_key, "herald.mailer");
}

CAF_TEST(attempts header) {
  message msg;
  CAF_CHECK_EQUAL(attempts_of(msg), 0u);
  msg.headers[header_attempts] = "3";
  CAF_CHECK_EQUAL(attempts_of(msg), 3u);
  for (auto bad : {"", "-1", "x", "3 ", "99999999999999"}) {
    msg.headers[header_attempts] = bad;
    CAF_CHECK_EQUAL(attempts_of(msg), 0u);
  }
  CAF_CHECK_EQUAL(deferrals_of(msg), 0u);
  msg.headers[header_deferrals] = "12";
  CAF_CHECK_EQUAL(deferrals_of(msg), 12u);
  msg.headers[header_deferrals] = "x";
  CAF_CHECK_EQUAL(deferrals_of(msg), 0u);
}

CAF_TEST(retry and dead messages keep body and properties) {
  auto d = sample_delivery();
  auto retry = retry_message(d, 1);
  CAF_CHECK_EQUAL(retry.body, d.msg.body);
  CAF_CHECK_EQUAL(retry.content_type, d.msg.content_type);
  CAF_CHECK_EQUAL(retry.message_id, d.msg.message_id);
  CAF_CHECK_EQUAL(retry.timestamp, d.msg.timestamp);
  CAF_CHECK(retry.persistent);
  CAF_CHECK_EQUAL(retry.headers["trace"], "abc");
  CAF_CHECK_EQUAL(retry.headers[header_attempts], "1");
  CAF_CHECK_EQUAL(retry.headers[header_original_routing_key], "user.created");
  CAF_CHECK_EQUAL(retry.headers.count(header_reason), 0u);
  // Back from the retry queue the routing key is the queue's name; the
  // original one is kept and restored for decoding.
  delivery again;
  again.routing_key = "herald.mailer";
  again.msg = retry;
  restore_routing_key(again);
  CAF_CHECK_EQUAL(again.routing_key, "user.created");
  auto dead = dead_message(again, 3, "unavailable: smtp down");
  CAF_CHECK_EQUAL(dead.body, d.msg.body);
  CAF_CHECK_EQUAL(dead.headers[header_attempts], "3");
  CAF_CHECK_EQUAL(dead.headers[header_reason], "unavailable: smtp down");
  CAF_CHECK_EQUAL(dead.headers[header_original_routing_key], "user.created");
  auto first = sample_delivery();
  restore_routing_key(first);
  CAF_CHECK_EQUAL(first.routing_key, "user.created");
  // A deferral keeps the attempts and counts itself apart.
  auto later = deferred_message(d, 2, 5);
  CAF_CHECK_EQUAL(later.body, d.msg.body);
  CAF_CHECK_EQUAL(later.headers[header_attempts], "2");
  CAF_CHECK_EQUAL(later.headers[header_deferrals], "5");
  CAF_CHECK_EQUAL(later.headers[header_original_routing_key], "user.created");
  CAF_CHECK(later.persistent);
}

CAF_TEST(decisions without an actor) {
  auto settings = test_settings();
  auto bug = caf::make_error(ec::internal, "bug");
  auto ok = decide(settings, {1, 2}, 0, caf::none);
  CAF_CHECK_EQUAL(ok.what, verdict::ack);
  CAF_CHECK_EQUAL(ok.ref.epoch, 1u);
  CAF_CHECK_EQUAL(ok.ref.tag, 2u);
  // A failure of the message itself counts, up to max_attempts (3).
  auto first = decide(settings, {1, 2}, 0, bug);
  CAF_CHECK_EQUAL(first.what, verdict::retry);
  CAF_CHECK_EQUAL(first.attempts, 1u);
  auto second = decide(settings, {1, 2}, 1, bug);
  CAF_CHECK_EQUAL(second.what, verdict::retry);
  CAF_CHECK_EQUAL(second.attempts, 2u);
  auto last = decide(settings, {1, 2}, 2, bug);
  CAF_CHECK_EQUAL(last.what, verdict::dead);
  CAF_CHECK_EQUAL(last.attempts, 3u);
  CAF_CHECK_EQUAL(last.reason, "internal: bug");
  // A count beyond the limit (config lowered meanwhile): dead.
  CAF_CHECK_EQUAL(decide(settings, {1, 2}, 7, bug).what, verdict::dead);
  // Retrying cannot help: counted, and dead at once.
  for (auto code : {ec::rejected, ec::invalid_argument}) {
    auto permanent = decide(settings, {1, 2}, 0, caf::make_error(code, "no"));
    CAF_CHECK_EQUAL(permanent.what, verdict::dead);
    CAF_CHECK_EQUAL(permanent.attempts, 1u);
  }
  // An outage is not the message's failure: held, nothing counted, never
  // dead, however often it happened before.
  auto unavailable = caf::make_error(ec::unavailable, "smtp down");
  for (uint32_t attempts : {0u, 2u, 7u}) {
    auto held = decide(settings, {1, 2}, attempts, unavailable, 2);
    CAF_CHECK_EQUAL(held.what, verdict::hold);
    CAF_CHECK_EQUAL(held.attempts, attempts);
    CAF_CHECK_EQUAL(held.deferrals, 2u);
    CAF_CHECK_EQUAL(held.reason, "unavailable: smtp down");
  }
  // A deferral is not an attempt either; it counts apart, dead only at
  // max_deferrals (3).
  auto later = caf::make_error(ec::deferred, "451 try later");
  auto d1 = decide(settings, {1, 2}, 2, later);
  CAF_CHECK_EQUAL(d1.what, verdict::defer);
  CAF_CHECK_EQUAL(d1.attempts, 2u);
  CAF_CHECK_EQUAL(d1.deferrals, 1u);
  auto d2 = decide(settings, {1, 2}, 2, later, 1);
  CAF_CHECK_EQUAL(d2.what, verdict::defer);
  CAF_CHECK_EQUAL(d2.deferrals, 2u);
  auto d3 = decide(settings, {1, 2}, 2, later, 2);
  CAF_CHECK_EQUAL(d3.what, verdict::dead);
  CAF_CHECK_EQUAL(d3.attempts, 2u);
  CAF_CHECK_EQUAL(d3.deferrals, 3u);
  CAF_CHECK_EQUAL(d3.reason,
                  "deferred 3 times, last: deferred: 451 try later");
  // 0: no limit.
  settings.max_deferrals = 0;
  CAF_CHECK_EQUAL(decide(settings, {1, 2}, 0, later, 100000).what,
                  verdict::defer);
}

CAF_TEST(handled means ack) {
  auto outcome = hand(3, 0);
  CAF_CHECK_EQUAL(outcome.what, verdict::ack);
  // Nothing to republish: the delivery stays with the coordinator.
  CAF_CHECK(outcome.d.msg.body.empty());
  CAF_CHECK_EQUAL(outcome.ref.epoch, 7u);
  CAF_CHECK_EQUAL(outcome.ref.tag, 3u);
  CAF_REQUIRE_EQUAL(log->seen.size(), 1u);
  CAF_CHECK_EQUAL(log->seen[0].id, "ev-1");
}

CAF_TEST(failed below the limit means retry with one more attempt) {
  log->fail_with = caf::make_error(ec::internal, "refusing ev-1");
  auto outcome = hand(3, 0);
  CAF_CHECK_EQUAL(outcome.what, verdict::retry);
  CAF_CHECK_EQUAL(outcome.attempts, 1u);
  CAF_CHECK_EQUAL(outcome.ref.tag, 3u);
  // The delivery comes back for the republish, as it came.
  CAF_CHECK_EQUAL(outcome.d.msg.message_id, "ev-1");
  CAF_CHECK_EQUAL(outcome.d.msg.body, job(3, 0, "ev-1").d.msg.body);
  outcome = hand(4, 1);
  CAF_CHECK_EQUAL(outcome.what, verdict::retry);
  CAF_CHECK_EQUAL(outcome.attempts, 2u);
  // The handler sees how often the event failed before.
  CAF_REQUIRE_EQUAL(log->seen.size(), 2u);
  CAF_CHECK_EQUAL(log->seen[1].attempts, 1u);
}

CAF_TEST(failed at the limit means dead with the reason) {
  log->fail_with = caf::make_error(ec::internal, "refusing ev-1");
  auto outcome = hand(5, 2);
  CAF_CHECK_EQUAL(outcome.what, verdict::dead);
  CAF_CHECK_EQUAL(outcome.attempts, 3u);
  CAF_CHECK_EQUAL(outcome.reason, "internal: handler mailer: refusing ev-1");
}

CAF_TEST(a deferral is retried without an attempt and dead only at its own
           limit) {
  log->defer_ids.insert("ev-1");
  auto outcome = hand(5, 1);
  CAF_CHECK_EQUAL(outcome.what, verdict::defer);
  CAF_CHECK_EQUAL(outcome.attempts, 1u);
  CAF_CHECK_EQUAL(outcome.deferrals, 1u);
  CAF_CHECK_EQUAL(outcome.reason, "deferred: handler mailer: not now ev-1");
  // The delivery comes back for the republish.
  CAF_CHECK_EQUAL(outcome.d.msg.message_id, "ev-1");
  // Deferred twice before (header), at the limit of 3: dead.
  auto j = job(6, 1, "ev-1");
  j.d.msg.headers[header_deferrals] = "2";
  self->send(coordinator, atom::handle_v, std::vector<inbound_job>{j});
  sched.run();
  outcome = receive_outcome();
  CAF_CHECK_EQUAL(outcome.what, verdict::dead);
  CAF_CHECK_EQUAL(outcome.attempts, 1u);
  CAF_CHECK_EQUAL(outcome.deferrals, 3u);
}

CAF_TEST(permanent failure means dead at once) {
  log->fail_with = caf::make_error(ec::rejected, "550 no such user");
  auto outcome = hand(5, 0);
  CAF_CHECK_EQUAL(outcome.what, verdict::dead);
  CAF_CHECK_EQUAL(outcome.attempts, 1u);
  CAF_CHECK_EQUAL(outcome.reason, "rejected: handler mailer: 550 no such user");
}

CAF_TEST(handler timeout is an outage and counts nothing) {
  log->silent = true;
  send(6, 2, "ev-1");
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 1u);
  CAF_CHECK(self->mailbox().empty());
  // Not before handler_timeout (5 s)...
  sched.advance_time(4s);
  sched.run();
  CAF_CHECK(self->mailbox().empty());
  // ... and after it no outcome either: held (its attempts were 2 of 3,
  // an attempt counted would make it dead).
  sched.advance_time(1s + tick_interval(test_settings().handler_timeout));
  sched.run();
  CAF_CHECK(self->mailbox().empty());
  CAF_CHECK_EQUAL(log->seen.size(), 1u);
  // The probe (1 s later) gets an answer: acked, as it came.
  log->silent = false;
  sched.advance_time(1s);
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 2u);
  CAF_CHECK_EQUAL(log->seen[1].attempts, 2u);
  auto outcome = receive_outcome();
  CAF_CHECK_EQUAL(outcome.ref.tag, 6u);
  CAF_CHECK_EQUAL(outcome.what, verdict::ack);
}

CAF_TEST(deliveries in flight are all handed over before any answer) {
  log->silent = true;
  for (uint64_t tag = 1; tag <= 4; ++tag)
    send(tag, 0, "ev-" + std::to_string(tag));
  sched.run();
  // Every one reached the handler while none was answered.
  CAF_REQUIRE_EQUAL(log->seen.size(), 4u);
  for (size_t i = 0; i < 4; ++i)
    CAF_CHECK_EQUAL(log->seen[i].id, "ev-" + std::to_string(i + 1));
  CAF_CHECK(self->mailbox().empty());
  // Timed out together: all held, none answered.
  sched.advance_time(5s + tick_interval(test_settings().handler_timeout));
  sched.run();
  CAF_CHECK(self->mailbox().empty());
}

// -- outages: hold, probe, resume ---------------------------------------------

CAF_TEST(an outage holds deliveries and probes with one at doubling pauses) {
  log->fail_with = caf::make_error(ec::unavailable, "smtp down");
  self->send(coordinator, atom::handle_v,
             std::vector<inbound_job>{job(1, 0, "ev-1"), job(2, 2, "ev-2")});
  sched.run();
  // Both failed: held, no outcome (nothing counted, nothing dead).
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  CAF_CHECK(self->mailbox().empty());
  // While paused, new deliveries are held without reaching the handler.
  send(3, 0, "ev-3");
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  // Probe after outage_probe_min (1 s): ONE delivery, the one after the
  // delivery that paused the route (probes take turns).
  sched.advance_time(999ms);
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  sched.advance_time(1ms);
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 3u);
  CAF_CHECK_EQUAL(log->seen[2].id, "ev-2");
  CAF_CHECK(self->mailbox().empty());
  // It failed: the next probe only after 2 s, with another delivery.
  sched.advance_time(1999ms);
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 3u);
  sched.advance_time(1ms);
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 4u);
  CAF_CHECK_EQUAL(log->seen[3].id, "ev-3");
  // Then 4 s, and 4 s again (outage_probe_max).
  sched.advance_time(3999ms);
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 4u);
  sched.advance_time(1ms);
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 5u);
  CAF_CHECK_EQUAL(log->seen[4].id, "ev-1");
  sched.advance_time(3999ms);
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 5u);
  sched.advance_time(1ms);
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 6u);
  CAF_CHECK(self->mailbox().empty());
  // Back: the probe succeeds and the others are handed over at once.
  log->fail_with = caf::none;
  sched.advance_time(4s);
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 9u);
  std::map<uint64_t, inbound_outcome> by_tag;
  for (int i = 0; i < 3; ++i) {
    auto x = receive_outcome();
    by_tag[x.ref.tag] = x;
  }
  CAF_REQUIRE_EQUAL(by_tag.size(), 3u);
  for (auto& [tag, x] : by_tag) {
    CAF_CHECK_EQUAL(x.what, verdict::ack);
    CAF_CHECK_EQUAL(x.attempts, 0u);
  }
  // The route runs at full speed again: no pause for the next one.
  send(4, 0, "ev-4");
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 10u);
  CAF_CHECK_EQUAL(receive_outcome().what, verdict::ack);
  // No stale probe timer fires later.
  sched.advance_time(10s);
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 10u);
  CAF_CHECK(self->mailbox().empty());
}

CAF_TEST(a failure of the message itself during an outage resumes the route) {
  log->fail_with = caf::make_error(ec::unavailable, "db down");
  send(1, 0, "ev-1");
  send(2, 0, "ev-2");
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  // The probe reaches the mail server, which refuses this one for good:
  // the route works, the message is dead, the held one goes on.
  // (The probe is ev-2: the one after ev-1, which paused the route.)
  log->fail_with = caf::make_error(ec::rejected, "550 no such user");
  sched.advance_time(1s);
  sched.run();
  auto dead = receive_outcome();
  CAF_CHECK_EQUAL(dead.ref.tag, 2u);
  CAF_CHECK_EQUAL(dead.what, verdict::dead);
  CAF_CHECK_EQUAL(dead.attempts, 1u);
  CAF_CHECK_EQUAL(log->seen.size(), 4u);
  auto other = receive_outcome();
  CAF_CHECK_EQUAL(other.ref.tag, 1u);
  CAF_CHECK_EQUAL(other.what, verdict::dead);
}

CAF_TEST(a delivery failing unavailable alone costs attempts and stalls
           nothing) {
  log->unavailable_ids = {"ev-bad"};
  // The bad one first, then three good ones, in one burst.
  self->send(coordinator, atom::handle_v,
             std::vector<inbound_job>{job(1, 0, "ev-bad"), job(2, 0, "ev-2"),
                                      job(3, 0, "ev-3"), job(4, 0, "ev-4")});
  sched.run();
  // The bad one paused the route, the good ones resumed it, and its second
  // outage failure after that is its own: a retry with one attempt. All at
  // once, without waiting for a probe.
  std::map<uint64_t, inbound_outcome> by_tag;
  for (int i = 0; i < 4; ++i) {
    auto x = receive_outcome();
    by_tag[x.ref.tag] = x;
  }
  CAF_REQUIRE_EQUAL(by_tag.size(), 4u);
  for (uint64_t tag = 2; tag <= 4; ++tag)
    CAF_CHECK_EQUAL(by_tag[tag].what, verdict::ack);
  CAF_CHECK_EQUAL(by_tag[1].what, verdict::retry);
  CAF_CHECK_EQUAL(by_tag[1].attempts, 1u);
  CAF_CHECK_EQUAL(by_tag[1].d.tag, 1u); // Goes back to be republished.
  CAF_CHECK(self->mailbox().empty());
  // Back from the retry queue, alone: it pauses the route again (nothing
  // else shows that the route works).
  send(10, 1, "ev-bad");
  sched.run();
  CAF_CHECK(self->mailbox().empty());
  // A good one comes during the pause: it is the next probe (not the bad
  // one again), handled after one pause, and the bad one fails on its own.
  send(11, 0, "ev-11");
  sched.run();
  CAF_CHECK(self->mailbox().empty());
  auto seen_before = log->seen.size();
  sched.advance_time(1s);
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), seen_before + 2);
  CAF_CHECK_EQUAL(log->seen[seen_before].id, "ev-11");
  auto good = receive_outcome();
  CAF_CHECK_EQUAL(good.ref.tag, 11u);
  CAF_CHECK_EQUAL(good.what, verdict::ack);
  auto again = receive_outcome();
  CAF_CHECK_EQUAL(again.ref.tag, 10u);
  CAF_CHECK_EQUAL(again.what, verdict::retry);
  CAF_CHECK_EQUAL(again.attempts, 2u);
  // The last attempt (max_attempts 3): dead, with its reason.
  self->send(coordinator, atom::handle_v,
             std::vector<inbound_job>{job(20, 2, "ev-bad"),
                                      job(21, 0, "ev-21")});
  sched.run();
  by_tag.clear();
  for (int i = 0; i < 2; ++i) {
    auto x = receive_outcome();
    by_tag[x.ref.tag] = x;
  }
  CAF_CHECK_EQUAL(by_tag[21].what, verdict::ack);
  CAF_CHECK_EQUAL(by_tag[20].what, verdict::dead);
  CAF_CHECK_EQUAL(by_tag[20].attempts, 3u);
  CAF_CHECK(by_tag[20].reason.find("down for ev-bad") != std::string::npos);
  // Nothing is held or paused afterwards: the next one goes at once.
  send(30, 0, "ev-30");
  sched.run();
  CAF_CHECK_EQUAL(receive_outcome().what, verdict::ack);
  sched.advance_time(10s);
  sched.run();
  CAF_CHECK(self->mailbox().empty());
}

CAF_TEST(a general outage longer than all delays counts no attempts) {
  log->fail_with = caf::make_error(ec::unavailable, "smtp down");
  self->send(coordinator, atom::handle_v,
             std::vector<inbound_job>{job(1, 2, "ev-1"), job(2, 2, "ev-2"),
                                      job(3, 0, "ev-3")});
  sched.run();
  // A minute of outage (retry delays 0.2 + 0.4 s, probes up to 4 s): every
  // probe fails, each delivery is probed several times, none is counted.
  for (int i = 0; i < 60; ++i) {
    sched.advance_time(1s);
    sched.run();
    CAF_REQUIRE(self->mailbox().empty());
  }
  CAF_CHECK_GREATER(log->seen.size(), 12u);
  for (auto& ev : log->seen)
    CAF_CHECK_EQUAL(ev.attempts, ev.id == "ev-3" ? 0u : 2u);
  // Back: all acked, none dead.
  log->fail_with = caf::none;
  sched.advance_time(4s);
  sched.run();
  for (int i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(receive_outcome().what, verdict::ack);
  CAF_CHECK(self->mailbox().empty());
}

CAF_TEST(probes take turns and skip the delivery that paused the route) {
  log->fail_with = caf::make_error(ec::unavailable, "smtp down");
  self->send(coordinator, atom::handle_v,
             std::vector<inbound_job>{job(1, 0, "ev-1"), job(2, 0, "ev-2"),
                                      job(3, 0, "ev-3")});
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 3u);
  // Pauses 1, 2, 4, 4, 4 s; probes ev-2, ev-3, ev-1, ev-2, ev-3.
  std::vector<std::string> probes;
  for (auto pause : {1s, 2s, 4s, 4s, 4s}) {
    sched.advance_time(pause);
    sched.run();
    CAF_REQUIRE_EQUAL(log->seen.size(), 4 + probes.size());
    probes.push_back(log->seen.back().id);
  }
  CAF_CHECK_EQUAL(probes, (std::vector<std::string>{"ev-2", "ev-3", "ev-1",
                                                    "ev-2", "ev-3"}));
  CAF_CHECK(self->mailbox().empty());
}

CAF_TEST(a new connection drops what is held from the old one) {
  log->fail_with = caf::make_error(ec::unavailable, "smtp down");
  send(1, 0, "ev-1"); // epoch 7
  send(2, 0, "ev-2");
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  // The consumer reconnected: epoch 8. The broker redelivers those two.
  self->send(coordinator, atom::reset_v, uint64_t{8});
  sched.run();
  // The probe timer finds nothing held: no handler call, no outcome.
  sched.advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 2u);
  CAF_CHECK(self->mailbox().empty());
  // The next delivery (of the new connection) is the probe, at once.
  log->fail_with = caf::none;
  auto j = job(1, 0, "ev-1");
  j.ref.epoch = 8;
  self->send(coordinator, atom::handle_v, std::vector<inbound_job>{j});
  sched.run();
  CAF_REQUIRE_EQUAL(log->seen.size(), 3u);
  auto outcome = receive_outcome();
  CAF_CHECK_EQUAL(outcome.ref.epoch, 8u);
  CAF_CHECK_EQUAL(outcome.what, verdict::ack);
  // Nothing of epoch 7 ever comes back; an old job now is ignored.
  send(5, 0, "ev-5");
  sched.run();
  sched.advance_time(10s);
  sched.run();
  CAF_CHECK_EQUAL(log->seen.size(), 3u);
  CAF_CHECK(self->mailbox().empty());
}

CAF_TEST(a job of a newer connection drops held ones and a late outage
           answer of an old one is not held) {
  log->silent = true;
  send(1, 0, "ev-1"); // epoch 7, with the handler
  sched.run();
  log->silent = false;
  log->fail_with = caf::make_error(ec::unavailable, "smtp down");
  send(2, 0, "ev-2"); // epoch 7: fails, pauses, held
  sched.run();
  auto j = job(1, 0, "ev-1");
  j.ref.epoch = 8;
  self->send(coordinator, atom::handle_v, std::vector<inbound_job>{j});
  sched.run();
  // ev-2 of epoch 7 dropped, ev-1 of epoch 8 held. ev-1 of epoch 7 times
  // out: an old delivery, not held.
  sched.advance_time(5s + tick_interval(test_settings().handler_timeout));
  sched.run();
  CAF_CHECK(self->mailbox().empty());
  log->fail_with = caf::none;
  auto seen_before = log->seen.size();
  sched.advance_time(4s);
  sched.run();
  // Only the epoch-8 delivery was handed over again.
  CAF_CHECK_EQUAL(log->seen.size(), seen_before + 1);
  auto outcome = receive_outcome();
  CAF_CHECK_EQUAL(outcome.ref.epoch, 8u);
  CAF_CHECK_EQUAL(outcome.ref.tag, 1u);
  CAF_CHECK(self->mailbox().empty());
}

CAF_TEST(handler down makes the coordinator quit) {
  self->monitor(coordinator);
  anon_send_exit(handler, caf::exit_reason::kill);
  sched.run();
  bool down = false;
  self->receive([&](caf::down_msg& msg) {
    down = true;
    CAF_CHECK_EQUAL(herald::test::code_of(msg.reason), ec::unavailable);
  });
  CAF_CHECK(down);
}

CAF_TEST(the publisher subscribes to the topics of its routes) {
  amqp_settings settings;
  CAF_CHECK(outbound_topics(settings).empty());
  outbound_route route;
  route.exchange = "herald.events";
  route.topics = {"password.reset_requested"};
  settings.outbound.push_back(route);
  CAF_CHECK_EQUAL(outbound_topics(settings),
                  std::vector<std::string>{"password.reset_requested"});
  route.topics = {"user.*", "nothing.matches"};
  settings.outbound.push_back(route);
  CAF_CHECK_EQUAL(outbound_topics(settings).size(), 5u);
  settings.outbound.erase(settings.outbound.begin());
  auto topics = outbound_topics(settings);
  CAF_CHECK_EQUAL(topics.size(), 4u);
  CAF_CHECK(std::find(topics.begin(), topics.end(), "password.reset_requested")
            == topics.end());
  settings.outbound[0].topics = {"#"};
  CAF_CHECK_EQUAL(outbound_topics(settings).size(), 5u);
}

CAF_TEST_FIXTURE_SCOPE_END()
