#include "bridges/amqp/doorbell.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace herald::amqp {

doorbell::doorbell() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "eventfd");
}

doorbell::~doorbell() {
  ::close(fd_);
}

void doorbell::arm() noexcept {
  // seq_cst: the store must be visible before the owner reads its mailbox,
  // and a ringer's send before its read of the flag.
  armed_.store(true);
}

void doorbell::disarm() noexcept {
  armed_.store(false);
}

void doorbell::clear() noexcept {
  uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(fd_, &count, sizeof(count));
}

void doorbell::ring() noexcept {
  if (!armed_.exchange(false))
    return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd_, &one, sizeof(one));
}

} // namespace herald::amqp
