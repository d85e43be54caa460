#include "bridges/http/settings.hpp"

#include <boost/asio/ip/address.hpp>

#include "config/addresses.hpp"
#include "node/component.hpp"

namespace herald::http {

namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const config::section<settings>& http_section() {
  static const auto s
      = config::section<settings>{"http"}
            .add(&settings::host, "host",
                 "address the gateway listens on (beyond loopback it needs "
                 "HTTPS or http.behind-proxy)")
            .add(&settings::port, "port", "port of the gateway (0: any free)")
            .add(&settings::io_threads, "io-threads",
                 "threads that read, parse, validate tokens and write")
            .range(1, 64)
            .add(&settings::max_connections, "max-connections",
                 "open connections at most; more are closed at once")
            .range(1, 100000)
            .add(&settings::header_limit, "header-limit",
                 "bytes of request line and headers at most (431 beyond)")
            .range(1024, 65536)
            .add(&settings::body_limit, "body-limit",
                 "bytes of request body at most (413 beyond, unread)")
            .range(1024, 1024 * 1024)
            .add(&settings::read_timeout, "read-timeout",
                 "time a client has to send a whole request")
            .range(milliseconds{100}, minutes{10})
            .add(&settings::idle_timeout, "idle-timeout",
                 "time a kept-alive connection may wait for its next request")
            .range(milliseconds{100}, hours{1})
            .add(&settings::request_timeout, "request-timeout",
                 "deadline of each request to a service (503 beyond)")
            .range(milliseconds{100}, minutes{10})
            .add(&settings::tls_certificate, "tls-certificate",
                 "PEM certificate chain: with tls-key, the gateway speaks "
                 "HTTPS only (TLS 1.2+, HSTS)")
            .add(&settings::tls_key, "tls-key", "PEM private key of it")
            .add(&settings::behind_proxy, "behind-proxy",
                 "a proxy in front terminates TLS: allows plain HTTP beyond "
                 "loopback outside dev mode")
            .add(&settings::trusted_proxies, "trusted-proxies",
                 "addresses or CIDR blocks of proxies whose X-Forwarded-For "
                 "names the client")
            .add(&settings::cors_origins, "cors-origins",
                 "origins allowed to call the API from a browser (exact, "
                 "e.g. https://app.example.com); empty: none");
  return s;
}

/// [throttle] as configured: flat, one option per figure.
struct throttle_options {
  uint32_t login_failures_per_email = 30;
  uint32_t login_failures_per_address = 100;
  seconds login_wait_increment{60};
  seconds login_max_wait{900};
  seconds login_reset_after{hours{12}};
  uint32_t reset_requests_per_address = 20;
  uint32_t reset_requests_per_email_and_address = 3;
  uint32_t confirm_failures_per_address = 10;
};

const config::section<throttle_options>& throttle_section() {
  using t = throttle_options;
  static const auto s
      = config::section<t>{"throttle"}
            .add(&t::login_failures_per_email, "login-failures-per-email",
                 "failed logins for one email (known or not) before each "
                 "further attempt waits")
            .range(1, 100000)
            .add(&t::login_failures_per_address, "login-failures-per-address",
                 "failed logins from one client address before each further "
                 "attempt waits")
            .range(1, 1000000)
            .add(&t::login_wait_increment, "login-wait-increment",
                 "wait added per failure past the limit")
            .range(seconds{1}, hours{1})
            .add(&t::login_max_wait, "login-max-wait", "longest wait")
            .range(seconds{1}, hours{24})
            .add(&t::login_reset_after, "login-reset-after",
                 "time without failures after which the count starts over")
            .range(minutes{1}, hours{24 * 7})
            .add(&t::reset_requests_per_address, "reset-requests-per-address",
                 "reset requests per hour from one client address")
            .range(1, 100000)
            .add(&t::reset_requests_per_email_and_address,
                 "reset-requests-per-email-and-address",
                 "reset requests per hour for one email from one address "
                 "(the reset service's own hourly limit per email applies "
                 "too)")
            .range(1, 1000)
            .add(&t::confirm_failures_per_address,
                 "confirm-failures-per-address",
                 "failed reset confirmations from one client address before "
                 "each further attempt waits (count starts over after an "
                 "hour)")
            .range(1, 100000);
  return s;
}

} // namespace

std::vector<config::option> options() {
  return herald::options_of(http_section(), throttle_section());
}

bool is_loopback(const std::string& host) {
  return config::is_loopback_host(host);
}

caf::expected<settings> read_settings(const config::configuration& cfg,
                                      bool dev_mode,
                                      std::vector<std::string>* warnings) {
  auto s = http_section().read(cfg);
  auto t = throttle_section().read(cfg);
  auto login = [&](uint32_t threshold) {
    return throttle_limit{threshold, t.login_wait_increment, t.login_max_wait,
                          t.login_reset_after};
  };
  s.throttle.login_email = login(t.login_failures_per_email);
  s.throttle.login_address = login(t.login_failures_per_address);
  auto hourly = [](uint32_t n) {
    return throttle_limit{n, hours{1}, hours{1}, hours{1}};
  };
  s.throttle.reset_address = hourly(t.reset_requests_per_address);
  s.throttle.reset_email_address
      = hourly(t.reset_requests_per_email_and_address);
  s.throttle.confirm_address
      = throttle_limit{t.confirm_failures_per_address, t.login_wait_increment,
                       t.login_max_wait, hours{1}};
  if (t.login_max_wait < t.login_wait_increment)
    return cfg.invalid(
        "throttle.login-max-wait",
        "must not be shorter than throttle.login-wait-increment");
  if (s.host.empty())
    return cfg.invalid("http.host", "must not be empty");
  boost::system::error_code err;
  boost::asio::ip::make_address(s.host, err);
  if (err && s.host != "localhost")
    return cfg.invalid("http.host",
                       "'" + s.host + "' is no IPv4 or IPv6 address");
  if (s.tls_certificate.empty() != s.tls_key.empty())
    return cfg.invalid(s.tls_key.empty() ? "http.tls-key"
                                         : "http.tls-certificate",
                       "HTTPS needs both http.tls-certificate and "
                       "http.tls-key");
  if (s.tls()) {
    s.tls_certificate = cfg.path("http.tls-certificate", s.tls_certificate);
    s.tls_key = cfg.path("http.tls-key", s.tls_key);
  }
  for (auto& p : s.trusted_proxies) {
    auto slash = p.find('/');
    boost::system::error_code perr;
    boost::asio::ip::make_address(p.substr(0, slash), perr);
    bool bad = static_cast<bool>(perr);
    if (!bad && slash != std::string::npos) {
      auto bits = p.substr(slash + 1);
      bad = bits.empty() || bits.size() > 3
            || bits.find_first_not_of("0123456789") != std::string::npos
            || std::stoi(bits) > 128;
    }
    if (bad)
      return cfg.invalid("http.trusted-proxies",
                         "'" + p + "' is no address or CIDR block");
  }
  for (auto& o : s.cors_origins) {
    bool scheme = o.rfind("https://", 0) == 0 || o.rfind("http://", 0) == 0;
    auto rest
        = o.substr(o.find("://") == std::string::npos ? 0 : o.find("://") + 3);
    if (!scheme || rest.empty() || rest.find('/') != std::string::npos
        || o.find_first_of(" \t\r\n,*") != std::string::npos)
      return cfg.invalid("http.cors-origins",
                         "'" + o
                             + "' is no origin (scheme://host[:port], no "
                               "path, no wildcard)");
  }
  // Guard rail: passwords and tokens must not cross a network in clear.
  if (!s.tls() && !is_loopback(s.host)) {
    if (s.behind_proxy) {
      if (warnings)
        warnings->push_back(
            "http: listening on " + s.host
            + " without HTTPS because http.behind-proxy is set: the proxy in "
              "front must terminate TLS and be the only way to this port");
    } else if (!dev_mode) {
      return cfg.invalid("http.host",
                         "listening on " + s.host
                             + " (beyond loopback) without HTTPS: set "
                               "http.tls-certificate and http.tls-key, or "
                               "http.behind-proxy when a TLS proxy is in "
                               "front");
    } else if (warnings) {
      warnings->push_back("http: DEV MODE: listening on " + s.host
                          + " in plain HTTP; passwords cross the network in "
                            "clear");
    }
  }
  return s;
}

} // namespace herald::http
