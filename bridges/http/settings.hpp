// [http] and [throttle]: where the gateway listens, its limits and timeouts,
// TLS, proxies, CORS, and how failed logins and reset requests are
// throttled. Read by the gateway component (spawn_gateway.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "config/options.hpp"

namespace herald::http {

/// One throttle: how many events a key may cause before it waits, how the
/// wait grows and when the count starts over.
struct throttle_limit {
  uint32_t threshold = 30;
  std::chrono::seconds increment{60};
  std::chrono::seconds max_wait{900};
  std::chrono::seconds window{std::chrono::hours{12}};
};

struct throttle_settings {
  /// Failed logins per submitted email (known or not). Keycloak's brute
  /// force defaults: 30 failures, +60 s each, at most 15 min, 12 h.
  throttle_limit login_email{30, std::chrono::seconds{60},
                             std::chrono::seconds{900}, std::chrono::hours{12}};
  /// Failed logins per client address: higher, since many users may share
  /// one address (a NAT, an office).
  throttle_limit login_address{100, std::chrono::seconds{60},
                               std::chrono::seconds{900},
                               std::chrono::hours{12}};
  /// Reset requests per client address, per hour.
  throttle_limit reset_address{20, std::chrono::seconds{3600},
                               std::chrono::seconds{3600},
                               std::chrono::hours{1}};
  /// Reset requests for one email from one address, per hour: nobody can
  /// use up another person's reset requests from their own address.
  throttle_limit reset_email_address{3, std::chrono::seconds{3600},
                                     std::chrono::seconds{3600},
                                     std::chrono::hours{1}};
  /// Failed reset confirmations per client address.
  throttle_limit confirm_address{10, std::chrono::seconds{60},
                                 std::chrono::seconds{900},
                                 std::chrono::hours{1}};
};

struct settings {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  uint32_t io_threads = 2;
  uint32_t max_connections = 1024;
  uint32_t header_limit = 8 * 1024;
  uint32_t body_limit = 64 * 1024;
  /// From the first byte of a request to its last; a client that sends
  /// slower (slowloris) is cut off.
  std::chrono::milliseconds read_timeout{std::chrono::seconds{10}};
  /// How long a kept-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds{30}};
  /// Deadline of each request to a service.
  std::chrono::milliseconds request_timeout{std::chrono::seconds{30}};
  /// PEM files; both set: HTTPS only (TLS 1.2 and newer, HSTS).
  std::string tls_certificate;
  std::string tls_key;
  /// A proxy in front terminates TLS: plain HTTP beyond loopback is fine.
  bool behind_proxy = false;
  /// Peers whose X-Forwarded-For is believed (addresses or CIDR blocks).
  std::vector<std::string> trusted_proxies;
  /// Origins that may call the API from a browser (exact match).
  std::vector<std::string> cors_origins;
  /// At a shutdown, how long requests under way may take (the node's
  /// stop-timeout).
  std::chrono::milliseconds drain_grace{std::chrono::seconds{10}};
  throttle_settings throttle;

  bool tls() const { return !tls_certificate.empty(); }
};

/// The options of [http] and [throttle], for --help and the docs.
std::vector<config::option> options();

/// Reads and checks [http] and [throttle]; `dev_mode` relaxes the guard
/// rail on plain HTTP beyond loopback. Warnings (allowed but risky) are
/// appended to `warnings`.
caf::expected<settings>
read_settings(const config::configuration& cfg, bool dev_mode,
              std::vector<std::string>* warnings = nullptr);

/// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& host);

} // namespace herald::http
