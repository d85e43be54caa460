// A doorbell: lets actors wake a thread that waits in poll() on a socket.
//
// A blocking actor that owns an AMQP connection cannot wait for its socket
// and its mailbox at once: CAF's blocking receive waits on a condition
// variable, rabbitmq-c on a file descriptor. The doorbell is an eventfd the
// owner polls next to its socket; whoever sends the owner something it must
// act on soon rings it after the send. Rings are cheap while the owner is
// busy: only the first ring after the owner armed the bell writes to the
// eventfd.
//
// The owner's side, in this order (no message is missed: a send either
// lands before the check, or its ring finds the bell armed):
//
//   bell.arm();
//   if (mailbox empty) poll({socket, bell.fd()}, timeout);
//   bell.disarm();
//   if (the bell's fd was readable) bell.clear();
//   drain the mailbox
//
// A ring racing with clear() can leave the fd readable: the next poll then
// returns at once and clears it, one spurious wake-up at most.
#pragma once

#include <atomic>

namespace herald::amqp {

class doorbell {
public:
  /// Opens the eventfd; throws std::system_error if the system refuses.
  doorbell();
  ~doorbell();
  doorbell(const doorbell&) = delete;
  doorbell& operator=(const doorbell&) = delete;

  /// Readable while rung and not yet disarmed.
  int fd() const noexcept { return fd_; }

  /// The owner is about to wait: the next ring writes to the eventfd.
  void arm() noexcept;

  /// The owner is awake again: rings no longer write.
  void disarm() noexcept;

  /// Resets the eventfd (without blocking).
  void clear() noexcept;

  /// Wakes the owner if it armed the bell; any thread, after the send.
  void ring() noexcept;

private:
  int fd_ = -1;
  std::atomic<bool> armed_{false};
};

} // namespace herald::amqp
