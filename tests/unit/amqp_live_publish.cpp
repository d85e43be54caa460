#define CAF_SUITE amqp_live_publish

// The AMQP publisher against the test RabbitMQ (HERALD_TEST_AMQP_URL), with a
// real actor system: the publisher is a detached actor with a blocking
// connection, so the deterministic test coordinator cannot drive it. A
// second connection plays the consumer and reads back what arrived.
//
// tests/integration/amqp_publish.py drives the test `outside consumer` with
// an outside pika consumer through the environment (unset: it does nothing):
//
//   HERALD_AMQP_TEST_EXCHANGE        durable exchange (CloudEvents) to publish
//                                    one user.created event to
//   HERALD_AMQP_TEST_MICRO_EXCHANGE  non-durable exchange to publish the same
//                                    event to in go-micro's format
//   HERALD_AMQP_TEST_EVENT_ID        the event's id

#include "bridges/amqp/publisher.hpp"

#include "tests/test.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "bridges/amqp/connection.hpp"
#include "bridges/amqp/counters.hpp"

using namespace herald;
using namespace herald::amqp;
using namespace std::chrono_literals;
using herald::test::code_of;
using json = nlohmann::json;

namespace {

std::string env(const char* name, std::string fallback = {}) {
  auto value = std::getenv(name);
  return value != nullptr ? std::string{value} : fallback;
}

/// Elapsed milliseconds since `start`.
int64_t ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

event make_event(std::string id, std::string topic = "user.created") {
  event ev;
  ev.id = std::move(id);
  ev.topic = std::move(topic);
  ev.time = 1700000000123;
  ev.source = "herald-it";
  ev.key = "user:42";
  ev.data = R"({"user_id":42,"name":"Zoë","email":"zoe@example.org",)"
            R"("role":"user"})";
  return ev;
}

struct fixture {
  herald::test::config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::string url
      = env("HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5683/");
  /// Makes names unique per run.
  std::string tag
      = std::to_string(getpid()) + "."
        + std::to_string(
            std::chrono::steady_clock::now().time_since_epoch().count());
  std::unique_ptr<connection> peer;
  std::vector<event_handler_actor> publishers;
  std::vector<std::string> queues;
  std::vector<std::string> exchanges;

  fixture() {
    amqp_settings s;
    s.url = url;
    // The ctest fixture's RabbitMQ may still be booting (its CLI answers
    // before the AMQP listener is up): give it a while.
    auto deadline = std::chrono::steady_clock::now() + 60s;
    auto conn = connection::open(s);
    while (!conn && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(250ms);
      conn = connection::open(s);
    }
    if (!conn)
      CAF_FAIL("cannot reach the test RabbitMQ at "
               << describe_broker(url) << ": " << render(conn.error()));
    peer = std::move(*conn);
  }

  ~fixture() {
    for (auto& pub : publishers) {
      self->send_exit(pub, caf::exit_reason::user_shutdown);
      self->wait_for(pub);
    }
    for (auto& q : queues)
      peer->delete_queue(q);
    for (auto& x : exchanges)
      peer->delete_exchange(x);
  }

  amqp_settings settings(const std::string& exchange, bool durable = true,
                         wire_format format = wire_format::cloudevents) {
    amqp_settings s;
    s.url = url;
    s.source = "herald-test";
    s.confirm_timeout = 10s;
    s.outbound.push_back(
        outbound_route{{"user.*", "password.*"}, exchange, durable, format});
    return s;
  }

  /// A fresh exchange (deleted at the end).
  std::string new_exchange(const std::string& name) {
    auto x = "herald.test." + name + "." + tag;
    exchanges.push_back(x);
    return x;
  }

  /// A queue bound to `exchange` for every topic (deleted at the end).
  std::string bound_queue(const std::string& exchange, bool durable = true) {
    auto q = exchange + ".q";
    queue_options opts;
    opts.expires_ms = 600000;
    CAF_REQUIRE(!peer->declare_exchange(exchange, durable));
    CAF_REQUIRE(!peer->declare_queue(q, opts));
    CAF_REQUIRE(!peer->bind(q, exchange, "#"));
    queues.push_back(q);
    return q;
  }

  event_handler_actor spawn(amqp_settings s,
                            std::shared_ptr<bridge_counters> counters) {
    auto pub = spawn_amqp_publisher(sys, std::move(s), std::move(counters));
    publishers.push_back(pub);
    return pub;
  }

  caf::expected<caf::ok_atom>
  handle(const event_handler_actor& pub, const event& ev,
         caf::duration timeout = caf::duration{15s}) {
    caf::expected<caf::ok_atom> result{
        caf::make_error(ec::internal, std::string{"no reply"})};
    self->request(pub, timeout, atom::handle_v, ev)
        .receive([&](caf::ok_atom x) { result = x; },
                 [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Everything in `queue`, taken off it.
  std::vector<delivery> drain(const std::string& queue) {
    std::vector<delivery> result;
    for (;;) {
      auto d = peer->get(queue);
      CAF_REQUIRE(d);
      if (!*d)
        return result;
      result.push_back(std::move(**d));
    }
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(amqp_live_publish_tests, fixture)

CAF_TEST(a confirmed event is in the bound queue) {
  auto x = new_exchange("bound");
  auto q = bound_queue(x);
  auto s = settings(x);
  auto counters = std::make_shared<bridge_counters>(s);
  auto pub = spawn(s, counters);
  auto ev = make_event("ev-bound-1");
  auto res = handle(pub, ev);
  CAF_REQUIRE(res);
  // A topic without a route: ok, nothing published.
  CAF_CHECK(handle(pub, make_event("ev-unrouted", "mail.sent")));
  CAF_CHECK_EQUAL(counters->state(), "connected");
  auto& c = counters->outbound(0);
  CAF_CHECK_EQUAL(c.published.load(), 1u);
  CAF_CHECK_EQUAL(c.confirmed.load(), 1u);
  CAF_CHECK_EQUAL(c.returned.load(), 0u);
  auto got = drain(q);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  auto& d = got.front();
  CAF_CHECK_EQUAL(d.exchange, x);
  CAF_CHECK_EQUAL(d.routing_key, "user.created");
  CAF_CHECK(d.msg.persistent);
  CAF_CHECK_EQUAL(d.msg.content_type, "application/cloudevents+json");
  CAF_CHECK_EQUAL(d.msg.message_id, ev.id);
  CAF_CHECK_EQUAL(d.msg.timestamp, 1700000000);
  auto body = json::parse(d.msg.body);
  CAF_CHECK_EQUAL(body["id"], ev.id);
  CAF_CHECK_EQUAL(body["type"], "user.created");
  CAF_CHECK_EQUAL(body["source"], "herald-it");
  CAF_CHECK_EQUAL(body["data"]["user_id"], 42);
}

CAF_TEST(an unroutable event is returned and answered rejected) {
  auto x = new_exchange("unbound");
  auto s = settings(x);
  auto counters = std::make_shared<bridge_counters>(s);
  auto pub = spawn(s, counters);
  auto res = handle(pub, make_event("ev-unroutable-1"));
  CAF_REQUIRE(!res);
  // The event's own failure, not an outage: RabbitMQ returns it (312
  // NO_ROUTE) and then acks it, and the ack must not turn it into a success.
  CAF_CHECK_EQUAL(code_of(res.error()), ec::rejected);
  CAF_MESSAGE("error: " << render(res.error()));
  CAF_CHECK_NOT_EQUAL(render(res.error()).find("unroutable"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(render(res.error()).find("312 NO_ROUTE"),
                      std::string::npos);
  auto& c = counters->outbound(0);
  CAF_CHECK_EQUAL(c.published.load(), 1u);
  CAF_CHECK_EQUAL(c.confirmed.load(), 0u);
  CAF_CHECK_EQUAL(c.returned.load(), 1u);
  CAF_CHECK_EQUAL(c.nacked.load(), 0u);
  // The connection survives a return: a routable event goes through.
  auto q = bound_queue(x);
  CAF_CHECK(handle(pub, make_event("ev-unroutable-2")));
  CAF_CHECK_EQUAL(drain(q).size(), 1u);
  CAF_CHECK_EQUAL(counters->state(), "connected");
}

CAF_TEST(an unroutable event on a route that is not mandatory is dropped) {
  auto x = new_exchange("observer");
  auto s = settings(x);
  s.outbound.front().mandatory = false;
  auto counters = std::make_shared<bridge_counters>(s);
  auto pub = spawn(s, counters);
  auto res = handle(pub, make_event("ev-observer-1", "user.deleted"));
  CAF_CHECK(res);
  if (!res)
    CAF_MESSAGE("error: " << render(res.error()));
  auto& c = counters->outbound(0);
  CAF_CHECK_EQUAL(c.confirmed.load(), 1u);
  CAF_CHECK_EQUAL(c.returned.load(), 0u);
  // Bound, it arrives as on any route.
  auto q = bound_queue(x);
  CAF_CHECK(handle(pub, make_event("ev-observer-2", "user.deleted")));
  auto got = drain(q);
  CAF_REQUIRE_EQUAL(got.size(), 1u);
  CAF_CHECK_EQUAL(got.front().msg.message_id, "ev-observer-2");
}

CAF_TEST(a full queue that rejects publishes makes the broker nack) {
  // RabbitMQ nacks a message that a queue at x-max-length with
  // x-overflow=reject-publish refuses: the publish is deferred (the outbox
  // keeps the row and tries again later), never confirmed.
  auto x = new_exchange("full");
  auto q = x + ".q";
  queue_options opts;
  opts.expires_ms = 600000;
  opts.max_length = 1;
  opts.reject_publish = true;
  CAF_REQUIRE(!peer->declare_exchange(x, true));
  CAF_REQUIRE(!peer->declare_queue(q, opts));
  CAF_REQUIRE(!peer->bind(q, x, "#"));
  queues.push_back(q);
  auto s = settings(x);
  auto counters = std::make_shared<bridge_counters>(s);
  auto pub = spawn(s, counters);
  CAF_REQUIRE(handle(pub, make_event("ev-full-1")));
  auto res = handle(pub, make_event("ev-full-2"));
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::deferred);
  CAF_MESSAGE("error: " << render(res.error()));
  CAF_CHECK_NOT_EQUAL(render(res.error()).find("basic.nack"),
                      std::string::npos);
  auto& c = counters->outbound(0);
  CAF_CHECK_EQUAL(c.published.load(), 2u);
  CAF_CHECK_EQUAL(c.confirmed.load(), 1u);
  CAF_CHECK_EQUAL(c.nacked.load(), 1u);
  CAF_CHECK_EQUAL(c.returned.load(), 0u);
  // A nack leaves the connection as it is.
  CAF_CHECK_EQUAL(counters->state(), "connected");
  // Several at once while full: each one nacked, none confirmed.
  using handle_type
      = decltype(self->request(pub, caf::infinite, atom::handle_v, event{}));
  std::vector<handle_type> pending;
  for (int i = 0; i < 5; ++i)
    pending.push_back(
        self->request(pub, caf::duration{15s}, atom::handle_v,
                      make_event("ev-full-burst-" + std::to_string(i))));
  size_t deferred = 0;
  for (auto& rh : pending)
    rh.receive([&](caf::ok_atom) { CAF_FAIL("confirmed while full"); },
               [&](caf::error& err) {
                 deferred += code_of(err) == ec::deferred ? 1 : 0;
               });
  CAF_CHECK_EQUAL(deferred, 5u);
  CAF_CHECK_EQUAL(c.nacked.load(), 6u);
  CAF_CHECK_EQUAL(c.confirmed.load(), 1u);
  // Drained, the same event goes through once.
  auto first = drain(q);
  CAF_REQUIRE_EQUAL(first.size(), 1u);
  CAF_CHECK_EQUAL(first.front().msg.message_id, "ev-full-1");
  CAF_CHECK(handle(pub, make_event("ev-full-2")));
  auto second = drain(q);
  CAF_REQUIRE_EQUAL(second.size(), 1u);
  CAF_CHECK_EQUAL(second.front().msg.message_id, "ev-full-2");
  CAF_CHECK_EQUAL(c.confirmed.load(), 2u);
}

CAF_TEST(an unreachable broker answers unavailable at once) {
  auto s = settings("herald.test.nowhere");
  s.url = "amqp://guest:secret-pw@127.0.0.1:1/";
  s.reconnect_min = 50ms;
  s.reconnect_max = 200ms;
  auto counters = std::make_shared<bridge_counters>(s);
  auto pub = spawn(s, counters);
  for (int i = 0; i < 3; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto res = handle(pub, make_event("ev-nowhere"), caf::duration{5s});
    auto elapsed = ms_since(start);
    CAF_REQUIRE(!res);
    CAF_CHECK_EQUAL(code_of(res.error()), ec::unavailable);
    CAF_CHECK_LESS(elapsed, 1000);
    auto text = render(res.error());
    CAF_CHECK_EQUAL(text.find("secret-pw"), std::string::npos);
    CAF_MESSAGE("after " << elapsed << " ms: " << text);
  }
  auto state = counters->state();
  CAF_CHECK_EQUAL(state.rfind("disconnected", 0), 0u);
  CAF_CHECK_EQUAL(state.find("secret-pw"), std::string::npos);
  CAF_CHECK_EQUAL(counters->outbound(0).published.load(), 0u);
}

CAF_TEST(500 concurrent requests are all confirmed) {
  constexpr size_t n = 500;
  auto x = new_exchange("batch");
  auto q = bound_queue(x);
  auto s = settings(x);
  auto counters = std::make_shared<bridge_counters>(s);
  auto pub = spawn(s, counters);
  auto start = std::chrono::steady_clock::now();
  using handle_type
      = decltype(self->request(pub, caf::infinite, atom::handle_v, event{}));
  std::vector<handle_type> pending;
  for (size_t i = 0; i < n; ++i)
    pending.push_back(
        self->request(pub, caf::duration{60s}, atom::handle_v,
                      make_event("ev-batch-" + std::to_string(i))));
  size_t ok = 0;
  for (auto& rh : pending)
    rh.receive([&](caf::ok_atom) { ++ok; },
               [&](caf::error& err) { CAF_MESSAGE("error: " << render(err)); });
  auto elapsed = ms_since(start);
  CAF_CHECK_EQUAL(ok, n);
  CAF_MESSAGE(n << " confirmed in " << elapsed << " ms");
  CAF_CHECK_EQUAL(counters->outbound(0).confirmed.load(), n);
  auto got = drain(q);
  CAF_CHECK_EQUAL(got.size(), n);
  std::set<std::string> ids;
  for (auto& d : got)
    ids.insert(d.msg.message_id);
  CAF_CHECK_EQUAL(ids.size(), n);
}

CAF_TEST(outside consumer) {
  auto ce_exchange = env("HERALD_AMQP_TEST_EXCHANGE");
  auto micro_exchange = env("HERALD_AMQP_TEST_MICRO_EXCHANGE");
  auto id = env("HERALD_AMQP_TEST_EVENT_ID", "ev-outside-1");
  if (ce_exchange.empty() && micro_exchange.empty()) {
    CAF_MESSAGE("no HERALD_AMQP_TEST_EXCHANGE: nothing to do");
    return;
  }
  if (!ce_exchange.empty()) {
    auto pub = spawn(settings(ce_exchange), nullptr);
    auto res = handle(pub, make_event(id));
    CAF_CHECK(res);
    if (!res)
      CAF_MESSAGE("cloudevents: " << render(res.error()));
  }
  if (!micro_exchange.empty()) {
    auto pub
        = spawn(settings(micro_exchange, false, wire_format::micro), nullptr);
    auto res = handle(pub, make_event(id));
    CAF_CHECK(res);
    if (!res)
      CAF_MESSAGE("micro: " << render(res.error()));
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
