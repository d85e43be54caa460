#define CAF_SUITE http_metrics

#include "bridges/http/metrics.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "tests/test.hpp"

using namespace herald;
using namespace herald::http;
using namespace std::chrono_literals;

namespace {

// -- a small parser of the text format (0.0.4)
// ---------------------------------

/// One exposition, parsed: samples by "name{label="value",...}" with labels
/// in name order, and the declared type of every family.
struct exposition {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  std::vector<std::string> errors;

  bool has(const std::string& key) const { return samples.count(key) > 0; }

  double at(const std::string& key) const {
    auto i = samples.find(key);
    return i == samples.end() ? -1.0 : i->second;
  }

  /// Whether any sample's name starts with `prefix`.
  bool any(const std::string& prefix) const {
    for (auto& [key, value] : samples)
      if (key.compare(0, prefix.size(), prefix) == 0)
        return true;
    return false;
  }
};

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
         || c == ':' || (!first && c >= '0' && c <= '9');
}

/// Reads a metric or label name at `pos`.
std::string read_name(const std::string& line, size_t& pos) {
  auto start = pos;
  while (pos < line.size() && name_char(line[pos], pos == start))
    ++pos;
  return line.substr(start, pos - start);
}

/// The family a sample belongs to: histograms add _bucket, _sum, _count.
std::string family_of(const std::string& name,
                      const std::map<std::string, std::string>& types) {
  if (types.count(name))
    return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s = suffix;
    if (name.size() > s.size()
        && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      auto base = name.substr(0, name.size() - s.size());
      auto i = types.find(base);
      if (i != types.end() && i->second == "histogram")
        return base;
    }
  }
  return "";
}

exposition parse(const std::string& text) {
  exposition out;
  size_t start = 0;
  size_t line_no = 0;
  auto fail = [&](const std::string& why, const std::string& line) {
    out.errors.push_back("line " + std::to_string(line_no) + ": " + why + ": "
                         + line);
  };
  if (!text.empty() && text.back() != '\n')
    out.errors.push_back("the text does not end with a newline");
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    auto line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.empty())
      continue;
    if (line[0] == '#') {
      // "# HELP name text" or "# TYPE name type"
      if (line.compare(0, 7, "# HELP ") == 0) {
        size_t pos = 7;
        auto name = read_name(line, pos);
        if (name.empty() || pos >= line.size() || line[pos] != ' ')
          fail("bad HELP", line);
        out.helps.insert(name);
      } else if (line.compare(0, 7, "# TYPE ") == 0) {
        size_t pos = 7;
        auto name = read_name(line, pos);
        auto type = pos < line.size() ? line.substr(pos + 1) : "";
        static const std::set<std::string> known{
            "counter", "gauge", "histogram", "summary", "untyped"};
        if (name.empty() || !known.count(type))
          fail("bad TYPE", line);
        if (out.types.count(name))
          fail("family declared twice", line);
        out.types[name] = type;
      } else {
        fail("unknown comment", line);
      }
      continue;
    }
    size_t pos = 0;
    auto name = read_name(line, pos);
    if (name.empty()) {
      fail("no metric name", line);
      continue;
    }
    if (family_of(name, out.types).empty())
      fail("sample without a TYPE before it", line);
    std::map<std::string, std::string> labels;
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        auto label = read_name(line, pos);
        if (label.empty() || pos + 1 >= line.size() || line[pos] != '='
            || line[pos + 1] != '"') {
          fail("bad label", line);
          break;
        }
        pos += 2;
        std::string value;
        bool closed = false;
        while (pos < line.size()) {
          auto c = line[pos++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\' && pos < line.size()) {
            auto e = line[pos++];
            if (e == 'n')
              value += '\n';
            else if (e == '\\' || e == '"')
              value += e;
            else
              fail("bad escape", line);
          } else {
            value += c;
          }
        }
        if (!closed)
          fail("unterminated label value", line);
        if (labels.count(label))
          fail("label given twice", line);
        labels[label] = value;
        if (pos < line.size() && line[pos] == ',')
          ++pos;
      }
      if (pos >= line.size() || line[pos] != '}') {
        fail("labels not closed", line);
        continue;
      }
      ++pos;
    }
    if (pos >= line.size() || line[pos] != ' ') {
      fail("no value", line);
      continue;
    }
    auto value_text = line.substr(pos + 1);
    // An optional timestamp would follow the value; prometheus-cpp adds none.
    double value = 0;
    if (value_text == "+Inf")
      value = HUGE_VAL;
    else if (value_text == "-Inf")
      value = -HUGE_VAL;
    else {
      try {
        size_t used = 0;
        value = std::stod(value_text, &used);
        if (used != value_text.size())
          fail("trailing text after the value", line);
      } catch (const std::exception&) {
        fail("value is not a number", line);
        continue;
      }
    }
    // The key escapes nothing: tests compare with keys built by key().
    std::string key = name;
    if (!labels.empty()) {
      key += '{';
      bool first = true;
      for (auto& [k, v] : labels) {
        if (!first)
          key += ',';
        first = false;
        key += k + "=\"" + v + "\"";
      }
      key += '}';
    }
    if (out.samples.count(key))
      fail("sample given twice", line);
    out.samples[key] = value;
  }
  for (auto& [name, type] : out.types)
    if (!out.helps.count(name))
      out.errors.push_back("no HELP for " + name);
  return out;
}

/// Parses and fails the test on any syntax error.
exposition parse_checked(const std::string& text) {
  auto out = parse(text);
  for (auto& e : out.errors)
    CAF_MESSAGE("exposition: " << e);
  CAF_CHECK(out.errors.empty());
  return out;
}

const std::string user_route = "/v1/users/{id}";

std::string requests_key(const std::string& route, const std::string& method,
                         const std::string& status) {
  return "herald_http_requests_total{method=\"" + method + "\",route=\"" + route
         + "\",status=\"" + status + "\"}";
}

std::string bucket_key(const std::string& route, const std::string& method,
                       const std::string& le) {
  return "herald_http_request_duration_seconds_bucket{le=\"" + le
         + "\",method=\"" + method + "\",route=\"" + route + "\"}";
}

node_figures all_figures() {
  node_figures f;
  outbox_status ob;
  ob.pending = 7;
  ob.dead = 2;
  ob.oldest_age_ms = 1500;
  f.outbox = ob;
  bridge_status br;
  br.broker = "amqp://guest@127.0.0.1:5672/";
  br.state = "connected";
  route_stats out;
  out.route = "out user.* -> herald.events";
  out.published = 10;
  out.confirmed = 9;
  out.nacked = 1;
  route_stats in;
  in.route = "in herald.mailer -> mailer";
  in.consumed = 5;
  in.acked = 4;
  in.dead_lettered = 1;
  br.routes = {out, in};
  f.bridge = br;
  f.hasher = hasher_status{4, 3, 12};
  node_status ns;
  ns.storage_state = "ok";
  ns.components = {{"storage", "running", 0, 0},
                   {"hasher", "restarting", 1, 0},
                   {"user", "failed: boom", 0, 0}};
  f.node = ns;
  return f;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(http_metrics_tests, herald::test::fixture)

// -- render -------------------------------------------------------------------

CAF_TEST(a fresh registry renders valid text with zero logins) {
  metrics m;
  auto e = parse_checked(m.render({}));
  CAF_CHECK_EQUAL(e.types["herald_logins_total"], "counter");
  CAF_CHECK_EQUAL(e.at("herald_logins_total{outcome=\"success\"}"), 0.0);
  CAF_CHECK_EQUAL(e.at("herald_logins_total{outcome=\"failure\"}"), 0.0);
  CAF_CHECK_EQUAL(e.at("herald_logins_total{outcome=\"throttled\"}"), 0.0);
  CAF_CHECK(!e.any("herald_http_requests_total"));
}

CAF_TEST(counters go up by route method and status) {
  metrics m;
  m.request(user_route, "GET", 200, 0.002);
  m.request(user_route, "GET", 200, 0.004);
  m.request(user_route, "GET", 404, 0.001);
  m.request("unmatched", "POST", 404, 0.001);
  m.login(login_outcome::failure);
  m.login(login_outcome::failure);
  m.login(login_outcome::throttled);
  auto e = parse_checked(m.render({}));
  CAF_CHECK_EQUAL(e.types["herald_http_requests_total"], "counter");
  CAF_CHECK_EQUAL(e.at(requests_key(user_route, "GET", "200")), 2.0);
  CAF_CHECK_EQUAL(e.at(requests_key(user_route, "GET", "404")), 1.0);
  CAF_CHECK_EQUAL(e.at(requests_key("unmatched", "POST", "404")), 1.0);
  CAF_CHECK_EQUAL(e.at("herald_logins_total{outcome=\"success\"}"), 0.0);
  CAF_CHECK_EQUAL(e.at("herald_logins_total{outcome=\"failure\"}"), 2.0);
  CAF_CHECK_EQUAL(e.at("herald_logins_total{outcome=\"throttled\"}"), 1.0);
  // A second scrape sees the same totals plus what came since.
  m.request(user_route, "GET", 200, 0.002);
  auto again = parse_checked(m.render({}));
  CAF_CHECK_EQUAL(again.at(requests_key(user_route, "GET", "200")), 3.0);
}

CAF_TEST(histogram buckets count every observation at or below their bound) {
  metrics m;
  for (double s : {0.0003, 0.0005, 0.003, 0.3, 4.0, 10.0})
    m.request(user_route, "PATCH", 200, s);
  auto e = parse_checked(m.render({}));
  CAF_CHECK_EQUAL(e.types["herald_http_request_duration_seconds"], "histogram");
  CAF_CHECK_EQUAL(e.at(bucket_key(user_route, "PATCH", "0.0005")), 2.0);
  CAF_CHECK_EQUAL(e.at(bucket_key(user_route, "PATCH", "0.001")), 2.0);
  CAF_CHECK_EQUAL(e.at(bucket_key(user_route, "PATCH", "0.005")), 3.0);
  CAF_CHECK_EQUAL(e.at(bucket_key(user_route, "PATCH", "0.5")), 4.0);
  CAF_CHECK_EQUAL(e.at(bucket_key(user_route, "PATCH", "5")), 5.0);
  CAF_CHECK_EQUAL(e.at(bucket_key(user_route, "PATCH", "+Inf")), 6.0);
  auto labels = "{method=\"PATCH\",route=\"" + user_route + "\"}";
  CAF_CHECK_EQUAL(e.at("herald_http_request_duration_seconds_count" + labels),
                  6.0);
  auto sum = e.at("herald_http_request_duration_seconds_sum" + labels);
  CAF_CHECK(sum > 14.3037 && sum < 14.3039);
  // The buckets span 0.5 ms to 5 s.
  size_t buckets = 0;
  for (auto& [key, value] : e.samples)
    if (key.rfind("herald_http_request_duration_seconds_bucket", 0) == 0)
      ++buckets;
  CAF_CHECK_EQUAL(buckets, 14u);
  CAF_CHECK(e.has(bucket_key(user_route, "PATCH", "0.0005")));
  CAF_CHECK(!e.has(bucket_key(user_route, "PATCH", "10")));
}

CAF_TEST(label values are escaped and clients cannot make new series) {
  metrics m;
  std::string odd = "/v1/\"quoted\"\\back\nline";
  m.request(odd, "GET", 200, 0.001);
  m.request(user_route, "BREW", 200, 0.001);
  m.request(user_route, "brew2", 200, 0.001);
  m.request(user_route, "GET", 999, 0.001);
  m.request(user_route, "GET", 42, -1.0);
  auto text = m.render({});
  auto e = parse_checked(text);
  CAF_CHECK_EQUAL(e.at(requests_key(odd, "GET", "200")), 1.0);
  CAF_CHECK(text.find("\\\"quoted\\\"\\\\back\\nline") != std::string::npos);
  CAF_CHECK_EQUAL(e.at(requests_key(user_route, "other", "200")), 2.0);
  CAF_CHECK(text.find("BREW") == std::string::npos);
  CAF_CHECK_EQUAL(e.at(requests_key(user_route, "GET", "0")), 2.0);
  // A negative duration counts as zero, never below the first bucket.
  CAF_CHECK_EQUAL(e.at(bucket_key(user_route, "GET", "0.0005")), 1.0);
}

CAF_TEST(concurrent requests from four threads are all counted) {
  metrics m;
  constexpr int threads = 4;
  constexpr int per_thread = 10000;
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      while (!go.load())
        std::this_thread::yield();
      for (int i = 0; i < per_thread; ++i) {
        m.request(user_route, "GET", 200, 0.001);
        // Some new series while others count: the cache grows under load.
        if (i % 1000 == 0)
          m.request("/v1/t" + std::to_string(t) + "/" + std::to_string(i),
                    "POST", 201, 0.01);
        if (i % 100 == 0)
          m.login(login_outcome::success);
      }
    });
  // Scrapes meanwhile must not disturb the counting.
  go = true;
  for (int i = 0; i < 20; ++i)
    CAF_CHECK(parse(m.render({})).errors.empty());
  for (auto& t : ts)
    t.join();
  auto e = parse_checked(m.render({}));
  CAF_CHECK_EQUAL(e.at(requests_key(user_route, "GET", "200")),
                  double{threads * per_thread});
  auto labels = "{method=\"GET\",route=\"" + user_route + "\"}";
  CAF_CHECK_EQUAL(e.at("herald_http_request_duration_seconds_count" + labels),
                  double{threads * per_thread});
  CAF_CHECK_EQUAL(e.at("herald_logins_total{outcome=\"success\"}"),
                  double{threads * per_thread / 100});
  CAF_CHECK_EQUAL(e.at(requests_key("/v1/t3/9000", "POST", "201")), 1.0);
}

CAF_TEST(sampled figures render as gauges) {
  metrics m;
  auto e = parse_checked(m.render(all_figures()));
  CAF_CHECK_EQUAL(e.types["herald_outbox_pending"], "gauge");
  CAF_CHECK_EQUAL(e.at("herald_outbox_pending"), 7.0);
  CAF_CHECK_EQUAL(e.at("herald_outbox_dead"), 2.0);
  CAF_CHECK_EQUAL(e.at("herald_outbox_oldest_age_seconds"), 1.5);
  CAF_CHECK_EQUAL(e.at("herald_bridge_connected"), 1.0);
  auto out = "{route=\"out user.* -> herald.events\"}";
  auto in = "{route=\"in herald.mailer -> mailer\"}";
  CAF_CHECK_EQUAL(e.types["herald_bridge_published"], "gauge");
  CAF_CHECK_EQUAL(e.at(std::string{"herald_bridge_published"} + out), 10.0);
  CAF_CHECK_EQUAL(e.at(std::string{"herald_bridge_confirmed"} + out), 9.0);
  CAF_CHECK_EQUAL(e.at(std::string{"herald_bridge_nacked"} + out), 1.0);
  CAF_CHECK_EQUAL(e.at(std::string{"herald_bridge_returned"} + out), 0.0);
  CAF_CHECK_EQUAL(e.at(std::string{"herald_bridge_consumed"} + in), 5.0);
  CAF_CHECK_EQUAL(e.at(std::string{"herald_bridge_acked"} + in), 4.0);
  CAF_CHECK_EQUAL(e.at(std::string{"herald_bridge_retried"} + in), 0.0);
  CAF_CHECK_EQUAL(e.at(std::string{"herald_bridge_dead_lettered"} + in), 1.0);
  CAF_CHECK_EQUAL(e.at("herald_hasher_workers"), 4.0);
  CAF_CHECK_EQUAL(e.at("herald_hasher_busy"), 3.0);
  CAF_CHECK_EQUAL(e.at("herald_hasher_queue"), 12.0);
  CAF_CHECK_EQUAL(e.at("herald_storage_up"), 1.0);
  CAF_CHECK_EQUAL(e.at("herald_component_up{component=\"storage\"}"), 1.0);
  CAF_CHECK_EQUAL(e.at("herald_component_up{component=\"hasher\"}"), 0.0);
  CAF_CHECK_EQUAL(e.at("herald_component_up{component=\"user\"}"), 0.0);
  auto down = all_figures();
  down.bridge->state = "disconnected: connection refused";
  down.node->storage_state = "unreachable";
  auto d = parse_checked(m.render(down));
  CAF_CHECK_EQUAL(d.at("herald_bridge_connected"), 0.0);
  CAF_CHECK_EQUAL(d.at("herald_storage_up"), 0.0);
}

CAF_TEST(parts that did not answer render nothing) {
  metrics m;
  // A full scrape first: nothing of it may linger in the next one.
  parse_checked(m.render(all_figures()));
  auto none = parse_checked(m.render({}));
  for (auto prefix : {"herald_outbox", "herald_bridge", "herald_hasher",
                      "herald_component", "herald_storage"}) {
    CAF_CHECK(!none.any(prefix));
    for (auto& [name, type] : none.types)
      CAF_CHECK(name.rfind(prefix, 0) != 0);
  }
  auto some = all_figures();
  some.bridge.reset();
  some.node.reset();
  auto e = parse_checked(m.render(some));
  CAF_CHECK(e.any("herald_outbox_pending"));
  CAF_CHECK(e.any("herald_hasher_queue"));
  CAF_CHECK(!e.any("herald_bridge"));
  CAF_CHECK(!e.any("herald_component_up"));
}

CAF_TEST(the parser catches broken text) {
  // The checks above mean something only if the parser can fail.
  CAF_CHECK(!parse("x 1\n").errors.empty());
  CAF_CHECK(!parse("# TYPE x gauge\n# HELP x h\nx{a=\"b} 1\n").errors.empty());
  CAF_CHECK(
      !parse("# TYPE x gauge\n# HELP x h\nx{a=\"\\q\"} 1\n").errors.empty());
  CAF_CHECK(!parse("# TYPE x gauge\n# HELP x h\nx one\n").errors.empty());
  CAF_CHECK(!parse("# TYPE x gauge\nx 1\n").errors.empty());
  CAF_CHECK(
      parse("# HELP x h\n# TYPE x gauge\nx{a=\"\\\"\"} 1\n").errors.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- collect ------------------------------------------------------------------

namespace {

/// Unanswered promises, kept so that no broken-promise error answers them.
template <class T>
using held_promises
    = std::shared_ptr<std::vector<caf::typed_response_promise<T>>>;

node_actor::behavior_type fake_node(node_actor::pointer self, bool answer,
                                    held_promises<node_status> held) {
  auto none = [](auto&&...) { return caf::make_error(ec::unavailable); };
  return {
      [](atom::ping) { return std::string{"fake"}; },
      [self, answer, held](atom::status,
                           request_context&) -> caf::result<node_status> {
        if (!answer) {
          held->push_back(self->make_response_promise<node_status>());
          return held->back();
        }
        node_status ns;
        ns.storage_state = "ok";
        ns.components = {{"storage", "running", 0, 0}};
        return ns;
      },
      [none](atom::get, atom::user) -> caf::result<user_actor> {
        return none();
      },
      [none](atom::get, atom::session) -> caf::result<session_actor> {
        return none();
      },
      [none](atom::get, atom::token) -> caf::result<token_actor> {
        return none();
      },
      [none](atom::get, atom::reset) -> caf::result<password_reset_actor> {
        return none();
      },
      [](atom::outbox, atom::status) -> caf::result<outbox_status> {
        outbox_status ob;
        ob.pending = 3;
        return ob;
      },
      [none](atom::get, atom::bridge) -> caf::result<amqp_bridge_actor> {
        return none();
      },
      [none](atom::join,
             member_info&) -> caf::result<std::vector<member_info>> {
        return none();
      },
      [none](atom::cluster, atom::status,
             request_context&) -> caf::result<cluster_status> {
        return none();
      },
  };
}

amqp_bridge_actor::behavior_type
silent_bridge(amqp_bridge_actor::pointer self,
              held_promises<bridge_status> held) {
  return {
      [self, held](atom::bridge, atom::status) -> caf::result<bridge_status> {
        held->push_back(self->make_response_promise<bridge_status>());
        return held->back();
      },
  };
}

hasher_actor::behavior_type fake_hasher(hasher_actor::pointer) {
  return {
      [](atom::hash, const std::string&) -> caf::result<std::string> {
        return caf::make_error(ec::unavailable);
      },
      [](atom::verify, const std::string&,
         const std::string&) -> caf::result<password_check> {
        return caf::make_error(ec::unavailable);
      },
      [](atom::status) {
        return hasher_status{2, 1, 5};
      },
  };
}

/// Records every call of `done`.
struct calls {
  std::mutex mtx;
  std::vector<node_figures> seen;

  std::function<void(node_figures)> recorder() {
    return [this](node_figures f) {
      std::lock_guard<std::mutex> guard{mtx};
      seen.push_back(std::move(f));
    };
  }

  size_t count() {
    std::lock_guard<std::mutex> guard{mtx};
    return seen.size();
  }

  /// Waits until at least one call came or `limit` passed.
  bool wait_first(std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (count() == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(5ms);
    return count() > 0;
  }
};

} // namespace

CAF_TEST(collect answers once with what answered before the timeout) {
  herald::test::config cfg;
  caf::actor_system sys{cfg};
  auto node_held = std::make_shared<
      std::vector<caf::typed_response_promise<node_status>>>();
  auto bridge_held = std::make_shared<
      std::vector<caf::typed_response_promise<bridge_status>>>();
  auto node = sys.spawn(fake_node, true, node_held);
  auto bridge = sys.spawn(silent_bridge, bridge_held);
  auto hasher = sys.spawn(fake_hasher);
  calls c;
  auto started = std::chrono::steady_clock::now();
  collect(sys, node, bridge, hasher, 300ms, c.recorder());
  CAF_REQUIRE(c.wait_first(5s));
  auto took = std::chrono::steady_clock::now() - started;
  // The silent bridge held it up until the timeout, not longer.
  CAF_CHECK(took >= 250ms);
  CAF_CHECK(took < 3s);
  // Nothing more comes later.
  std::this_thread::sleep_for(300ms);
  CAF_REQUIRE_EQUAL(c.count(), 1u);
  auto& f = c.seen.front();
  CAF_CHECK(!f.bridge);
  CAF_REQUIRE(f.node);
  CAF_CHECK_EQUAL(f.node->components.size(), 1u);
  CAF_REQUIRE(f.outbox);
  CAF_CHECK_EQUAL(f.outbox->pending, 3u);
  CAF_REQUIRE(f.hasher);
  CAF_CHECK_EQUAL(f.hasher->queued, 5u);
  // What it collected renders.
  metrics m;
  auto e = parse_checked(m.render(f));
  CAF_CHECK_EQUAL(e.at("herald_outbox_pending"), 3.0);
  CAF_CHECK_EQUAL(e.at("herald_hasher_queue"), 5.0);
  CAF_CHECK(!e.any("herald_bridge"));
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(hasher, caf::exit_reason::user_shutdown);
}

CAF_TEST(collect answers once when nothing answers or nothing is asked) {
  herald::test::config cfg;
  caf::actor_system sys{cfg};
  auto node_held = std::make_shared<
      std::vector<caf::typed_response_promise<node_status>>>();
  auto bridge_held = std::make_shared<
      std::vector<caf::typed_response_promise<bridge_status>>>();
  auto node = sys.spawn(fake_node, false, node_held);
  auto bridge = sys.spawn(silent_bridge, bridge_held);
  {
    // The node's status hangs, its outbox answers; the bridge hangs.
    calls c;
    collect(sys, node, bridge, hasher_actor{}, 100ms, c.recorder());
    CAF_REQUIRE(c.wait_first(5s));
    std::this_thread::sleep_for(200ms);
    CAF_REQUIRE_EQUAL(c.count(), 1u);
    CAF_CHECK(!c.seen.front().node);
    CAF_CHECK(c.seen.front().outbox);
    CAF_CHECK(!c.seen.front().bridge);
    CAF_CHECK(!c.seen.front().hasher);
  }
  {
    // A node that is gone answers at once with an error: still one call.
    auto gone = sys.spawn(fake_node, true, node_held);
    {
      // Gone for sure before collect() asks it: wait for its down message.
      caf::scoped_actor self{sys};
      self->monitor(gone);
      caf::anon_send_exit(gone, caf::exit_reason::kill);
      self->receive([](const caf::down_msg&) {});
    }
    calls c;
    collect(sys, gone, amqp_bridge_actor{}, hasher_actor{}, 2s, c.recorder());
    CAF_REQUIRE(c.wait_first(1500ms));
    std::this_thread::sleep_for(100ms);
    CAF_REQUIRE_EQUAL(c.count(), 1u);
    CAF_CHECK(!c.seen.front().node);
    CAF_CHECK(!c.seen.front().outbox);
  }
  {
    calls c;
    collect(sys, node_actor{}, amqp_bridge_actor{}, hasher_actor{}, 1s,
            c.recorder());
    CAF_REQUIRE(c.wait_first(500ms));
    CAF_CHECK_EQUAL(c.count(), 1u);
  }
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(bridge, caf::exit_reason::user_shutdown);
}
