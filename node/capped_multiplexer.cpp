#include "node/capped_multiplexer.hpp"

#include <sys/socket.h>

#include <caf/io/network/scribe_impl.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/settings.hpp>

namespace herald {

namespace {

constexpr const char* limit_key = "herald-transport.max-message-size";

std::function<void(const std::string&)>& reporter() {
  static std::function<void(const std::string&)> f;
  return f;
}

/// CAF's plaintext scribe, refusing reads beyond the limit.
class capped_scribe : public caf::io::network::scribe_impl {
public:
  capped_scribe(caf::io::network::default_multiplexer& mx,
                caf::io::network::native_socket fd, size_t limit)
    : scribe_impl(mx, fd), limit_(limit) {
    // nop
  }

  void configure_read(caf::io::receive_policy::config cfg) override {
    if (cfg.second > limit_ && !refused_) {
      refused_ = true;
      if (auto& report = reporter())
        report("closed the cluster connection from " + addr() + ":"
               + std::to_string(port()) + ": it announced a message of "
               + std::to_string(cfg.second) + " bytes (the limit is "
               + std::to_string(limit_) + ")");
      // The next read sees the end of the stream: the broker gets
      // connection_closed_msg and drops the peer like any lost one.
      ::shutdown(stream_.fd(), SHUT_RDWR);
    }
    if (refused_)
      cfg = caf::io::receive_policy::at_most(1);
    scribe_impl::configure_read(cfg);
  }

private:
  size_t limit_;
  bool refused_ = false;
};

} // namespace

void set_max_message_size(caf::actor_system_config& cfg, size_t bytes) {
  caf::put(cfg.content, limit_key, static_cast<int64_t>(bytes));
}

capped_multiplexer::capped_multiplexer(caf::actor_system* sys)
  : default_multiplexer(sys), limit_(default_max_message_size) {
  auto configured = caf::get_or(sys->config(), limit_key,
                                static_cast<int64_t>(default_max_message_size));
  if (configured > 0)
    limit_ = static_cast<size_t>(configured);
}

caf::io::scribe_ptr
capped_multiplexer::new_scribe(caf::io::network::native_socket fd) {
  // As default_multiplexer::new_scribe, with our scribe.
  caf::io::network::keepalive(fd, true);
  return caf::make_counted<capped_scribe>(*this, fd, limit_);
}

void capped_multiplexer::set_reporter(
  std::function<void(const std::string&)> f) {
  reporter() = std::move(f);
}

} // namespace herald
