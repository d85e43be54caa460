#define CAF_SUITE amqp_confirms

// The confirm tracker of the AMQP bridge (bridges/amqp/connection.hpp): how
// the broker's answers to published messages become one result per message,
// and whose failure each one is. Plain code, no broker: the answers are made
// up here the way RabbitMQ sends them (a return comes before the ack of its
// message; acks and nacks may cover every tag up to theirs with `multiple`).

#include "bridges/amqp/connection.hpp"

#include "tests/test.hpp"

#include <limits>
#include <map>

#include "bridges/amqp/settings.hpp"

using namespace herald;
using namespace herald::amqp;
using herald::test::code_of;
using outcome = confirm_result::outcome;

namespace {

/// code_of() for an error that may be none (CAF 0.17.6's error::category()
/// crashes on none).
ec code(const caf::error& err) {
  return err ? code_of(err) : ec::none;
}

struct fixture {
  confirm_tracker tracker;
  /// Id -> its result, as settled so far.
  std::map<size_t, confirm_result> results;
  /// Settled twice: must stay 0.
  size_t doubles = 0;

  /// Sends message `tag` (id = tag) for `key`.
  void send(uint64_t tag, const std::string& key = "user.created") {
    outgoing out{"herald.events", key, message{}};
    out.msg.message_id = "ev-" + std::to_string(tag);
    tracker.add(tag, out, tag);
  }

  void take(std::vector<confirm_tracker::settled>& done) {
    for (auto& x : done)
      if (!results.emplace(x.id, std::move(x.result)).second)
        ++doubles;
    done.clear();
  }

  /// Applies one answer; answers how many messages it settled.
  size_t answer(confirm_event ev) {
    std::vector<confirm_tracker::settled> done;
    tracker.apply(ev, done);
    auto n = done.size();
    take(done);
    return n;
  }

  size_t ack(uint64_t tag, bool multiple = false) {
    confirm_event ev;
    ev.what = confirm_event::kind::ack;
    ev.tag = tag;
    ev.multiple = multiple;
    return answer(ev);
  }

  size_t nack(uint64_t tag, bool multiple = false) {
    confirm_event ev;
    ev.what = confirm_event::kind::nack;
    ev.tag = tag;
    ev.multiple = multiple;
    ev.reason = "amqp test: refused for now (basic.nack)";
    return answer(ev);
  }

  /// basic.return of message `tag` as sent by send().
  size_t returned(uint64_t tag, const std::string& key = "user.created") {
    confirm_event ev;
    ev.what = confirm_event::kind::returned;
    ev.exchange = "herald.events";
    ev.routing_key = key;
    ev.message_id = "ev-" + std::to_string(tag);
    ev.reason = "amqp test: unroutable: no queue bound for " + key
                + " on herald.events (312 NO_ROUTE)";
    return answer(ev);
  }

  size_t fail_through(uint64_t tag, caf::error err) {
    std::vector<confirm_tracker::settled> done;
    tracker.fail_through(tag, err, done);
    auto n = done.size();
    take(done);
    return n;
  }

  /// The outcome of message `id`; fails the test if it is not settled.
  const confirm_result& result(size_t id) {
    auto i = results.find(id);
    if (i == results.end())
      CAF_FAIL("message " << id << " not settled");
    return i->second;
  }

  bool settled(size_t id) const { return results.count(id) > 0; }

  void check_confirmed(size_t id) {
    auto& r = result(id);
    CAF_CHECK(r.what == outcome::confirmed);
    CAF_CHECK(!r.error);
  }

  void check_nacked(size_t id) {
    auto& r = result(id);
    CAF_CHECK(r.what == outcome::nacked);
    CAF_CHECK_EQUAL(code(r.error), ec::deferred);
  }

  void check_returned(size_t id) {
    auto& r = result(id);
    CAF_CHECK(r.what == outcome::returned);
    CAF_CHECK_EQUAL(code(r.error), ec::rejected);
  }

  void check_failed(size_t id) {
    auto& r = result(id);
    CAF_CHECK(r.what == outcome::failed);
    CAF_CHECK_EQUAL(code(r.error), ec::unavailable);
  }

  caf::error outage(const char* why) {
    return caf::make_error(ec::unavailable, std::string{why});
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(amqp_confirms_tests, fixture)

CAF_TEST(an ack confirms its message and no other) {
  send(1);
  send(2);
  CAF_CHECK_EQUAL(ack(2), 1u);
  check_confirmed(2);
  CAF_CHECK(!settled(1));
  CAF_CHECK_EQUAL(tracker.size(), 1u);
  CAF_CHECK_EQUAL(ack(1), 1u);
  check_confirmed(1);
  CAF_CHECK(tracker.empty());
  CAF_CHECK_EQUAL(doubles, 0u);
}

CAF_TEST(a nack is deferred and never a confirm) {
  send(1);
  send(2);
  CAF_CHECK_EQUAL(nack(1), 1u);
  check_nacked(1);
  CAF_MESSAGE("nack: " << render(result(1).error));
  CAF_CHECK_NOT_EQUAL(render(result(1).error).find("basic.nack"),
                      std::string::npos);
  CAF_CHECK(!settled(2));
  // Its ack cannot come any more (a tag gets one answer); a stray one
  // changes nothing.
  CAF_CHECK_EQUAL(ack(1), 0u);
  check_nacked(1);
  CAF_CHECK_EQUAL(ack(2), 1u);
  check_confirmed(2);
  CAF_CHECK_EQUAL(doubles, 0u);
}

CAF_TEST(a multiple ack confirms every open message up to its tag) {
  for (uint64_t tag = 1; tag <= 5; ++tag)
    send(tag);
  CAF_CHECK_EQUAL(ack(3, true), 3u);
  for (size_t id = 1; id <= 3; ++id)
    check_confirmed(id);
  CAF_CHECK(!settled(4));
  CAF_CHECK(!settled(5));
  CAF_CHECK_EQUAL(ack(5, true), 2u);
  check_confirmed(4);
  check_confirmed(5);
  CAF_CHECK(tracker.empty());
}

CAF_TEST(a multiple nack defers every open message up to its tag) {
  for (uint64_t tag = 1; tag <= 4; ++tag)
    send(tag);
  CAF_CHECK_EQUAL(nack(3, true), 3u);
  for (size_t id = 1; id <= 3; ++id)
    check_nacked(id);
  CAF_CHECK(!settled(4));
  CAF_CHECK_EQUAL(ack(4), 1u);
  check_confirmed(4);
}

CAF_TEST(mixed acks and nacks with multiple settle each message once) {
  for (uint64_t tag = 1; tag <= 8; ++tag)
    send(tag);
  // 2 nacked alone, then 1..3 acked together: 2 stays nacked.
  CAF_CHECK_EQUAL(nack(2), 1u);
  CAF_CHECK_EQUAL(ack(3, true), 2u);
  // 5 acked alone, then 4..6 nacked together: 5 stays confirmed.
  CAF_CHECK_EQUAL(ack(5), 1u);
  CAF_CHECK_EQUAL(nack(6, true), 2u);
  // 7 and 8 by one ack.
  CAF_CHECK_EQUAL(ack(8, true), 2u);
  check_confirmed(1);
  check_nacked(2);
  check_confirmed(3);
  check_nacked(4);
  check_confirmed(5);
  check_nacked(6);
  check_confirmed(7);
  check_confirmed(8);
  CAF_CHECK(tracker.empty());
  CAF_CHECK_EQUAL(doubles, 0u);
  size_t confirmed = 0;
  for (auto& [id, r] : results)
    confirmed += r.what == outcome::confirmed ? 1 : 0;
  CAF_CHECK_EQUAL(confirmed, 5u);
}

CAF_TEST(a return followed by its ack is rejected) {
  send(1, "user.created");
  send(2, "user.deleted");
  send(3, "user.deleted");
  // RabbitMQ: basic.return for 2, then basic.ack for it (here with
  // multiple, covering 1 as well).
  CAF_CHECK_EQUAL(returned(2, "user.deleted"), 0u);
  CAF_CHECK(!settled(2));
  CAF_CHECK_EQUAL(ack(2, true), 2u);
  check_confirmed(1);
  check_returned(2);
  CAF_MESSAGE("return: " << render(result(2).error));
  CAF_CHECK_NOT_EQUAL(render(result(2).error).find("312 NO_ROUTE"),
                      std::string::npos);
  // The same key and exchange, another message: not marked by 2's return.
  CAF_CHECK_EQUAL(ack(3), 1u);
  check_confirmed(3);
}

CAF_TEST(a return marks the first open match only) {
  // A message published again under the same id (the relay's retry after a
  // timeout) while the first is still open: one return, one rejection.
  outgoing out{"herald.events", "user.deleted", message{}};
  out.msg.message_id = "ev-same";
  tracker.add(1, out, 1);
  tracker.add(2, out, 2);
  confirm_event ret;
  ret.what = confirm_event::kind::returned;
  ret.exchange = out.exchange;
  ret.routing_key = out.routing_key;
  ret.message_id = out.msg.message_id;
  CAF_CHECK_EQUAL(answer(ret), 0u);
  CAF_CHECK_EQUAL(ack(2, true), 2u);
  check_returned(1);
  check_confirmed(2);
}

CAF_TEST(a return whose ack never comes is still rejected) {
  send(1, "user.deleted");
  send(2);
  returned(1, "user.deleted");
  CAF_CHECK_EQUAL(fail_through(2, outage("no confirm within 10 s")), 2u);
  check_returned(1);
  check_failed(2);
}

CAF_TEST(late confirms after a timeout are ignored) {
  for (uint64_t tag = 1; tag <= 4; ++tag)
    send(tag);
  // 1 and 2 time out; 3 and 4 are younger and still wait.
  CAF_CHECK_EQUAL(fail_through(2, outage("no confirm within 10 s")), 2u);
  check_failed(1);
  check_failed(2);
  CAF_CHECK(!settled(3));
  // The broker answers late: a nack for 1, an ack for 2, a return for 2.
  CAF_CHECK_EQUAL(nack(1), 0u);
  CAF_CHECK_EQUAL(returned(2), 0u);
  CAF_CHECK_EQUAL(ack(2), 0u);
  check_failed(1);
  check_failed(2);
  // A late multiple ack settles only what is still open.
  CAF_CHECK_EQUAL(ack(3, true), 1u);
  check_confirmed(3);
  CAF_CHECK_EQUAL(ack(4), 1u);
  CAF_CHECK(tracker.empty());
  CAF_CHECK_EQUAL(doubles, 0u);
}

CAF_TEST(a lost connection fails every open message as unavailable) {
  for (uint64_t tag = 1; tag <= 5; ++tag)
    send(tag);
  ack(1);
  nack(2);
  CAF_CHECK_EQUAL(fail_through(std::numeric_limits<uint64_t>::max(),
                               outage("connection lost")),
                  3u);
  check_confirmed(1);
  check_nacked(2);
  for (size_t id = 3; id <= 5; ++id) {
    check_failed(id);
    CAF_CHECK_NOT_EQUAL(render(result(id).error).find("connection lost"),
                        std::string::npos);
  }
  CAF_CHECK(tracker.empty());
  // Nothing is left for answers of the old connection.
  CAF_CHECK_EQUAL(ack(5, true), 0u);
  CAF_CHECK_EQUAL(doubles, 0u);
}

CAF_TEST(timeouts are written in their unit) {
  CAF_CHECK_EQUAL(timeout_text(std::chrono::seconds{10}), "10 s");
  CAF_CHECK_EQUAL(timeout_text(std::chrono::milliseconds{250}), "250 ms");
  CAF_CHECK_EQUAL(timeout_text(std::chrono::milliseconds{1500}), "1500 ms");
}

CAF_TEST(outbound routes are mandatory unless they say otherwise) {
  auto route = parse_outbound("topics=user.* exchange=herald.events");
  CAF_REQUIRE(route);
  CAF_CHECK(route->mandatory);
  route = parse_outbound(
      "topics=user.updated,user.deleted exchange=herald.events mandatory=false");
  CAF_REQUIRE(route);
  CAF_CHECK(!route->mandatory);
  route = parse_outbound("topics=user.* exchange=x mandatory=true");
  CAF_REQUIRE(route);
  CAF_CHECK(route->mandatory);
  auto bad = parse_outbound("topics=user.* exchange=x mandatory=maybe");
  CAF_REQUIRE(!bad);
  CAF_CHECK_EQUAL(code_of(bad.error()), ec::invalid_argument);
  CAF_MESSAGE("refused: " << render(bad.error()));
  CAF_CHECK_NOT_EQUAL(render(bad.error()).find("mandatory must be true or "
                                               "false"),
                      std::string::npos);
  // Inbound routes have no such key.
  CAF_CHECK(!parse_inbound("queue=q exchange=x bind=a handler=mailer "
                           "mandatory=false"));
}

CAF_TEST_FIXTURE_SCOPE_END()
