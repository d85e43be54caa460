// herald-codec-bench: the AMQP bridge's wire codec, one user.created event at
// a time, each against nlohmann::json doing the plain part of the same work
// in the same run, printed as a ratio (above 1: herald is faster).
//
//   herald-codec-bench [rounds]
//
// decode: amqp::decode of a CloudEvent delivery (checks, attributes, data as
//         text, the ordering key) vs json::parse of its body into a tree.
// encode: amqp::encode of the event (the whole AMQP message) vs json::dump of
//         the same body as a tree built beforehand.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/report.hpp"
#include "bridges/amqp/codec.hpp"

using namespace herald;
using namespace herald::bench;

namespace {

using clock_type = std::chrono::steady_clock;

/// Calls per second of `f` over `n` calls; `sink` keeps the work alive.
template <class F>
double rate(size_t n, F f) {
  size_t sink = 0;
  auto start = clock_type::now();
  for (size_t i = 0; i < n; ++i)
    sink += f();
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  if (sink == 0)
    std::fprintf(stderr, "(nothing done)\n");
  return static_cast<double>(n) / secs;
}

} // namespace

int main(int argc, char** argv) {
  size_t rounds = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 5;
  if (rounds < 1 || rounds > 100) {
    std::fprintf(stderr, "usage: herald-codec-bench [rounds 1..100]\n");
    return 2;
  }
  event ev;
  ev.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  ev.topic = topic_user_created;
  ev.time = 1763860000123;
  ev.source = "node-a";
  ev.key = "user:42";
  ev.data = R"({"user_id":42,"name":"Ada Lovelace",)"
            R"("email":"ada@example.org","role":"user"})";
  amqp::delivery d;
  d.routing_key = ev.topic;
  d.msg = amqp::encode(ev, amqp::wire_format::cloudevents, "node-a");
  auto tree = nlohmann::json::parse(d.msg.body);
  constexpr size_t n = 200000;
  std::printf("one %zu-byte CloudEvent, %zu calls per round, medians of %zu "
              "rounds\n",
              d.msg.body.size(), n, rounds);
  auto decode = alternate(
      rounds,
      [&] {
        return rate(n,
                    [&] { return nlohmann::json::parse(d.msg.body).size(); });
      },
      [&] {
        return rate(n, [&] {
          auto x = amqp::decode(d, amqp::wire_format::cloudevents);
          return x ? x->data.size() : 0;
        });
      });
  report("decode vs json::parse", decode.herald, decode.raw, "ev/s");
  auto encode = alternate(
      rounds, [&] { return rate(n, [&] { return tree.dump().size(); }); },
      [&] {
        return rate(n, [&] {
          return amqp::encode(ev, amqp::wire_format::cloudevents, "node-a")
              .body.size();
        });
      });
  report("encode vs json::dump", encode.herald, encode.raw, "ev/s");
  return 0;
}
