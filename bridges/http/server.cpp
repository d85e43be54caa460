#include "bridges/http/server.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "bridges/http/client_address.hpp"
#include "bridges/http/problem.hpp"
#include "messages/context.hpp"
#include "messages/error.hpp"

namespace herald::http {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

/// What the server knows of each open connection, to close it at a stop.
struct connection_base {
  virtual ~connection_base() = default;
  /// Closes the connection if it waits for a request (`only_idle`), or in
  /// any case.
  virtual void post_close(bool only_idle) = 0;
};

/// The id a client sent if it is well-formed (the request context's rule),
/// else a new one.
std::string request_id_of(const request& req) {
  auto sent = req["X-Request-Id"];
  if (!sent.empty()) {
    request_context ctx{std::string{sent}, {}};
    if (!admit(ctx))
      return ctx.id;
  }
  return new_request_id();
}

bool iequals(beast::string_view a, beast::string_view b) {
  return beast::iequals(a, b);
}

} // namespace

struct server::impl : std::enable_shared_from_this<server::impl> {
  settings cfg;
  std::shared_ptr<const router> routes;
  answer_hook hook;
  trusted_proxies proxies;
  net::io_context ioc;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::atomic<uint32_t> open{0};
  /// Requests read and not yet answered on the wire.
  std::atomic<uint32_t> busy{0};
  /// Signalled whenever `open` or `busy` goes down: stop() waits on it.
  std::mutex count_mtx;
  std::condition_variable count_down;
  std::atomic<bool> stopping{false};
  std::mutex mtx;
  std::unordered_map<connection_base*, std::weak_ptr<connection_base>> conns;

  impl(settings s, std::shared_ptr<const router> r, answer_hook h)
      : cfg(std::move(s)), routes(std::move(r)), hook(std::move(h)),
        proxies(cfg.trusted_proxies) {}

  /// One request answered on the wire (or given up with its connection).
  void release_busy() {
    busy.fetch_sub(1);
    std::lock_guard<std::mutex> guard{count_mtx};
    count_down.notify_all();
  }

  /// One connection gone.
  void release_open() {
    open.fetch_sub(1);
    std::lock_guard<std::mutex> guard{count_mtx};
    count_down.notify_all();
  }

  /// Waits until `counter` is 0 or `deadline` passed.
  void wait_zero(const std::atomic<uint32_t>& counter,
                 std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> guard{count_mtx};
    count_down.wait_until(guard, deadline,
                          [&counter] { return counter.load() == 0; });
  }

  void enlist(const std::shared_ptr<connection_base>& c) {
    std::lock_guard<std::mutex> guard{mtx};
    conns.emplace(c.get(), c);
  }

  void delist(connection_base* c) {
    std::lock_guard<std::mutex> guard{mtx};
    conns.erase(c);
  }

  void close_all(bool only_idle) {
    std::vector<std::shared_ptr<connection_base>> xs;
    {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& kv : conns)
        if (auto c = kv.second.lock())
          xs.push_back(std::move(c));
    }
    for (auto& c : xs)
      c->post_close(only_idle);
  }

  /// Headers every answer carries.
  void finish(const exchange& ex, response& res) {
    res.set("X-Request-Id", ex.request_id);
    res.keep_alive(ex.req.keep_alive() && !stopping.load());
    if (res.find(bhttp::field::cache_control) == res.end())
      res.set(bhttp::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    if (res.find("Content-Security-Policy") == res.end())
      res.set("Content-Security-Policy",
              "default-src 'none'; frame-ancestors 'none'");
    res.set("Referrer-Policy", "no-referrer");
    if (cfg.tls())
      res.set(bhttp::field::strict_transport_security,
              "max-age=31536000; includeSubDomains");
    auto origin = ex.req[bhttp::field::origin];
    if (!origin.empty()) {
      for (auto& allowed : cfg.cors_origins)
        if (origin == allowed) {
          res.set(bhttp::field::access_control_allow_origin, origin);
          res.set(bhttp::field::access_control_expose_headers,
                  "X-Request-Id, Location, Retry-After");
          break;
        }
      res.set(bhttp::field::vary, "Origin");
    }
    if (hook)
      hook(ex, res);
    // An answer to HEAD has no body (RFC 9110 section 9.3.2): a client
    // would read one as the start of the next response on the connection.
    if (ex.req.method() == bhttp::verb::head && !res.body().empty()) {
      auto size = res.body().size();
      res.body().clear();
      res.content_length(size);
    }
  }

  void accept();
};

namespace {

template <class Stream>
class connection : public connection_base,
                   public std::enable_shared_from_this<connection<Stream>> {
public:
  static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Ts>
  connection(std::shared_ptr<server::impl> srv, tcp::socket&& socket,
             Ts&&... xs)
      : srv_(std::move(srv)), stream_(std::move(socket), xs...) {
    boost::system::error_code err;
    peer_ = beast::get_lowest_layer(stream_).socket().remote_endpoint(err);
  }

  ~connection() override {
    if (waiting_)
      srv_->release_busy();
    srv_->release_open();
  }

  void run() {
    srv_->enlist(this->shared_from_this());
    net::dispatch(stream_.get_executor(),
                  [self = this->shared_from_this()] { self->begin(); });
  }

  void post_close(bool only_idle) override {
    net::post(stream_.get_executor(),
              [self = this->shared_from_this(), only_idle] {
                if (only_idle && self->waiting_)
                  return;
                self->close();
              });
  }

private:
  auto& lowest() { return beast::get_lowest_layer(stream_); }

  void begin() {
    if constexpr (is_tls) {
      lowest().expires_after(srv_->cfg.read_timeout);
      stream_.async_handshake(
          ssl::stream_base::server,
          [self = this->shared_from_this()](beast::error_code ec) {
            if (ec)
              return self->close();
            self->read_header();
          });
    } else {
      read_header();
    }
  }

  void read_header() {
    if (srv_->stopping.load())
      return close();
    parser_.emplace();
    parser_->header_limit(srv_->cfg.header_limit);
    parser_->body_limit(srv_->cfg.body_limit);
    lowest().expires_after(first_ ? srv_->cfg.read_timeout
                                  : srv_->cfg.idle_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          self->on_header(ec);
        });
  }

  void on_header(beast::error_code ec) {
    if (ec)
      return on_read_error(ec);
    auto& req = parser_->get();
    // Both lengths: which one a proxy in front believed is unknowable, so
    // the request could hide another one (RFC 9112 section 6.1).
    if (req.find(bhttp::field::content_length) != req.end()
        && req.find(bhttp::field::transfer_encoding) != req.end())
      return refuse(400, "bad_request",
                    "Content-Length and Transfer-Encoding together");
    // A request's Transfer-Encoding must end in chunked, else its length is
    // unknowable (RFC 9112 section 6.3): Beast would read no body, and the
    // body a proxy in front forwarded would be taken for the next request.
    if (req.find(bhttp::field::transfer_encoding) != req.end()
        && !parser_->chunked())
      return refuse(400, "bad_request",
                    "Transfer-Encoding must end in chunked");
    lowest().expires_after(srv_->cfg.read_timeout);
    if (iequals(req[bhttp::field::expect], "100-continue")
        && !parser_->is_done()) {
      static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(
          stream_, net::buffer(continue_line, sizeof(continue_line) - 1),
          [self = this->shared_from_this()](beast::error_code e, size_t) {
            if (e)
              return self->close();
            self->read_body();
          });
      return;
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          if (ec)
            return self->on_read_error(ec);
          self->on_request();
        });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::header_limit)
      return refuse(431, "header_too_large",
                    "request line and headers exceed "
                        + std::to_string(srv_->cfg.header_limit) + " bytes");
    if (ec == bhttp::error::body_limit)
      return refuse(413, "body_too_large",
                    "the body exceeds " + std::to_string(srv_->cfg.body_limit)
                        + " bytes");
    if (ec.category()
            == bhttp::make_error_code(bhttp::error::bad_target).category()
        && ec != bhttp::error::end_of_stream
        && ec != bhttp::error::partial_message)
      return refuse(400, "bad_request", "malformed HTTP request");
    // Closed, reset, timed out (slow or idle), or cut off mid-message.
    close();
  }

  /// Answers a request the connection could not read, then closes.
  void refuse(unsigned status, const char* code, std::string detail) {
    auto ex = std::make_shared<exchange>();
    if (parser_ && parser_->is_header_done()) {
      ex->req.version(parser_->get().version());
      // finish() leaves out the body of an answer to HEAD. (Only HEAD is
      // copied: Beast throws on setting an unknown verb.)
      if (parser_->get().method() == bhttp::verb::head)
        ex->req.method(bhttp::verb::head);
    }
    // Known once the request line was read: an answer to HEAD has no body.
    if (parser_ && parser_->get().method() == bhttp::verb::head)
      ex->req.method(bhttp::verb::head);
    ex->request_id = new_request_id();
    ex->client = srv_->proxies.client(peer_.address(), "");
    ex->route = "unreadable";
    auto res = to_response(*ex, make_problem(status, code, std::move(detail)));
    srv_->finish(*ex, res);
    res.keep_alive(false);
    // The exchange is answered here: nothing else writes for it.
    ex->send = nullptr;
    ex->reply({});
    write(std::move(res), false);
  }

  void on_request() {
    auto ex = std::make_shared<exchange>();
    ex->req = parser_->release();
    parser_.reset();
    auto xff = ex->req["X-Forwarded-For"];
    ex->client = srv_->proxies.client(peer_.address(), std::string{xff});
    ex->request_id = request_id_of(ex->req);
    auto target = std::string{ex->req.target()};
    auto q = target.find('?');
    ex->path = target.substr(0, q);
    if (q != std::string::npos)
      ex->query = target.substr(q + 1);
    waiting_ = true;
    srv_->busy.fetch_add(1);
    // The exchange keeps the connection open until it is answered (no read
    // is pending meanwhile: one request at a time).
    auto self = this->shared_from_this();
    auto raw = ex.get();
    ex->send = [self, raw](response res) {
      self->srv_->finish(*raw, res);
      net::post(self->stream_.get_executor(),
                [self, res = std::move(res)]() mutable {
                  self->write(std::move(res), true);
                });
    };
    try {
      srv_->routes->dispatch(ex);
    } catch (const std::exception& e) {
      spdlog::error("[{}] http: handler threw: {}", ex->request_id, e.what());
      reply_problem(ex, make_problem(500, "internal",
                                     "herald could not complete the request; "
                                     "its log has the request id"));
    }
  }

  void write(response res, bool answered_request) {
    if (closed_) {
      if (answered_request)
        done_with_request();
      return;
    }
    auto msg = std::make_shared<response>(std::move(res));
    lowest().expires_after(srv_->cfg.read_timeout);
    // The request counts as under way until its answer is on the wire: a
    // stop closes idle connections only, never one that is writing.
    bhttp::async_write(stream_, *msg,
                       [self = this->shared_from_this(), msg,
                        answered_request](beast::error_code ec, size_t) {
                         if (answered_request)
                           self->done_with_request();
                         if (ec || !msg->keep_alive())
                           return self->close();
                         self->first_ = false;
                         self->read_header();
                       });
  }

  void done_with_request() {
    if (waiting_) {
      waiting_ = false;
      srv_->release_busy();
    }
  }

  void close() {
    if (closed_)
      return;
    closed_ = true;
    srv_->delist(this);
    beast::error_code ignored;
    if constexpr (is_tls) {
      // No close_notify dance: a stopping or refusing server does not wait
      // for a client's answer.
      lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    } else {
      lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    lowest().close();
  }

  std::shared_ptr<server::impl> srv_;
  Stream stream_;
  beast::flat_buffer buffer_{8192};
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  tcp::endpoint peer_;
  bool first_ = true;
  bool waiting_ = false;
  bool closed_ = false;
};

} // namespace

void server::impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [self = shared_from_this()](
                                                   beast::error_code ec,
                                                   tcp::socket socket) {
    if (ec == net::error::operation_aborted || !self->acceptor.is_open())
      return;
    if (!ec) {
      if (self->stopping.load()
          || self->open.load() >= self->cfg.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        self->open.fetch_add(1);
        if (self->tls) {
          using conn = connection<beast::ssl_stream<beast::tcp_stream>>;
          std::make_shared<conn>(self, std::move(socket), *self->tls)->run();
        } else {
          std::make_shared<connection<beast::tcp_stream>>(self,
                                                          std::move(socket))
              ->run();
        }
      }
    }
    self->accept();
  });
}

server::server(settings s, std::shared_ptr<const router> routes,
               answer_hook hook)
    : impl_(std::make_shared<impl>(std::move(s), std::move(routes),
                                   std::move(hook))) {}

server::~server() {
  stop(std::chrono::milliseconds{0});
}

caf::expected<uint16_t> server::start() {
  auto& d = *impl_;
  if (d.cfg.tls()) {
    d.tls.emplace(ssl::context::tls_server);
    d.tls->set_options(ssl::context::default_workarounds
                       | ssl::context::no_sslv2 | ssl::context::no_sslv3
                       | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1
                       | ssl::context::single_dh_use);
    boost::system::error_code err;
    d.tls->use_certificate_chain_file(d.cfg.tls_certificate, err);
    if (err)
      return caf::make_error(ec::invalid_argument,
                             "http.tls-certificate: cannot load '"
                                 + d.cfg.tls_certificate
                                 + "': " + err.message());
    d.tls->use_private_key_file(d.cfg.tls_key, ssl::context::pem, err);
    if (err)
      return caf::make_error(ec::invalid_argument, "http.tls-key: cannot load '"
                                                       + d.cfg.tls_key
                                                       + "': " + err.message());
  }
  boost::system::error_code err;
  auto addr = d.cfg.host == "localhost"
                  ? net::ip::make_address("127.0.0.1")
                  : net::ip::make_address(d.cfg.host, err);
  tcp::endpoint ep{addr, d.cfg.port};
  auto fail = [&](const char* what) {
    return caf::make_error(ec::unavailable, std::string{"http: cannot "} + what
                                                + " " + d.cfg.host + ":"
                                                + std::to_string(d.cfg.port)
                                                + ": " + err.message());
  };
  d.acceptor.open(ep.protocol(), err);
  if (err)
    return fail("open");
  d.acceptor.set_option(net::socket_base::reuse_address(true), err);
  d.acceptor.bind(ep, err);
  if (err)
    return fail("bind");
  d.acceptor.listen(net::socket_base::max_listen_connections, err);
  if (err)
    return fail("listen on");
  auto port = d.acceptor.local_endpoint().port();
  d.work.emplace(net::make_work_guard(d.ioc));
  d.accept();
  for (uint32_t i = 0; i < d.cfg.io_threads; ++i)
    d.threads.emplace_back([&d] {
      for (;;) {
        try {
          d.ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: I/O thread caught: {}", e.what());
        }
      }
    });
  return port;
}

void server::stop(std::chrono::milliseconds grace) {
  auto& d = *impl_;
  if (d.stopping.exchange(true) && d.threads.empty())
    return;
  net::post(d.ioc, [&d] {
    beast::error_code ignored;
    d.acceptor.close(ignored);
  });
  // Idle connections go now; those with a request under way answer it
  // (with Connection: close) and then close themselves.
  d.close_all(true);
  using clock = std::chrono::steady_clock;
  d.wait_zero(d.busy, clock::now() + grace);
  // The last answers are on the wire: a moment for their connections to
  // close, then the rest are closed.
  d.wait_zero(d.open, clock::now() + std::chrono::milliseconds{200});
  d.close_all(false);
  d.work.reset();
  d.wait_zero(d.open, clock::now() + std::chrono::seconds{1});
  d.ioc.stop();
  for (auto& t : d.threads)
    if (t.joinable())
      t.join();
  d.threads.clear();
}

uint32_t server::connections() const {
  return impl_->open.load();
}

} // namespace herald::http
