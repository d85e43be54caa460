// One HTTP request on its way through the gateway: what the client sent,
// who it is, its request id, and the one way back to its connection.
// Handlers run on an I/O thread or on an actor's thread; either answers by
// calling reply() exactly once. An exchange that is dropped unanswered
// answers 500 itself: no path leaves a client waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace herald::http {

namespace bhttp = boost::beast::http;

using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

struct exchange {
  request req;
  /// The client's address: the peer's, or the first untrusted hop of
  /// X-Forwarded-For when the peer is a trusted proxy.
  std::string client;
  /// X-Request-Id as sent when well-formed, else a new one.
  std::string request_id;
  /// The route's template ("/v1/users/{id}"), "unmatched" before routing.
  std::string route = "unmatched";
  /// Values of the route's {placeholders}.
  std::map<std::string, std::string> params;
  /// The path without the query.
  std::string path;
  /// The query string without '?'.
  std::string query;
  std::chrono::steady_clock::time_point started
      = std::chrono::steady_clock::now();
  /// Set by the connection: writes the response on its own strand.
  std::function<void(response)> send;

  exchange() = default;
  exchange(const exchange&) = delete;
  exchange& operator=(const exchange&) = delete;

  /// Answers the request; later calls do nothing.
  void reply(response res) {
    if (answered_.exchange(true))
      return;
    if (send)
      send(std::move(res));
  }

  bool answered() const { return answered_.load(); }

  /// Answers 500 if nobody did (a dropped answer is a bug, never a hang).
  ~exchange();

private:
  std::atomic<bool> answered_{false};
};

using exchange_ptr = std::shared_ptr<exchange>;

} // namespace herald::http
