#define CAF_SUITE amqp_live_consume

// The inbound side of the AMQP bridge against a real RabbitMQ
// (HERALD_TEST_AMQP_URL) with a real actor system: a consumer and its
// coordinator hand deliveries to a thread-safe recording handler; a second
// connection publishes and looks into the queues. Every test uses queues and
// an exchange of its own and deletes them afterwards.
//
// tests/integration/amqp_consume.py drives the last test from outside
// (an outside pika publisher) through the environment:
//
//   HERALD_AMQP_CONSUME_QUEUE     queue to consume; unset: the test is a nop
//   HERALD_AMQP_CONSUME_EXCHANGE  exchange it is bound to
//   HERALD_AMQP_CONSUME_BIND      binding keys, comma-separated
//   HERALD_AMQP_CONSUME_EXPECT    deliveries to wait for (consumed count)
//   HERALD_AMQP_CONSUME_READY     file written once the consumer consumes
//   HERALD_AMQP_CONSUME_VERDICT   file the outcome goes to (JSON: events the
//                                 handler got, counters, state)

#include "bridges/amqp/bridge.hpp"

#include "tests/test.hpp"

#include <fstream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <caf/scoped_actor.hpp>

#include "actors/event_bus.hpp"
#include "bridges/amqp/connection.hpp"
#include "bridges/amqp/consumer.hpp"
#include "bridges/amqp/inbound.hpp"
#include "tests/support/live_handler.hpp"

using namespace herald;
using namespace herald::amqp;
using namespace std::chrono_literals;
using json = nlohmann::json;
using herald::test::live_handler;
using herald::test::live_handler_actor;
using herald::test::live_log;

namespace {

std::string env(const char* name, std::string fallback = {}) {
  auto value = std::getenv(name);
  return value != nullptr ? std::string{value} : fallback;
}

// -- helpers ------------------------------------------------------------------

/// A CloudEvent as an outside publisher writes it.
message cloud_event(const std::string& id, const std::string& type,
                    json data = {{"user_id", 7}, {"email", "a@example.org"}}) {
  json doc{{"specversion", "1.0"},
           {"id", id},
           {"source", "outside-test"},
           {"type", type},
           {"time", "2026-01-02T03:04:05.678Z"},
           {"datacontenttype", "application/json"},
           {"data", std::move(data)}};
  message msg;
  msg.body = doc.dump();
  msg.content_type = "application/cloudevents+json";
  msg.message_id = id;
  msg.timestamp = 1767323045;
  return msg;
}

template <class Duration>
int64_t ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string header(const message& msg, const std::string& key) {
  auto i = msg.headers.find(key);
  return i != msg.headers.end() ? i->second : "(none)";
}

struct live_fixture {
  herald::test::config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::string url
      = env("HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5683/");
  std::string prefix;
  amqp_settings settings;
  std::shared_ptr<live_log> log = std::make_shared<live_log>();
  live_handler_actor handler = sys.spawn(live_handler, log);
  std::unique_ptr<connection> admin;
  std::shared_ptr<bridge_counters> counters;
  inbound_actor coordinator;
  caf::actor consumer_actor;

  live_fixture() {
    static int n = 0;
    prefix = "herald.test.consume." + std::to_string(getpid()) + "."
             + std::to_string(++n);
    settings.url = url;
    settings.prefetch = 4;
    settings.max_attempts = 3;
    settings.retry_delay = 200ms;
    settings.handler_timeout = 5s;
    settings.confirm_timeout = 5s;
    settings.reconnect_min = 100ms;
    settings.reconnect_max = 1000ms;
    inbound_route route;
    route.queue = prefix + ".in";
    route.exchange = prefix + ".events";
    route.bindings = {"user.created", "password.*"};
    route.handler = "mailer";
    settings.inbound.push_back(route);
    // The broker may still be starting (its node answers pings before its
    // AMQP listener is up).
    auto conn = connection::open(settings);
    for (int i = 0; !conn && i < 150; ++i) {
      std::this_thread::sleep_for(200ms);
      conn = connection::open(settings);
    }
    if (!conn)
      CAF_FAIL("cannot reach the test broker: " << render(conn.error()));
    admin = std::move(*conn);
  }

  ~live_fixture() {
    stop();
    self->send_exit(handler, caf::exit_reason::user_shutdown);
    if (!admin->usable())
      if (auto conn = connection::open(settings))
        admin = std::move(*conn);
    for (auto& route : settings.inbound) {
      for (auto& q : inbound_queues(settings, route))
        admin->delete_queue(q.name);
      admin->delete_exchange(route.exchange);
    }
  }

  const inbound_route& route() const { return settings.inbound.front(); }

  /// Spawns coordinator and consumer for settings.inbound[0]; waits until it
  /// consumes.
  void start() {
    counters = std::make_shared<bridge_counters>(settings);
    auto bell = std::make_shared<doorbell>();
    coordinator = sys.spawn(inbound, settings, route(), handler, bell);
    consumer_actor
        = sys.spawn(consumer, settings, size_t{0}, coordinator, counters, bell);
    self->monitor(consumer_actor);
    CAF_REQUIRE(eventually([&] { return counters->state() == "connected"; }));
  }

  /// Stops the consumer and waits until its connection is closed.
  void stop() {
    if (!consumer_actor)
      return;
    self->send_exit(consumer_actor, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {},
                  caf::after(10s) >>
                      [] { CAF_FAIL("the consumer did not stop"); });
    self->send_exit(coordinator, caf::exit_reason::user_shutdown);
    consumer_actor = nullptr;
  }

  route_counters& stats() { return counters->inbound(0); }

  template <class Predicate>
  bool eventually(Predicate pred, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  /// Publishes to the route's exchange (mandatory, confirmed).
  void publish(const message& msg, const std::string& key = "user.created") {
    auto errs = admin->publish(route().exchange, {{key, msg}}, 5s);
    CAF_REQUIRE_EQUAL(errs.size(), 1u);
    CAF_REQUIRE(!errs[0]);
  }

  /// Takes one message off `queue`.
  std::optional<delivery> get(const std::string& queue) {
    auto result = admin->get(queue);
    CAF_REQUIRE(result);
    return std::move(*result);
  }

  /// After the consumer stopped (unacked deliveries went back): no message
  /// is left in the main queue or a retry queue.
  void check_queues_empty() {
    std::this_thread::sleep_for(200ms);
    auto queues = inbound_queues(settings, route());
    for (size_t i = 0; i + 1 < queues.size(); ++i) {
      auto left = get(queues[i].name);
      if (left)
        CAF_MESSAGE(queues[i].name << " still holds " << left->msg.message_id);
      CAF_CHECK(!left);
    }
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(amqp_live_consume_tests, live_fixture)

CAF_TEST(a valid event reaches the handler and is acked) {
  start();
  publish(cloud_event("ev-ok-1", "user.created"));
  CAF_REQUIRE(eventually([&] { return stats().acked == 1; }));
  auto seen = log->events();
  CAF_REQUIRE_EQUAL(seen.size(), 1u);
  CAF_CHECK_EQUAL(seen[0].ev.id, "ev-ok-1");
  CAF_CHECK_EQUAL(seen[0].ev.topic, "user.created");
  CAF_CHECK_EQUAL(seen[0].ev.source, "outside-test");
  CAF_CHECK_EQUAL(seen[0].ev.attempts, 0u);
  auto data = json::parse(seen[0].ev.data);
  CAF_CHECK_EQUAL(data.value("user_id", 0), 7);
  CAF_CHECK_EQUAL(data.value("email", ""), "a@example.org");
  CAF_CHECK_EQUAL(stats().consumed, 1u);
  CAF_CHECK_EQUAL(stats().retried, 0u);
  CAF_CHECK_EQUAL(stats().dead_lettered, 0u);
  stop();
  check_queues_empty();
  CAF_CHECK(!get(dead_queue(route().queue)));
}

CAF_TEST(malformed messages go to the dead queue at once) {
  start();
  // More than the prefetch window, so that deliveries arrive while the
  // consumer waits for a dead-letter confirm.
  std::vector<message> bad;
  for (int i = 0; i < 6; ++i) {
    message msg;
    msg.body = i % 2 == 0 ? "this is not json " + std::to_string(i)
                          : R"({"specversion":"1.0","id":"x)"
                                + std::to_string(i) + R"("})";
    msg.content_type = "application/cloudevents+json";
    msg.message_id = "bad-" + std::to_string(i);
    msg.headers["trace"] = "t" + std::to_string(i);
    bad.push_back(msg);
    publish(msg, "password.reset_requested");
  }
  CAF_REQUIRE(eventually([&] { return stats().dead_lettered == 6; }));
  CAF_CHECK(log->events().empty());
  CAF_CHECK_EQUAL(stats().consumed, 6u);
  CAF_CHECK_EQUAL(stats().acked, 0u);
  stop();
  check_queues_empty();
  for (auto& msg : bad) {
    auto dead = get(dead_queue(route().queue));
    CAF_REQUIRE(dead);
    CAF_CHECK_EQUAL(dead->msg.body, msg.body);
    CAF_CHECK_EQUAL(dead->msg.message_id, msg.message_id);
    CAF_CHECK_EQUAL(header(dead->msg, "trace"), msg.headers["trace"]);
    CAF_CHECK_EQUAL(header(dead->msg, header_attempts), "0");
    CAF_MESSAGE("reason: " << header(dead->msg, header_reason));
    CAF_CHECK_EQUAL(header(dead->msg, header_reason).rfind("undecodable", 0),
                    0u);
    CAF_CHECK_EQUAL(header(dead->msg, header_original_routing_key),
                    "password.reset_requested");
    CAF_CHECK(dead->msg.persistent);
  }
  CAF_CHECK(!get(dead_queue(route().queue)));
}

CAF_TEST(a failing handler gets retries with growing delays) {
  settings.max_attempts = 4;
  start();
  log->fail_times("ev-retry", 2, ec::internal);
  publish(cloud_event("ev-retry", "user.created"));
  CAF_REQUIRE(eventually([&] { return stats().acked == 1; }));
  auto seen = log->events();
  CAF_REQUIRE_EQUAL(seen.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    CAF_CHECK_EQUAL(seen[i].ev.id, "ev-retry");
    CAF_CHECK_EQUAL(seen[i].ev.attempts, i);
    // Back from a retry queue, the topic is still the original one.
    CAF_CHECK_EQUAL(seen[i].ev.topic, "user.created");
  }
  auto first = seen[1].at - seen[0].at;
  auto second = seen[2].at - seen[1].at;
  CAF_MESSAGE("retry gaps: " << ms(first) << " ms, " << ms(second) << " ms");
  CAF_CHECK_GREATER_OR_EQUAL(ms(first), 180);
  CAF_CHECK_GREATER_OR_EQUAL(ms(second), 380);
  CAF_CHECK_GREATER(ms(second), ms(first));
  CAF_CHECK_EQUAL(stats().consumed, 3u);
  CAF_CHECK_EQUAL(stats().retried, 2u);
  CAF_CHECK_EQUAL(stats().dead_lettered, 0u);
  stop();
  check_queues_empty();
  CAF_CHECK(!get(dead_queue(route().queue)));
}

CAF_TEST(a handler failing for good sends the message to the dead queue) {
  settings.retry_delay = 100ms;
  start();
  log->fail_times("ev-doomed", 100, ec::internal);
  auto original = cloud_event("ev-doomed", "user.created");
  publish(original);
  CAF_REQUIRE(eventually([&] { return stats().dead_lettered == 1; }));
  CAF_CHECK_EQUAL(log->events().size(), 3u);
  CAF_CHECK_EQUAL(stats().retried, 2u);
  CAF_CHECK_EQUAL(stats().acked, 0u);
  stop();
  check_queues_empty();
  auto dead = get(dead_queue(route().queue));
  CAF_REQUIRE(dead);
  CAF_CHECK_EQUAL(dead->msg.body, original.body);
  CAF_CHECK_EQUAL(dead->msg.message_id, "ev-doomed");
  CAF_CHECK_EQUAL(dead->msg.content_type, original.content_type);
  CAF_CHECK_EQUAL(header(dead->msg, header_attempts), "3");
  CAF_CHECK_EQUAL(header(dead->msg, header_original_routing_key),
                  "user.created");
  CAF_CHECK_EQUAL(header(dead->msg, header_reason),
                  "internal: handler mailer: refusing ev-doomed");
}

CAF_TEST(an outage holds deliveries unacked and loses none) {
  // Longer than all retry delays together (200 + 400 ms): no attempt is
  // counted, nothing goes to a retry or dead queue.
  settings.outage_probe_min = 50ms;
  settings.outage_probe_max = 200ms;
  start();
  // Everything fails (one event failing while another one succeeds would
  // be that event's own failure, counted).
  log->fail_all(24);
  publish(cloud_event("ev-out-1", "user.created"));
  publish(cloud_event("ev-out-2", "user.created"));
  publish(cloud_event("ev-out-3", "user.created"));
  CAF_REQUIRE(eventually([&] { return stats().acked == 3; }, 20s));
  auto seen = log->events();
  CAF_MESSAGE("handler calls: " << seen.size());
  // 24 failures and one success each.
  CAF_CHECK_GREATER_OR_EQUAL(seen.size(), 27u);
  for (auto& entry : seen)
    CAF_CHECK_EQUAL(entry.ev.attempts, 0u);
  CAF_CHECK_EQUAL(stats().consumed, 3u);
  CAF_CHECK_EQUAL(stats().retried, 0u);
  CAF_CHECK_EQUAL(stats().dead_lettered, 0u);
  stop();
  check_queues_empty();
  CAF_CHECK(!get(dead_queue(route().queue)));
}

CAF_TEST(a deferral waits in a retry queue without counting an attempt) {
  settings.max_attempts = 2;
  settings.max_deferrals = 10;
  start();
  log->fail_times("ev-later", 3, ec::deferred);
  publish(cloud_event("ev-later", "user.created"));
  CAF_REQUIRE(eventually([&] { return stats().acked == 1; }));
  auto seen = log->events();
  CAF_REQUIRE_EQUAL(seen.size(), 4u);
  for (auto& entry : seen)
    CAF_CHECK_EQUAL(entry.ev.attempts, 0u);
  // Each deferral waited like a first retry (200 ms): one retry queue.
  for (size_t i = 1; i < seen.size(); ++i)
    CAF_CHECK_GREATER_OR_EQUAL(ms(seen[i].at - seen[i - 1].at), 180);
  CAF_CHECK_EQUAL(stats().retried, 3u);
  CAF_CHECK_EQUAL(stats().dead_lettered, 0u);
  stop();
  check_queues_empty();
  CAF_CHECK(!get(dead_queue(route().queue)));
}

CAF_TEST(prefetch bounds the deliveries in flight) {
  log->hold(true);
  start();
  for (int i = 0; i < 10; ++i)
    publish(cloud_event("ev-held-" + std::to_string(i), "user.created"));
  // Four at once, all handed over before any answer; no fifth meanwhile.
  CAF_REQUIRE(eventually([&] { return log->held() == 4; }));
  std::this_thread::sleep_for(500ms);
  CAF_CHECK_EQUAL(log->held(), 4u);
  CAF_CHECK_EQUAL(log->events().size(), 4u);
  CAF_CHECK_EQUAL(stats().consumed, 4u);
  CAF_CHECK_EQUAL(stats().acked, 0u);
  // Answer them four at a time: each time the next four come, no more.
  for (size_t done = 0; done < 10;) {
    auto batch = std::min<size_t>(4, 10 - done);
    CAF_REQUIRE(eventually([&] { return log->held() == batch; }));
    std::this_thread::sleep_for(100ms);
    CAF_CHECK_EQUAL(log->held(), batch);
    self->send(handler, atom::wake_v);
    done += batch;
    CAF_REQUIRE(eventually([&] { return stats().acked == done; }));
  }
  CAF_CHECK_EQUAL(log->max_held(), 4u);
  CAF_CHECK_EQUAL(log->events().size(), 10u);
  stop();
  check_queues_empty();
}

CAF_TEST(acks sent together never cover a delivery still in hand) {
  log->hold(true);
  start();
  for (int i = 0; i < 4; ++i)
    publish(cloud_event("ev-" + std::to_string(i), "user.created"));
  CAF_REQUIRE(eventually([&] { return log->held() == 4; }));
  // The three newest answered: acked, while the oldest (the lowest tag)
  // stays in hand, so no ack of the three may take it along.
  self->send(handler, atom::wake_v, uint32_t{1}, uint32_t{3});
  CAF_REQUIRE(eventually([&] { return stats().acked == 3; }));
  CAF_CHECK_EQUAL(log->held(), 1u);
  // Stopped, the consumer's connection closes: exactly the oldest comes
  // back to the queue (the broker requeues it once it sees the close).
  stop();
  std::optional<delivery> back;
  CAF_REQUIRE(eventually([&] {
    back = get(route().queue);
    return back.has_value();
  }));
  CAF_CHECK_EQUAL(back->msg.message_id, "ev-0");
  CAF_CHECK(!get(route().queue));
}

CAF_TEST(a lost consumer reconnects and declares its topology again) {
  start();
  publish(cloud_event("ev-before", "user.created"));
  CAF_REQUIRE(eventually([&] { return stats().acked == 1; }));
  // Deleting the queue cancels the consumer: it must reconnect, declare the
  // queue and its bindings again, and go on.
  CAF_REQUIRE(!admin->delete_queue(route().queue));
  CAF_REQUIRE(eventually([&] {
    return admin
               ->publish(
                   route().exchange,
                   {{"user.created", cloud_event("ev-after", "user.created")}},
                   5s)
               .front()
           == caf::none;
  }));
  CAF_REQUIRE(eventually([&] { return stats().acked == 2; }));
  auto events = log->events();
  CAF_CHECK_EQUAL(events.back().ev.id, "ev-after");
  CAF_CHECK_EQUAL(counters->state(), "connected");
}

CAF_TEST(after a lost connection deliveries come again and old outcomes drop) {
  log->hold(true);
  start();
  publish(cloud_event("ev-held", "user.created"));
  CAF_REQUIRE(eventually([&] { return log->held() == 1; }));
  // Without its dead-letter queue the consumer cannot dead-letter the next
  // (malformed) message: it drops its connection, with ev-held unacked.
  CAF_REQUIRE(!admin->delete_queue(dead_queue(route().queue)));
  message bad;
  bad.body = "not json";
  bad.message_id = "ev-bad";
  publish(bad);
  // Both come again on the next connection (its topology declared anew).
  CAF_REQUIRE(eventually([&] { return stats().dead_lettered == 1; }));
  CAF_REQUIRE(eventually([&] { return log->held() == 2; }));
  auto events = log->events();
  CAF_CHECK_EQUAL(events.at(1).ev.id, "ev-held");
  CAF_CHECK_EQUAL(stats().consumed, 4u);
  // The outcome for the first connection's delivery is dropped: its tag
  // (1) is the new delivery's tag, too, which must stay unacked.
  self->send(handler, atom::wake_v, uint32_t{1});
  std::this_thread::sleep_for(300ms);
  CAF_CHECK_EQUAL(stats().acked, 0u);
  CAF_CHECK_EQUAL(log->held(), 1u);
  self->send(handler, atom::wake_v);
  CAF_REQUIRE(eventually([&] { return stats().acked == 1; }));
  std::this_thread::sleep_for(200ms);
  CAF_CHECK_EQUAL(stats().acked, 1u);
  CAF_CHECK_EQUAL(counters->state(), "connected");
  stop();
  check_queues_empty();
  auto dead = get(dead_queue(route().queue));
  CAF_REQUIRE(dead);
  CAF_CHECK_EQUAL(dead->msg.message_id, "ev-bad");
}

CAF_TEST(the bridge publishes and consumes and reports its counters) {
  auto bus = sys.spawn(event_bus, std::chrono::seconds{10});
  // An unknown handler, or outbound routes without a bus: nothing spawned.
  auto bad = spawn_amqp_bridge(sys, settings, bus, {});
  CAF_CHECK_EQUAL(herald::test::code_of(bad.error()), ec::invalid_argument);
  // The bridge's own user.* events go out to the exchange its queue is bound
  // to: a round trip through publisher, broker, consumer and handler.
  outbound_route out;
  out.topics = {"user.*"};
  out.exchange = route().exchange;
  settings.outbound.push_back(out);
  bad = spawn_amqp_bridge(sys, settings, event_bus_actor{},
                          {{"mailer", handler}});
  CAF_CHECK_EQUAL(herald::test::code_of(bad.error()), ec::invalid_argument);
  auto bridge = spawn_amqp_bridge(sys, settings, bus, {{"mailer", handler}});
  CAF_REQUIRE(bridge);
  auto status = [&] {
    bridge_status result;
    self->request(*bridge, 5s, atom::bridge_v, atom::status_v)
        .receive([&](bridge_status& x) { result = std::move(x); },
                 [&](caf::error& err) { CAF_FAIL(render(err)); });
    return result;
  };
  CAF_REQUIRE(eventually([&] { return status().state == "connected"; }));
  event ev{"ev-round-trip",
           "user.created",
           1767323045678,
           "test-node",
           "user:7",
           R"({"user_id":7,"email":"a@example.org"})",
           1,
           0,
           ""};
  self->request(bus, 10s, atom::publish_v, ev)
      .receive([](caf::ok_atom) {},
               [](caf::error& err) { CAF_FAIL(render(err)); });
  // No subscriber (no outbound route) for password.*: ok, nothing sent.
  auto other = ev;
  other.id = "ev-not-routed";
  other.topic = "password.reset_requested";
  self->request(bus, 10s, atom::publish_v, other)
      .receive([](caf::ok_atom) {},
               [](caf::error& err) { CAF_FAIL(render(err)); });
  CAF_REQUIRE(eventually([&] { return status().routes.at(1).acked == 1; }));
  auto seen = log->events();
  CAF_REQUIRE_EQUAL(seen.size(), 1u);
  CAF_CHECK_EQUAL(seen[0].ev.id, "ev-round-trip");
  CAF_CHECK_EQUAL(seen[0].ev.topic, "user.created");
  CAF_CHECK(json::parse(seen[0].ev.data) == json::parse(ev.data));
  auto st = status();
  CAF_CHECK_EQUAL(st.broker, describe_broker(url));
  CAF_CHECK(st.broker.find("guest:") == std::string::npos);
  CAF_REQUIRE_EQUAL(st.routes.size(), 2u);
  CAF_CHECK_EQUAL(st.routes[0].route, "out user.* -> " + route().exchange);
  CAF_CHECK_EQUAL(st.routes[0].published, 1u);
  CAF_CHECK_EQUAL(st.routes[0].confirmed, 1u);
  CAF_CHECK_EQUAL(st.routes[1].route, "in " + route().queue + " -> mailer");
  CAF_CHECK_EQUAL(st.routes[1].consumed, 1u);
  // Down only once its parts are: the consumer's connection is closed.
  self->monitor(*bridge);
  self->send_exit(*bridge, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {});
  check_queues_empty();
  self->send_exit(bus, caf::exit_reason::user_shutdown);
}

CAF_TEST(a consumer driven from outside) {
  auto queue = env("HERALD_AMQP_CONSUME_QUEUE");
  if (queue.empty()) {
    CAF_MESSAGE("HERALD_AMQP_CONSUME_QUEUE not set: nothing to do");
    return;
  }
  auto& r = settings.inbound.front();
  r.queue = queue;
  r.exchange = env("HERALD_AMQP_CONSUME_EXCHANGE");
  r.bindings.clear();
  auto bind = env("HERALD_AMQP_CONSUME_BIND", "user.created");
  for (size_t pos = 0; pos != std::string::npos;) {
    auto comma = bind.find(',', pos);
    r.bindings.push_back(bind.substr(pos, comma - pos));
    pos = comma == std::string::npos ? comma : comma + 1;
  }
  start();
  if (auto path = env("HERALD_AMQP_CONSUME_READY"); !path.empty())
    std::ofstream{path} << "consuming\n";
  auto expect = std::stoul(env("HERALD_AMQP_CONSUME_EXPECT", "1"));
  auto done = eventually(
      [&] {
        return stats().consumed >= expect
               && stats().acked + stats().dead_lettered >= expect;
      },
      60s);
  std::this_thread::sleep_for(200ms);
  json verdict{{"done", done},
               {"state", counters->state()},
               {"consumed", stats().consumed.load()},
               {"acked", stats().acked.load()},
               {"retried", stats().retried.load()},
               {"dead_lettered", stats().dead_lettered.load()},
               {"events", json::array()}};
  for (auto& entry : log->events())
    verdict["events"].push_back({{"id", entry.ev.id},
                                 {"topic", entry.ev.topic},
                                 {"source", entry.ev.source},
                                 {"time", entry.ev.time},
                                 {"data", entry.ev.data},
                                 {"attempts", entry.ev.attempts}});
  stop();
  // The script owns its queues: keep them for its checks.
  settings.inbound.clear();
  if (auto path = env("HERALD_AMQP_CONSUME_VERDICT"); !path.empty())
    std::ofstream{path} << verdict.dump(2) << "\n";
  CAF_CHECK(done);
}

CAF_TEST_FIXTURE_SCOPE_END()
