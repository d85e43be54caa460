#define CAF_SUITE cluster_security

#include "node/cluster_security.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "node/capped_multiplexer.hpp"
#include "tests/test.hpp"

using namespace herald;

namespace {

tls_files files(std::string cert, std::string key, std::string ca) {
  tls_files f;
  f.certificate = std::move(cert);
  f.key = std::move(key);
  f.cafile = std::move(ca);
  return f;
}

std::string text_of(const caf::error& err) {
  return message_of(err);
}

/// A plaintext connection to 127.0.0.1:port.
int dial(uint16_t port) {
  auto fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A BASP client handshake header (CAF 0.17.6 layout, big endian) that
/// announces `len` payload bytes.
std::vector<uint8_t> header_announcing(uint32_t len) {
  std::vector<uint8_t> h(32, 0);
  h[0] = 0x01;
  h[4] = static_cast<uint8_t>(len >> 24);
  h[5] = static_cast<uint8_t>(len >> 16);
  h[6] = static_cast<uint8_t>(len >> 8);
  h[7] = static_cast<uint8_t>(len);
  return h;
}

/// Reads until the peer closes (true) or `ms` pass without that (false).
bool closed_within(int fd, int ms) {
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0)
      return false;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      return true;
  }
}

struct capped_config : caf::actor_system_config {
  capped_config() {
    load<caf::io::middleman, capped_multiplexer>();
    set("middleman.app-identifiers", std::vector<std::string>{"herald"});
    set_max_message_size(*this, 4096);
  }
};

} // namespace

CAF_TEST(tls is all three files or none) {
  auto none = tls_configured(tls_files{});
  CAF_REQUIRE(none);
  CAF_CHECK(!*none);
  auto all = tls_configured(files("c.pem", "k.pem", "ca.pem"));
  CAF_REQUIRE(all);
  CAF_CHECK(*all);
  auto partial = tls_configured(files("c.pem", "", ""));
  CAF_REQUIRE(!partial);
  auto text = text_of(partial.error());
  CAF_CHECK(text.find("openssl.key") != std::string::npos);
  CAF_CHECK(text.find("openssl.cafile") != std::string::npos);
  CAF_CHECK(text.find("missing") != std::string::npos);
  tls_files only_pass;
  only_pass.passphrase = "x";
  CAF_CHECK(!tls_configured(only_pass));
}

CAF_TEST(check_tls_files names a file that cannot be read) {
  auto res = check_tls_files(files("/nonexistent/c.pem", "k", "ca"),
                             tls_role::node, std::time(nullptr));
  CAF_REQUIRE(!res);
  CAF_CHECK(text_of(res.error()).find("openssl.certificate = /nonexistent")
            != std::string::npos);
}

CAF_TEST(without tls the cluster port stays on loopback) {
  CAF_CHECK(!check_cluster_exposure("127.0.0.1", false, false, false));
  CAF_CHECK(!check_cluster_exposure("::1", false, false, false));
  CAF_CHECK(!check_cluster_exposure("localhost", false, false, false));
  CAF_CHECK(check_cluster_exposure("10.0.0.2", false, false, false));
  CAF_CHECK(check_cluster_exposure("0.0.0.0", false, false, true));
  CAF_CHECK(check_cluster_exposure("", false, false, true));
  CAF_CHECK(!check_cluster_exposure("10.0.0.2", true, false, false));
  // allow-plaintext: dev mode only, and then any address.
  CAF_CHECK(check_cluster_exposure("10.0.0.2", false, true, false));
  CAF_CHECK(check_cluster_exposure("127.0.0.1", false, true, false));
  CAF_CHECK(!check_cluster_exposure("10.0.0.2", false, true, true));
  auto err = check_cluster_exposure("10.0.0.2", false, false, false);
  CAF_CHECK(text_of(err).find("cluster.host = 10.0.0.2") != std::string::npos);
}

CAF_TEST(a plaintext peer that announces too much is closed before any
           allocation and others still connect) {
  capped_config cfg;
  caf::actor_system sys{cfg};
  auto echo = sys.spawn([]() -> caf::behavior {
    return {[](const std::string& x) { return x; }};
  });
  auto port = sys.middleman().publish(echo, 0, "127.0.0.1", true);
  CAF_REQUIRE(port);
  auto& mpx = dynamic_cast<capped_multiplexer&>(sys.middleman().backend());
  CAF_CHECK_EQUAL(mpx.max_message_size(), 4096u);
  // Over the limit: the node closes the connection.
  auto fd = dial(*port);
  CAF_REQUIRE(fd >= 0);
  auto big = header_announcing(1u << 30);
  CAF_REQUIRE(::send(fd, big.data(), big.size(), 0) == 32);
  CAF_CHECK(closed_within(fd, 5000));
  ::close(fd);
  // At the limit: the node waits for the payload (nothing closes).
  fd = dial(*port);
  CAF_REQUIRE(fd >= 0);
  auto fits = header_announcing(4096);
  CAF_REQUIRE(::send(fd, fits.data(), fits.size(), 0) == 32);
  CAF_CHECK(!closed_within(fd, 300));
  ::close(fd);
  // A real peer with small messages is served.
  capped_config client_cfg;
  caf::actor_system client{client_cfg};
  auto remote = client.middleman().remote_actor("127.0.0.1", *port);
  CAF_REQUIRE(remote);
  caf::scoped_actor self{client};
  std::string answer;
  self->request(*remote, std::chrono::seconds(5), std::string{"hi"})
    .receive([&](const std::string& x) { answer = x; },
             [&](caf::error& err) { CAF_FAIL(caf::to_string(err)); });
  CAF_CHECK_EQUAL(answer, "hi");
  // A message beyond the limit closes the connection instead of being
  // allocated on the other side.
  std::string large(8192, 'x');
  self->request(*remote, std::chrono::seconds(2), large)
    .receive([&](const std::string&) { CAF_FAIL("a large message went through"); },
             [&](caf::error&) { /* expected: the connection is gone */ });
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}
