// The raw side of herald-amqp-bench, and what both sides share: the events,
// timing and printing. The raw baselines are rabbitmq-c with nothing around
// it doing the broker work herald's AMQP bridge does (persistent messages,
// mandatory publishing with confirms, manual acks, the same prefetch). Any
// failure ends the program with exit code 1.
#pragma once

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/report.hpp"
#include "bridges/amqp/codec.hpp"
#include "bridges/amqp/connection.hpp"
#include "messages/event.hpp"

namespace herald::bench {

// -- what both sides share ---------------------------------------------------

using clock_type = std::chrono::steady_clock;

[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "herald-amqp-bench: %s\n", what.c_str());
  std::fflush(stdout);
  std::_Exit(1); // Without waiting for actors and connections.
}

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock_type::now().time_since_epoch())
      .count();
}

/// Polls `pred` until it holds; fatal after `deadline`.
template <class Predicate>
inline void wait_for(Predicate pred, clock_type::time_point deadline,
                     const std::string& what) {
  while (!pred()) {
    if (clock_type::now() > deadline)
      die("timed out waiting for " + what);
    std::this_thread::sleep_for(std::chrono::microseconds{100});
  }
}

/// user.created events with distinct keys, as the user actor writes them.
inline std::vector<event> make_events(size_t n, const std::string& tag) {
  std::vector<event> result;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (size_t i = 0; i < n; ++i) {
    event ev;
    ev.seq = i + 1;
    ev.id = "bench-" + tag + "-" + std::to_string(i);
    ev.topic = topic_user_created;
    ev.time = now_ms;
    ev.source = "herald-bench";
    auto user = std::to_string(i + 1);
    ev.key = "user:" + user;
    ev.data = R"({"user_id":)" + user + R"(,"name":"bench)" + user
              + R"(","email":"bench)" + user
              + R"(@example.org","role":"user"})";
    result.push_back(std::move(ev));
  }
  return result;
}

/// The events as herald publishes them (CloudEvents).
inline std::vector<amqp::message> encode_all(const std::vector<event>& events) {
  std::vector<amqp::message> result;
  for (auto& ev : events)
    result.push_back(amqp::encode(ev, amqp::wire_format::cloudevents, "bench"));
  return result;
}

/// What a consumer saw: deliveries so far and when the last one came.
struct arrivals {
  std::atomic<uint64_t> count{0};
  std::atomic<int64_t> first_ns{0};
  std::atomic<int64_t> last_ns{0};

  void record() {
    auto t = now_ns();
    int64_t none = 0;
    first_ns.compare_exchange_strong(none, t);
    last_ns = t;
    if (++count == target) {
      std::lock_guard<std::mutex> guard{mtx};
      reached.notify_all();
    }
  }

  /// Sleeps until `n` arrived (one wake-up: a waiting thread polling every
  /// few microseconds would take CPU from the side it measures); fatal
  /// after `deadline`.
  void await(uint64_t n, clock_type::time_point deadline) {
    target = n;
    std::unique_lock<std::mutex> guard{mtx};
    if (!reached.wait_until(guard, deadline, [&] { return count >= n; }))
      die("timed out after " + std::to_string(count) + " of "
          + std::to_string(n) + " deliveries");
  }

private:
  std::atomic<uint64_t> target{0};
  std::mutex mtx;
  std::condition_variable reached;
};

/// Latencies in microseconds of `n` events sent one at a time, 1 ms apart:
/// `send(i)` sends event i, `seen` records its arrival; the first one warms
/// up and is not counted.
template <class Send>
std::vector<double> paced_latencies(arrivals& seen, size_t n,
                                    clock_type::time_point deadline,
                                    Send send) {
  std::vector<double> result;
  for (size_t i = 0; i < n; ++i) {
    auto t0 = now_ns();
    send(i);
    wait_for([&] { return seen.count > i; }, deadline, "a delivery");
    if (i > 0)
      result.push_back(static_cast<double>(seen.last_ns - t0) / 1e3);
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return result;
}

// -- raw rabbitmq-c -----------------------------------------------------------

inline amqp_bytes_t bytes(const std::string& s) {
  return {s.size(), const_cast<char*>(s.data())};
}

/// One rabbitmq-c connection with channel 1, as herald opens it (frame_max
/// 128 KiB, heartbeat 10 s).
class raw_connection {
public:
  explicit raw_connection(std::string url) : state_(amqp_new_connection()) {
    amqp_connection_info info;
    if (amqp_parse_url(url.data(), &info) != AMQP_STATUS_OK)
      die("bad broker URL");
    auto* sock = amqp_tcp_socket_new(state_);
    timeval limit{10, 0};
    if (sock == nullptr
        || amqp_socket_open_noblock(sock, info.host, info.port, &limit) != 0)
      die("raw: cannot connect to the broker");
    std::string vhost = info.vhost[0] == '\0' ? "/" : info.vhost;
    check(amqp_login(state_, vhost.c_str(), 0, 131072, 10,
                     AMQP_SASL_METHOD_PLAIN, info.user, info.password),
          "login");
    amqp_channel_open(state_, 1);
    check(amqp_get_rpc_reply(state_), "channel.open");
  }

  ~raw_connection() {
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
  }

  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  void confirm_select() {
    amqp_confirm_select(state_, 1);
    check(amqp_get_rpc_reply(state_), "confirm.select");
  }

  /// Mandatory, persistent, with the message's properties.
  void publish(const std::string& exchange, const std::string& key,
               const amqp::message& msg) {
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG
                   | AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG;
    props.delivery_mode = 2;
    props.content_type = bytes(msg.content_type);
    props.message_id = bytes(msg.message_id);
    props.timestamp = static_cast<uint64_t>(msg.timestamp);
    if (amqp_basic_publish(state_, 1, bytes(exchange), bytes(key), 1, 0, &props,
                           bytes(msg.body))
        != AMQP_STATUS_OK)
      die("raw: publish failed");
  }

  /// Waits for the next confirm until `deadline`; answers the tag and
  /// whether it covers every tag up to it. A nack or a return is fatal.
  std::pair<uint64_t, bool> next_confirm(clock_type::time_point deadline) {
    for (;;) {
      amqp_maybe_release_buffers(state_);
      auto frame = wait_frame(deadline);
      if (frame.frame_type != AMQP_FRAME_METHOD)
        continue;
      auto id = frame.payload.method.id;
      if (id == AMQP_BASIC_ACK_METHOD) {
        auto* ack
            = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        return {ack->delivery_tag, ack->multiple != 0};
      }
      die(id == AMQP_BASIC_RETURN_METHOD
              ? "raw: message returned (unroutable)"
              : "raw: nack or close while publishing");
    }
  }

  /// basic.qos(prefetch), basic.consume with manual acks.
  void consume(const std::string& queue, uint16_t prefetch) {
    amqp_basic_qos(state_, 1, 0, prefetch, 0);
    check(amqp_get_rpc_reply(state_), "basic.qos");
    amqp_basic_consume(state_, 1, bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    check(amqp_get_rpc_reply(state_), "basic.consume");
  }

  /// The next delivery's tag; nullopt when none came before `deadline`.
  std::optional<uint64_t> next_delivery(clock_type::time_point deadline) {
    amqp_maybe_release_buffers(state_);
    auto limit = timeout(deadline);
    amqp_envelope_t env;
    auto reply = amqp_consume_message(state_, &env, &limit, 0);
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
        && reply.library_error == AMQP_STATUS_TIMEOUT)
      return std::nullopt;
    check(reply, "consume");
    auto tag = env.delivery_tag;
    amqp_destroy_envelope(&env);
    return tag;
  }

  void ack(uint64_t tag) {
    if (amqp_basic_ack(state_, 1, tag, 0) != 0)
      die("raw: ack failed");
  }

  /// Messages ready in `queue` (passive declare; unacked ones not counted).
  uint32_t ready(const std::string& queue) {
    auto* ok = amqp_queue_declare(state_, 1, bytes(queue), 1, 0, 0, 0,
                                  amqp_empty_table);
    check(amqp_get_rpc_reply(state_), "declare passive " + queue);
    return ok->message_count;
  }

  void purge(const std::string& queue) {
    amqp_queue_purge(state_, 1, bytes(queue));
    check(amqp_get_rpc_reply(state_), "purge " + queue);
  }

private:
  static timeval timeout(clock_type::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
                    deadline - clock_type::now())
                    .count();
    left = std::max<int64_t>(left, 0);
    return {static_cast<time_t>(left / 1000000),
            static_cast<suseconds_t>(left % 1000000)};
  }

  amqp_frame_t wait_frame(clock_type::time_point deadline) {
    auto limit = timeout(deadline);
    amqp_frame_t frame;
    auto rc = amqp_simple_wait_frame_noblock(state_, &frame, &limit);
    if (rc == AMQP_STATUS_TIMEOUT)
      die("raw: timed out waiting for the broker");
    if (rc != AMQP_STATUS_OK)
      die(std::string{"raw: connection lost: "} + amqp_error_string2(rc));
    return frame;
  }

  static void check(const amqp_rpc_reply_t& reply, const std::string& what) {
    if (reply.reply_type != AMQP_RESPONSE_NORMAL)
      die("raw: " + what + " failed (reply type "
          + std::to_string(reply.reply_type) + ", "
          + amqp_error_string2(reply.library_error) + ")");
  }

  amqp_connection_state_t state_;
};

/// Publishes `msgs` to `exchange` with routing key `key`, at most `window`
/// unconfirmed at a time; answers messages per second from the first publish
/// to the last confirm.
inline double raw_publish(const std::string& url, const std::string& exchange,
                          const std::string& key,
                          const std::vector<amqp::message>& msgs, size_t window,
                          clock_type::time_point deadline) {
  raw_connection conn{url};
  conn.confirm_select();
  // confirmed[t]: the broker acked delivery tag t (tags start at 1).
  std::vector<char> confirmed(msgs.size() + 1, 0);
  size_t sent = 0, done = 0, lowest = 1;
  auto start = clock_type::now();
  while (done < msgs.size()) {
    while (sent < msgs.size() && sent - done < window)
      conn.publish(exchange, key, msgs[sent++]);
    auto [tag, multiple] = conn.next_confirm(deadline);
    if (tag == 0 || tag > sent)
      die("raw: confirm for a tag never published");
    for (auto t = multiple ? lowest : tag; t <= tag; ++t)
      if (!confirmed[t]) {
        confirmed[t] = 1;
        ++done;
      }
    while (lowest <= sent && confirmed[lowest])
      ++lowest;
  }
  return static_cast<double>(msgs.size())
         / std::chrono::duration<double>(clock_type::now() - start).count();
}

/// Consumes `n` messages off `queue` with `prefetch`, acking each; answers
/// messages per second from the first delivery to the last ack.
inline double raw_consume(const std::string& url, const std::string& queue,
                          uint16_t prefetch, size_t n,
                          clock_type::time_point deadline) {
  raw_connection conn{url};
  conn.consume(queue, prefetch);
  clock_type::time_point first;
  for (size_t i = 0; i < n; ++i) {
    auto tag = conn.next_delivery(deadline);
    if (!tag)
      die("raw: consumer timed out after " + std::to_string(i) + " messages");
    if (i == 0)
      first = clock_type::now();
    conn.ack(*tag);
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - first).count();
  return static_cast<double>(n) / secs;
}

/// Consumes off `queue` and acks until `stop` or the deadline, recording
/// every delivery in `seen` before its ack (for the latency baseline; run
/// in a thread of its own).
inline void raw_recording_consumer(const std::string& url,
                                   const std::string& queue, uint16_t prefetch,
                                   arrivals& seen,
                                   const std::atomic<bool>& stop,
                                   clock_type::time_point deadline) {
  raw_connection conn{url};
  conn.consume(queue, prefetch);
  while (!stop && clock_type::now() < deadline) {
    auto step
        = std::min(deadline, clock_type::now() + std::chrono::milliseconds{50});
    if (auto tag = conn.next_delivery(step)) {
      seen.record();
      conn.ack(*tag);
    }
  }
}

/// Publishes `msgs` one at a time, each with its confirm, while a consumer on
/// a second connection acks them off `queue`; see paced_latencies.
inline std::vector<double>
raw_latencies(const std::string& url, const std::string& exchange,
              const std::string& key, const std::string& queue,
              uint16_t prefetch, const std::vector<amqp::message>& msgs,
              clock_type::time_point deadline) {
  arrivals seen;
  std::atomic<bool> stop{false};
  std::thread consumer{[&] {
    raw_recording_consumer(url, queue, prefetch, seen, stop, deadline);
  }};
  raw_connection pub{url};
  pub.confirm_select();
  auto result = paced_latencies(seen, msgs.size(), deadline, [&](size_t i) {
    pub.publish(exchange, key, msgs[i]);
    if (pub.next_confirm(deadline).first != i + 1)
      die("raw: unexpected confirm");
  });
  stop = true;
  consumer.join();
  return result;
}

} // namespace herald::bench
