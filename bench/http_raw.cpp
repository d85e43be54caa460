// herald-http-raw: the raw baseline of the HTTP gateway's benchmarks
// (bench/http_bench.py). A minimal Boost.Beast HTTP/1.1 keep-alive server
// with the gateway's threading model (one io_context, N threads running it,
// a strand per connection) that answers every request, whatever its method
// and target, with the same 60-byte JSON body. No routing, no actors, no
// storage: what HTTP alone costs on this machine.
//
//   herald-http-raw <port> [threads]     port 0: any free one
//
// Prints "listening on <port>" once it accepts, runs until SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

namespace {

// 60 bytes of JSON, the size of a small answer.
constexpr char fixed_body[]
    = R"({"active":true,"claims":{"sub":"1","role":"user","ver":123}})";
static_assert(sizeof(fixed_body) - 1 == 60);

/// One client connection: read a request, write the fixed answer, repeat
/// while the client keeps the connection alive. Every handler runs on the
/// connection's strand.
class session : public std::enable_shared_from_this<session> {
public:
  explicit session(tcp::socket&& socket) : stream_(std::move(socket)) {}

  void start() {
    net::dispatch(stream_.get_executor(),
                  [self = shared_from_this()] { self->read(); });
  }

private:
  void read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    bhttp::async_read(
        stream_, buffer_, req_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec)
            return self->close();
          self->answer();
        });
  }

  void answer() {
    res_ = {};
    res_.version(req_.version());
    res_.result(bhttp::status::ok);
    res_.set(bhttp::field::content_type, "application/json");
    res_.body() = fixed_body;
    res_.keep_alive(req_.keep_alive());
    res_.prepare_payload();
    bhttp::async_write(
        stream_, res_,
        [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec || !self->res_.keep_alive())
            return self->close();
          self->read();
        });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{8192};
  bhttp::request<bhttp::string_body> req_;
  bhttp::response<bhttp::string_body> res_;
};

void accept(net::io_context& ioc, tcp::acceptor& acceptor) {
  acceptor.async_accept(
      net::make_strand(ioc),
      [&ioc, &acceptor](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted)
          return;
        if (!ec)
          std::make_shared<session>(std::move(socket))->start();
        accept(ioc, acceptor);
      });
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: herald-http-raw <port> [threads]\n");
    return 2;
  }
  auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  int threads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2;
  net::io_context ioc{threads};
  tcp::acceptor acceptor{ioc};
  tcp::endpoint ep{net::ip::make_address("127.0.0.1"), port};
  acceptor.open(ep.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(net::socket_base::max_listen_connections);
  std::printf("listening on %u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  accept(ioc, acceptor);
  net::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&ioc] { ioc.run(); });
  for (auto& t : pool)
    t.join();
  return 0;
}
