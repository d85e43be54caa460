#include "bridges/http/metrics.hpp"

#include <array>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "messages/context.hpp"

namespace herald::http {

namespace {

/// 0.5 ms .. 5 s: a token validation takes well under a millisecond, a login
/// waits for argon2id (tens of ms, more when the hashers are saturated).
const prometheus::Histogram::BucketBoundaries& duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,  0.5,    1.0,   2.5,  5.0};
  return b;
}

/// A method outside the standard ones is "other": clients must not be able
/// to make a time series per request.
const char* method_label(const std::string& method) {
  static constexpr std::array<const char*, 7> known{
      "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (auto* m : known)
    if (method == m)
      return m;
  return "other";
}

/// Finds or makes the metric of `labels` in `family`, caching the pointer
/// under `key` (Family::Add would build a new metric before looking up the
/// labels; the cache's shared lock keeps the common case cheap).
template <class T, class... Args>
T& cached(std::shared_mutex& mtx, std::unordered_map<std::string, T*>& cache,
          const std::string& key, prometheus::Family<T>& family,
          const std::function<prometheus::Labels()>& labels, Args&&... args) {
  {
    std::shared_lock<std::shared_mutex> guard{mtx};
    if (auto i = cache.find(key); i != cache.end())
      return *i->second;
  }
  std::unique_lock<std::shared_mutex> guard{mtx};
  if (auto i = cache.find(key); i != cache.end())
    return *i->second;
  auto& metric = family.Add(labels(), std::forward<Args>(args)...);
  cache.emplace(key, &metric);
  return metric;
}

/// Gauges of one scrape, in a registry of their own that lives only as long
/// as the scrape: a part that did not answer leaves no stale figures behind.
class sample {
public:
  void gauge(const std::string& name, const std::string& help, double value,
             const prometheus::Labels& labels = {}) {
    auto i = families_.find(name);
    if (i == families_.end())
      i = families_
              .emplace(name,
                       &prometheus::BuildGauge().Name(name).Help(help).Register(
                           registry_))
              .first;
    i->second->Add(labels).Set(value);
  }

  std::vector<prometheus::MetricFamily> collect() const {
    return registry_.Collect();
  }

private:
  prometheus::Registry registry_;
  std::unordered_map<std::string, prometheus::Family<prometheus::Gauge>*>
      families_;
};

void add_outbox(sample& s, const outbox_status& x) {
  s.gauge("herald_outbox_pending", "Outbox rows waiting for delivery.",
          static_cast<double>(x.pending));
  s.gauge("herald_outbox_oldest_age_seconds",
          "Age of the oldest pending outbox row (0 if none).",
          static_cast<double>(x.oldest_age_ms) / 1000.0);
  s.gauge("herald_outbox_dead",
          "Outbox rows given up on after the configured attempts.",
          static_cast<double>(x.dead));
}

void add_bridge(sample& s, const bridge_status& x) {
  s.gauge("herald_bridge_connected",
          "1 while the AMQP bridge is connected to its broker.",
          x.state == "connected" ? 1.0 : 0.0);
  struct field {
    const char* name;
    const char* help;
    uint64_t route_stats::*member;
  };
  static const std::array<field, 8> fields{{
      {"herald_bridge_published", "Events published on the route.",
       &route_stats::published},
      {"herald_bridge_confirmed", "Publications the broker confirmed.",
       &route_stats::confirmed},
      {"herald_bridge_returned", "Publications returned as unroutable.",
       &route_stats::returned},
      {"herald_bridge_nacked", "Publications the broker refused for now.",
       &route_stats::nacked},
      {"herald_bridge_consumed", "Deliveries consumed on the route.",
       &route_stats::consumed},
      {"herald_bridge_acked", "Deliveries acknowledged on the route.",
       &route_stats::acked},
      {"herald_bridge_retried", "Deliveries retried on the route.",
       &route_stats::retried},
      {"herald_bridge_dead_lettered", "Deliveries dead-lettered on the route.",
       &route_stats::dead_lettered},
  }};
  for (auto& r : x.routes)
    for (auto& f : fields)
      s.gauge(f.name,
              std::string{f.help} + " Sampled since the bridge started.",
              static_cast<double>(r.*f.member), {{"route", r.route}});
}

void add_hasher(sample& s, const hasher_status& x) {
  s.gauge("herald_hasher_workers", "Password hashing workers running.",
          x.workers);
  s.gauge("herald_hasher_busy", "Password hashing workers at work.", x.busy);
  s.gauge("herald_hasher_queue",
          "Hash and verify requests waiting for a worker.", x.queued);
}

void add_node(sample& s, const node_status& x) {
  s.gauge("herald_storage_up", "1 if the node's last storage check passed.",
          x.storage_state == "ok" ? 1.0 : 0.0);
  for (auto& c : x.components)
    s.gauge("herald_component_up", "1 while a node component is running.",
            c.state == "running" ? 1.0 : 0.0, {{"component", c.name}});
}

} // namespace

// -- metrics ------------------------------------------------------------------

struct metrics::impl {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& requests
      = prometheus::BuildCounter()
            .Name("herald_http_requests_total")
            .Help("HTTP requests answered, by route template, method and "
                  "status.")
            .Register(registry);
  prometheus::Family<prometheus::Histogram>& durations
      = prometheus::BuildHistogram()
            .Name("herald_http_request_duration_seconds")
            .Help("Time from a request's arrival to its answer, by route "
                  "template and method.")
            .Register(registry);
  prometheus::Family<prometheus::Counter>& logins
      = prometheus::BuildCounter()
            .Name("herald_logins_total")
            .Help("Logins by outcome (success, failure, throttled).")
            .Register(registry);
  std::array<prometheus::Counter*, 3> login_counters{
      &logins.Add({{"outcome", "success"}}),
      &logins.Add({{"outcome", "failure"}}),
      &logins.Add({{"outcome", "throttled"}})};

  std::shared_mutex mtx;
  std::unordered_map<std::string, prometheus::Counter*> request_cache;
  std::unordered_map<std::string, prometheus::Histogram*> duration_cache;
};

metrics::metrics() : impl_(std::make_unique<impl>()) {
  // nop
}

metrics::~metrics() = default;

void metrics::request(const std::string& route, const std::string& method,
                      unsigned status, double seconds) {
  auto m = method_label(method);
  if (status < 100 || status > 599)
    status = 0;
  auto st = std::to_string(status);
  auto key = route;
  key += '\0';
  key += m;
  auto& histogram = cached(
      impl_->mtx, impl_->duration_cache, key, impl_->durations,
      [&] {
        return prometheus::Labels{{"route", route}, {"method", m}};
      },
      duration_buckets());
  key += '\0';
  key += st;
  auto& counter
      = cached(impl_->mtx, impl_->request_cache, key, impl_->requests, [&] {
          return prometheus::Labels{
              {"route", route}, {"method", m}, {"status", st}};
        });
  counter.Increment();
  histogram.Observe(seconds >= 0 ? seconds : 0.0);
}

void metrics::login(login_outcome outcome) {
  auto i = static_cast<size_t>(outcome);
  if (i < impl_->login_counters.size())
    impl_->login_counters[i]->Increment();
}

std::string metrics::render(const node_figures& figures) const {
  auto families = impl_->registry.Collect();
  sample s;
  if (figures.outbox)
    add_outbox(s, *figures.outbox);
  if (figures.bridge)
    add_bridge(s, *figures.bridge);
  if (figures.hasher)
    add_hasher(s, *figures.hasher);
  if (figures.node)
    add_node(s, *figures.node);
  for (auto& f : s.collect())
    families.push_back(std::move(f));
  return prometheus::TextSerializer{}.Serialize(families);
}

// -- collect ------------------------------------------------------------------

namespace {

/// What one collection has so far; shared by the replies' handlers and the
/// actor's exit hook, whichever finishes it.
struct collection {
  node_figures figures;
  size_t pending = 0;
  bool done = false;
  std::function<void(node_figures)> deliver;
  /// The collector itself, so that it lives until its last answer or
  /// timeout although nobody else holds it; dropped when it ends.
  caf::actor keep_alive;

  void finish() {
    if (done)
      return;
    done = true;
    deliver(std::move(figures));
  }
};

void collector(caf::event_based_actor* self, node_actor node,
               amqp_bridge_actor bridge, hasher_actor hasher,
               caf::timespan timeout, std::shared_ptr<collection> c) {
  // Calls `done` even if the actor ends before every answer came (the
  // system shuts down): exactly once, whatever happens.
  self->attach_functor([c] { c->finish(); });
  auto end = [self, c] {
    c->finish();
    self->quit();
    c->keep_alive = nullptr;
  };
  auto one_done = [c, end] {
    if (--c->pending == 0)
      end();
  };
  auto ignore = [one_done](const caf::error&) { one_done(); };
  if (node) {
    c->pending += 2;
    request_context ctx{new_request_id(), "gateway:metrics"};
    self->request(node, timeout, atom::status_v, std::move(ctx))
        .then(
            [c, one_done](node_status& x) {
              c->figures.node = std::move(x);
              one_done();
            },
            ignore);
    self->request(node, timeout, atom::outbox_v, atom::status_v)
        .then(
            [c, one_done](outbox_status& x) {
              c->figures.outbox = std::move(x);
              one_done();
            },
            ignore);
  }
  if (bridge) {
    ++c->pending;
    self->request(bridge, timeout, atom::bridge_v, atom::status_v)
        .then(
            [c, one_done](bridge_status& x) {
              c->figures.bridge = std::move(x);
              one_done();
            },
            ignore);
  }
  if (hasher) {
    ++c->pending;
    self->request(hasher, timeout, atom::status_v)
        .then(
            [c, one_done](hasher_status& x) {
              c->figures.hasher = x;
              one_done();
            },
            ignore);
  }
  if (c->pending == 0)
    end();
  else
    c->keep_alive = caf::actor_cast<caf::actor>(self);
}

} // namespace

void collect(caf::actor_system& sys, node_actor node, amqp_bridge_actor bridge,
             hasher_actor hasher, caf::timespan timeout,
             std::function<void(node_figures)> done) {
  auto c = std::make_shared<collection>();
  c->deliver = std::move(done);
  sys.spawn(collector, std::move(node), std::move(bridge), std::move(hasher),
            timeout, std::move(c));
}

} // namespace herald::http
