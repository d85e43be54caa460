// The gateway's HTTP/1.1 server on Boost.Beast: an acceptor and
// `io_threads` threads that read, parse, route and write. A handler never
// makes an I/O thread wait for an actor: it answers through the exchange,
// from whatever thread the answer arrives on, and the answer is written on
// the connection's own strand.
//
// Limits: header and body sizes (431/413, the body of a too large request
// is never read), a read timeout for a whole request and an idle timeout
// between requests (slow clients are cut off, others go on), at most
// max_connections open (more are closed at once). A request with both
// Content-Length and Transfer-Encoding is refused (request smuggling).
// stop() stops accepting, closes idle connections, lets requests under way
// answer (with `Connection: close`) for up to the grace time, then closes
// the rest.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "bridges/http/exchange.hpp"
#include "bridges/http/router.hpp"
#include "bridges/http/settings.hpp"

namespace herald::http {

/// Called once per answered request, before the answer is written (the
/// response may still be changed): for logs and metrics.
using answer_hook = std::function<void(const exchange&, response&)>;

class server {
public:
  server(settings s, std::shared_ptr<const router> routes, answer_hook hook);
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Loads the TLS files, binds, listens and starts the I/O threads;
  /// answers the port bound (useful with port 0).
  caf::expected<uint16_t> start();

  /// Stops as described above; blocks up to `grace` plus a moment.
  void stop(std::chrono::milliseconds grace);

  /// Connections open now.
  uint32_t connections() const;

  struct impl;

private:
  std::shared_ptr<impl> impl_;
};

} // namespace herald::http
