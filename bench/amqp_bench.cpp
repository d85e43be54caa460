// herald-amqp-bench: herald's AMQP bridge against a running RabbitMQ, each
// figure against a raw rabbitmq-c baseline (bench/amqp_raw.hpp) measured in
// the same run with the same durability, printed as a ratio.
//
//   herald-amqp-bench URL [events] [latency samples] [rounds] [limit, s]
//
// Throughput runs alternate raw and herald `rounds` times (default 5, the
// order switching each round; the machine's noise is large) and print the
// medians, and the median of the per-round ratios with their range.
//
// 1. outbox -> broker-confirmed: `events` user.created rows in the in-memory
//    outbox, the real relay, event bus and publisher; until the relay deleted
//    the last row (after its confirm). Raw: the same messages published on
//    one connection with confirms, as many unconfirmed as the relay's batch.
// 2. queue -> handler-acked: the queue preloaded with `events` CloudEvents,
//    the bridge's consumer with a handler that answers ok at once; from the
//    first handler call until the bridge counts every message acked. Raw:
//    basic.consume with the same prefetch, basic.ack each, from the first
//    delivery to the last ack.
// 3. publish -> handler latency, one event at a time: bus -> publisher ->
//    broker -> consumer -> handler. Raw: publish with confirm on one
//    connection, a consumer on a second one.
//
// Exchanges and queues are named herald.bench.<pid>.* and deleted at the
// end. Any error ends the program with exit code 1.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/event_bus.hpp"
#include "actors/outbox_relay.hpp"
#include "bench/amqp_raw.hpp"
#include "bridges/amqp/bridge.hpp"
#include "bridges/amqp/inbound.hpp"
#include "messages/error.hpp"
#include "messages/type_ids.hpp"
#include "tests/support/fake_storage.hpp"

using namespace herald;
using namespace herald::bench;
using namespace std::chrono_literals;

namespace {

struct bench_config : caf::actor_system_config {
  bench_config() {
    herald::add_message_types(*this);
    // The node's scheduler defaults (see node_config).
    set("work-stealing.aggressive-poll-attempts", size_t{0});
    set("work-stealing.moderate-poll-attempts", size_t{0});
  }
};

struct params {
  std::string url;
  size_t events = 20000;
  size_t samples = 500;
  /// Rounds of raw and herald, alternating; the medians are reported.
  size_t rounds = 5;
  /// Limit of each measurement.
  std::chrono::seconds limit{120};
  std::string prefix = "herald.bench." + std::to_string(getpid());
  /// Relay settings of the outbox benchmark; batch is the raw window, too.
  outbox_settings outbox;

  clock_type::time_point deadline() const { return clock_type::now() + limit; }
};

// -- helpers ------------------------------------------------------------------

/// Answers ok at once and records the call in `seen`.
event_handler_actor::behavior_type
noop_handler(event_handler_actor::pointer, std::shared_ptr<arrivals> seen) {
  return {[seen](atom::handle, const event&) {
    seen->record();
    return caf::ok_atom_v;
  }};
}

bridge_status status_of(caf::scoped_actor& self, const amqp_bridge_actor& b) {
  bridge_status result;
  self->request(b, 5s, atom::bridge_v, atom::status_v)
      .receive([&](bridge_status& x) { result = std::move(x); },
               [](caf::error& err) { die("bridge status: " + render(err)); });
  return result;
}

/// Sends an exit and waits until `who` is down (the bridge: its connections
/// closed, unacked deliveries back in their queue).
template <class Handle>
void stop(caf::scoped_actor& self, const Handle& who) {
  self->monitor(who);
  self->send_exit(who, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {},
                caf::after(30s) >> [] { die("an actor did not stop"); });
}

amqp::amqp_settings base_settings(const params& p) {
  amqp::amqp_settings s;
  s.url = p.url;
  s.source = "herald-bench";
  return s;
}

std::unique_ptr<amqp::connection> admin(const amqp::amqp_settings& s) {
  auto conn = amqp::connection::open(s);
  if (!conn)
    die("admin connection: " + render(conn.error()));
  return std::move(*conn);
}

/// Messages ready in `queue`, on a connection of its own (a connection left
/// idle during a long measurement would miss its heartbeats).
uint32_t ready(const params& p, const std::string& queue) {
  return raw_connection{p.url}.ready(queue);
}

void require(const caf::error& err) {
  if (err)
    die(render(err));
}

/// `queue` bound to `<queue>.events` for user.created, handled by "bench".
amqp::inbound_route bench_route(const std::string& queue) {
  amqp::inbound_route route;
  route.queue = queue;
  route.exchange = queue + ".events";
  route.bindings = {topic_user_created};
  route.handler = "bench";
  return route;
}

/// Declares the topology of settings.inbound[0] as the bridge does.
void declare_inbound(amqp::connection& adm, const amqp::amqp_settings& s) {
  auto& route = s.inbound.front();
  require(adm.declare_exchange(route.exchange, route.exchange_durable));
  for (auto& q : amqp::inbound_queues(s, route))
    require(adm.declare_queue(q.name, q.options));
  for (auto& b : amqp::inbound_bindings(route))
    require(adm.bind(route.queue, b.exchange, b.routing_key));
}

void delete_inbound(amqp::connection& adm, const amqp::amqp_settings& s) {
  auto& route = s.inbound.front();
  for (auto& q : amqp::inbound_queues(s, route))
    require(adm.delete_queue(q.name));
  require(adm.delete_exchange(route.exchange));
}

/// CPU time per event: herald's threads (the actors; the main thread only
/// drives and polls) against the raw baseline's one thread, setup included.
struct cpu_per_event {
  explicit cpu_per_event(size_t n) : events(static_cast<double>(n)) {
    // nop
  }

  double events;
  std::vector<double> herald_us;
  std::vector<double> raw_us;

  void herald(cpu_split x) { herald_us.push_back(x.other_threads_us / events); }

  void raw(cpu_split x) { raw_us.push_back(x.this_thread_us / events); }

  void print() const {
    std::printf("  CPU per event (median): herald's threads %.1f us, raw "
                "%.1f us\n",
                median(herald_us), median(raw_us));
    std::fflush(stdout);
  }
};

// -- 1. outbox -> broker-confirmed --------------------------------------------

/// One herald run: the outbox preloaded with `events`, the relay started
/// once the publisher is connected; events per second until the relay
/// deleted the last row (which it does only after the broker confirmed it).
double herald_outbox(caf::actor_system& sys, const params& p,
                     const amqp::amqp_settings& s,
                     const std::vector<event>& events) {
  auto store = std::make_shared<test::fake_store>();
  for (auto& ev : events)
    store->outbox.emplace(ev.seq, ev);
  store->next_seq = events.size() + 1;
  // The storage actor says when the outbox emptied: this thread sleeps
  // until then rather than asking in a loop (which would take CPU and
  // timers from what it measures).
  auto emptied = std::make_shared<arrivals>();
  store->after_outbox_done = [emptied](const test::fake_store& st) {
    if (st.outbox.empty())
      emptied->record();
  };
  caf::scoped_actor self{sys};
  auto storage = sys.spawn(test::fake_storage, store);
  auto bus = sys.spawn(event_bus, std::chrono::seconds{60});
  auto bridge = amqp::spawn_amqp_bridge(sys, s, bus, {});
  if (!bridge)
    die("spawning the bridge: " + render(bridge.error()));
  wait_for([&] { return status_of(self, *bridge).state == "connected"; },
           p.deadline(), "the publisher to connect");
  auto start = now_ns();
  auto relay = sys.spawn(outbox_relay, p.outbox, storage, bus);
  emptied->await(1, p.deadline());
  auto secs = static_cast<double>(emptied->first_ns - start) / 1e9;
  outbox_status st;
  self->request(relay, 5s, atom::outbox_v, atom::status_v)
      .receive([&](outbox_status& x) { st = std::move(x); },
               [](caf::error& err) { die("outbox status: " + render(err)); });
  if (st.pending != 0 || st.dead > 0 || !st.last_error.empty())
    die("outbox: " + std::to_string(st.pending) + " pending, "
        + std::to_string(st.dead) + " dead " + st.last_error);
  if (status_of(self, *bridge).routes.at(0).confirmed != events.size())
    die("herald: confirmed count is off");
  stop(self, relay);
  stop(self, *bridge);
  stop(self, bus);
  stop(self, storage);
  return static_cast<double>(events.size()) / secs;
}

void bench_outbox(caf::actor_system& sys, const params& p) {
  auto exchange = p.prefix + ".out";
  auto sink = p.prefix + ".out.sink";
  auto s = base_settings(p);
  s.outbound.push_back(
      {{topic_user_created}, exchange, true, amqp::wire_format::cloudevents});
  {
    // Mandatory publishing needs a route.
    auto adm = admin(s);
    require(adm->declare_exchange(exchange, true));
    require(adm->declare_queue(sink, {}));
    require(adm->bind(sink, exchange, topic_user_created));
  }
  auto events = make_events(p.events, "out");
  auto msgs = encode_all(events);
  auto check_and_purge = [&] {
    if (ready(p, sink) != p.events)
      die("the sink queue does not hold every message");
    raw_connection{p.url}.purge(sink);
  };
  cpu_per_event cpu{p.events};
  auto rates = alternate(
      p.rounds,
      [&] {
        double rate = 0;
        cpu.raw(cpu_during([&] {
          rate = raw_publish(p.url, exchange, topic_user_created, msgs,
                             p.outbox.batch, p.deadline());
        }));
        check_and_purge();
        return rate;
      },
      [&] {
        double rate = 0;
        cpu.herald(
            cpu_during([&] { rate = herald_outbox(sys, p, s, events); }));
        check_and_purge();
        return rate;
      });
  char label[64];
  std::snprintf(label, sizeof(label), "outbox -> broker-confirmed (batch %u)",
                p.outbox.batch);
  report(label, rates.herald, rates.raw, "ev/s");
  cpu.print();
  auto adm = admin(s);
  require(adm->delete_queue(sink));
  require(adm->delete_exchange(exchange));
}

// -- 2. queue -> handler-acked ------------------------------------------------

/// One herald run over the preloaded queue: events per second from the
/// first handler call until the bridge counted every message acked.
double herald_inbound(caf::actor_system& sys, const params& p,
                      const amqp::amqp_settings& s) {
  auto& queue = s.inbound.front().queue;
  caf::scoped_actor self{sys};
  auto seen = std::make_shared<arrivals>();
  auto handler = sys.spawn(noop_handler, seen);
  auto bridge = amqp::spawn_amqp_bridge(sys, s, event_bus_actor{},
                                        {{"bench", handler}});
  if (!bridge)
    die("spawning the bridge: " + render(bridge.error()));
  // Every delivery handled first (the handler wakes this thread once), then
  // the bridge's acked count (polled for the last acks).
  auto deadline = p.deadline();
  seen->await(p.events, deadline);
  route_stats stats;
  for (;;) {
    stats = status_of(self, *bridge).routes.at(0);
    if (stats.acked >= p.events)
      break;
    if (clock_type::now() > deadline)
      die("herald: " + std::to_string(stats.acked) + " acked");
    std::this_thread::sleep_for(1ms);
  }
  auto secs = static_cast<double>(now_ns() - seen->first_ns) / 1e9;
  // Its connection closed, anything unacked would be back in the queue.
  stop(self, *bridge);
  stop(self, handler);
  if (seen->count != p.events || stats.acked != p.events || stats.retried > 0
      || stats.dead_lettered > 0 || ready(p, queue) != 0
      || ready(p, amqp::dead_queue(queue)) != 0)
    die("herald: not every message handled and acked exactly once");
  return static_cast<double>(p.events) / secs;
}

void bench_inbound(caf::actor_system& sys, const params& p, uint16_t prefetch) {
  auto s = base_settings(p);
  s.prefetch = prefetch;
  s.inbound.push_back(bench_route(p.prefix + ".in" + std::to_string(prefetch)));
  auto& queue = s.inbound.front().queue;
  declare_inbound(*admin(s), s);
  auto msgs = encode_all(make_events(p.events, "in"));
  auto preload = [&] {
    raw_publish(p.url, s.inbound.front().exchange, topic_user_created, msgs,
                100, p.deadline());
    if (ready(p, queue) != p.events)
      die("the preloaded queue does not hold every message");
  };
  cpu_per_event cpu{p.events};
  auto rates = alternate(
      p.rounds,
      [&] {
        preload();
        double rate = 0;
        cpu.raw(cpu_during([&] {
          rate = raw_consume(p.url, queue, prefetch, p.events, p.deadline());
        }));
        if (ready(p, queue) != 0)
          die("raw: messages left in the queue");
        return rate;
      },
      [&] {
        preload();
        double rate = 0;
        cpu.herald(cpu_during([&] { rate = herald_inbound(sys, p, s); }));
        return rate;
      });
  char label[64];
  std::snprintf(label, sizeof(label), "queue -> handler-acked (prefetch %u)",
                prefetch);
  report(label, rates.herald, rates.raw, "ev/s");
  cpu.print();
  delete_inbound(*admin(s), s);
}

// -- 3. publish -> handler latency --------------------------------------------

void bench_latency(caf::actor_system& sys, const params& p) {
  auto s = base_settings(p);
  auto name = p.prefix + ".lat";
  s.outbound.push_back({{topic_user_created},
                        name + ".events",
                        true,
                        amqp::wire_format::cloudevents});
  s.inbound.push_back(bench_route(name));
  auto& exchange = s.inbound.front().exchange;
  declare_inbound(*admin(s), s);
  auto events = make_events(p.samples + 1, "lat");
  auto raw = raw_latencies(p.url, exchange, topic_user_created, name,
                           s.prefetch, encode_all(events), p.deadline());
  // Herald.
  caf::scoped_actor self{sys};
  auto seen = std::make_shared<arrivals>();
  auto handler = sys.spawn(noop_handler, seen);
  auto bus = sys.spawn(event_bus, std::chrono::seconds{60});
  auto bridge = amqp::spawn_amqp_bridge(sys, s, bus, {{"bench", handler}});
  if (!bridge)
    die("spawning the bridge: " + render(bridge.error()));
  wait_for([&] { return status_of(self, *bridge).state == "connected"; },
           p.deadline(), "the bridge to connect");
  auto ours
      = paced_latencies(*seen, events.size(), p.deadline(), [&](size_t i) {
          self->request(bus, 10s, atom::publish_v, events[i])
              .receive([](caf::ok_atom) {},
                       [](caf::error& err) { die("publish: " + render(err)); });
        });
  report("latency publish -> handler p50", {percentile(ours, 0.5)},
         {percentile(raw, 0.5)}, "us");
  report("latency publish -> handler p99", {percentile(ours, 0.99)},
         {percentile(raw, 0.99)}, "us");
  stop(self, *bridge);
  stop(self, bus);
  stop(self, handler);
  delete_inbound(*admin(s), s);
}

} // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  if (argc < 2 || argc > 6) {
    std::fprintf(stderr, "usage: herald-amqp-bench URL [events] [latency "
                         "samples] [rounds] [time limit, seconds]\n");
    return 2;
  }
  params p;
  p.url = argv[1];
  p.events = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : p.events;
  p.samples = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : p.samples;
  p.rounds = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : p.rounds;
  p.limit = std::chrono::seconds{argc > 5 ? std::atoi(argv[5]) : 120};
  if (p.events < 1 || p.events > 1000000 || p.samples < 1 || p.samples > 100000
      || p.rounds < 1 || p.rounds > 100 || p.limit.count() < 1) {
    std::fprintf(stderr, "events 1..1000000, samples 1..100000, rounds "
                         "1..100, limit > 0\n");
    return 2;
  }
  p.outbox.batch = 100;
  p.outbox.poll_interval = 50ms;
  std::printf("%zu events, medians of %zu rounds; %zu latency samples; "
              "persistent, confirms, manual acks\n",
              p.events, p.rounds, p.samples);
  // HERALD_BENCH_AMQP_ONLY=out|in|latency runs one part (profiling).
  auto only = std::getenv("HERALD_BENCH_AMQP_ONLY");
  auto part = [&](const char* name) {
    return only == nullptr || *only == '\0' || std::strcmp(only, name) == 0;
  };
  bench_config cfg;
  caf::actor_system sys{cfg};
  if (part("out"))
    bench_outbox(sys, p);
  if (part("in")) {
    bench_inbound(sys, p, amqp::amqp_settings{}.prefetch);
    bench_inbound(sys, p, 100);
  }
  if (part("latency"))
    bench_latency(sys, p);
  return 0;
}
