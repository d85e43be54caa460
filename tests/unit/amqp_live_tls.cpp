#define CAF_SUITE amqp_live_tls

// AMQP over TLS (amqps) against the test RabbitMQ's TLS listener
// (HERALD_TEST_AMQPS_URL, the port after the plain one), whose certificate
// is signed by the throw-away CA scripts/local-servers makes
// (HERALD_TEST_AMQP_CA) and names the host localhost: the connection
// verifies the broker's certificate and host name, then carries the bridge's
// traffic like a plain one.

#include "bridges/amqp/bridge.hpp"

#include "tests/test.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/event_bus.hpp"
#include "bridges/amqp/connection.hpp"
#include "bridges/amqp/inbound.hpp"
#include "tests/support/live_handler.hpp"
#include "tests/support/recording_handler.hpp"

using namespace herald;
using namespace herald::amqp;
using namespace std::chrono_literals;
using herald::test::code_of;

namespace {

std::string env(const char* name, std::string fallback) {
  auto value = std::getenv(name);
  return value != nullptr ? std::string{value} : fallback;
}

struct fixture {
  herald::test::config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::string url
      = env("HERALD_TEST_AMQPS_URL", "amqps://guest:guest@localhost:5684/");
  std::string ca = env("HERALD_TEST_AMQP_CA", "");
  std::string prefix = "herald.test.tls." + std::to_string(getpid());

  amqp_settings settings() const {
    amqp_settings s;
    s.url = url;
    s.ca_file = ca;
    s.source = "herald-tls-test";
    s.connect_timeout = 10s;
    return s;
  }

  /// Opens a verified connection; the broker may still be starting.
  std::unique_ptr<connection> open() {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    auto conn = connection::open(settings());
    while (!conn && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(250ms);
      conn = connection::open(settings());
    }
    if (!conn)
      CAF_FAIL("cannot reach the test RabbitMQ over TLS at "
               << describe_broker(url) << ": " << render(conn.error()));
    return std::move(*conn);
  }

  /// A connection attempt with `s`, expected to fail; answers the error.
  caf::error refused(const amqp_settings& s) {
    auto conn = connection::open(s);
    CAF_REQUIRE(!conn);
    return conn.error();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(amqp_live_tls_tests, fixture)

CAF_TEST(a verified connection publishes and reads back) {
  CAF_REQUIRE(!ca.empty());
  auto conn = open();
  auto queue = prefix + ".plain";
  queue_options opts;
  opts.expires_ms = 60000;
  CAF_REQUIRE(!conn->declare_queue(queue, opts));
  message msg;
  msg.body = R"({"over":"tls"})";
  msg.content_type = "application/json";
  msg.message_id = "tls-1";
  auto errs = conn->publish("", {{queue, msg}}, 10s);
  CAF_REQUIRE_EQUAL(errs.size(), 1u);
  CAF_CHECK(!errs[0]);
  auto got = conn->get(queue);
  CAF_REQUIRE(got);
  CAF_REQUIRE(*got);
  CAF_CHECK_EQUAL((*got)->msg.body, msg.body);
  CAF_CHECK_EQUAL((*got)->msg.message_id, "tls-1");
  CAF_CHECK(!conn->delete_queue(queue));
}

CAF_TEST(a broker the CA did not sign is refused) {
  // Without our CA only the system's CAs count: the test CA is not one.
  auto s = settings();
  s.ca_file.clear();
  open(); // the broker is up
  auto err = refused(s);
  CAF_CHECK_EQUAL(code_of(err), ec::unavailable);
  CAF_CHECK_NOT_EQUAL(render(err).find("verif"), std::string::npos);
  CAF_CHECK_EQUAL(render(err).find("guest:guest"), std::string::npos);
  // A CA file that cannot be read is a configuration error.
  s.ca_file = "/nonexistent/ca.pem";
  CAF_CHECK_EQUAL(code_of(refused(s)), ec::invalid_argument);
}

CAF_TEST(a certificate for another host name is refused) {
  open(); // the broker is up
  // The certificate is for the host name localhost; 127.0.0.1 reaches the
  // same listener under another name.
  auto s = settings();
  auto at = s.url.find("localhost");
  CAF_REQUIRE_NOT_EQUAL(at, std::string::npos);
  s.url.replace(at, 9, "127.0.0.1");
  auto err = refused(s);
  CAF_CHECK_EQUAL(code_of(err), ec::unavailable);
  CAF_CHECK_NOT_EQUAL(render(err).find("hostname"), std::string::npos);
}

CAF_TEST(the bridge publishes and consumes over TLS) {
  open(); // the broker is up
  auto s = settings();
  auto exchange = prefix + ".events";
  s.outbound.push_back(
      {{topic_user_created}, exchange, true, wire_format::cloudevents});
  inbound_route route;
  route.queue = prefix + ".in";
  route.exchange = exchange;
  route.bindings = {topic_user_created};
  route.handler = "mailer";
  s.inbound.push_back(route);
  auto log = std::make_shared<herald::test::live_log>();
  auto handler = sys.spawn(herald::test::live_handler, log);
  auto bus = sys.spawn(event_bus, std::chrono::seconds{10});
  auto bridge = spawn_amqp_bridge(sys, s, bus, {{"mailer", handler}});
  CAF_REQUIRE(bridge);
  // Published once the consumer's queue is bound (the publisher is
  // mandatory: unroutable events are refused).
  auto ev = herald::test::make_event(topic_user_created, "user:7", 7);
  ev.id = "tls-event-1";
  ev.data = R"({"user_id":7,"email":"tls@example.org"})";
  bool published = false;
  for (int i = 0; i < 100 && !published; ++i) {
    self->request(bus, 15s, atom::publish_v, ev)
        .receive([&](caf::ok_atom) { published = true; },
                 [&](caf::error&) { std::this_thread::sleep_for(100ms); });
  }
  CAF_REQUIRE(published);
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (log->events().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  auto events = log->events();
  CAF_REQUIRE_EQUAL(events.size(), 1u);
  CAF_CHECK_EQUAL(events.front().ev.id, "tls-event-1");
  bridge_status st;
  deadline = std::chrono::steady_clock::now() + 10s;
  do {
    self->request(*bridge, 5s, atom::bridge_v, atom::status_v)
        .receive([&](bridge_status& x) { st = std::move(x); },
                 [](caf::error& err) { CAF_FAIL(render(err)); });
  } while (st.routes.at(1).acked < 1
           && std::chrono::steady_clock::now() < deadline);
  CAF_CHECK_EQUAL(st.routes.at(0).confirmed, 1u);
  CAF_CHECK_EQUAL(st.routes.at(1).acked, 1u);
  CAF_CHECK_EQUAL(st.broker.find("guest:guest"), std::string::npos);
  self->send_exit(*bridge, caf::exit_reason::user_shutdown);
  self->wait_for(*bridge);
  self->send_exit(bus, caf::exit_reason::user_shutdown);
  self->send_exit(handler, caf::exit_reason::user_shutdown);
  if (auto conn = connection::open(s)) {
    for (auto& q : inbound_queues(s, route))
      (*conn)->delete_queue(q.name);
    (*conn)->delete_exchange(exchange);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
