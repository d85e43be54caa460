// What the consumer and the publisher's pump share: a blocking actor on its
// own thread that owns an AMQP connection and handles its mailbox between
// waits on the connection's socket. Others ring its doorbell after they sent
// it something, so one wait covers both (doorbell.hpp).
//
// The derived class implements
//
//   /// Handles one message if one comes within `timeout`; false on timeout.
//   bool receive_one(std::chrono::milliseconds timeout);
//
// with its own handlers plus exit_handler() and drop_unexpected().
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include <caf/blocking_actor.hpp>
#include <caf/catch_all.hpp>
#include <caf/delegated.hpp>
#include <caf/exit_reason.hpp>
#include <caf/others.hpp>
#include <caf/result.hpp>
#include <caf/to_string.hpp>

#include "bridges/amqp/doorbell.hpp"

namespace herald::amqp {

template <class Derived>
class blocking_loop {
public:
  using milliseconds = std::chrono::milliseconds;

  /// Longest wait on the socket: how late an exit message that did not ring
  /// (one from a link) is seen at most.
  static constexpr milliseconds max_wait{50};

  blocking_loop(caf::blocking_actor* self, std::shared_ptr<doorbell> bell,
                std::string name)
      : self_(self), bell_(std::move(bell)), name_(std::move(name)) {
    // nop
  }

protected:
  /// Handles what is in the mailbox without waiting. (The emptiness check
  /// costs no system call; a receive with a zero timeout would.)
  void drain_mailbox() {
    while (running_ && !self_->mailbox().empty())
      derived().receive_one(milliseconds{0});
  }

  /// Waits for `total`, handling the mailbox meanwhile.
  void wait_mailbox(milliseconds total) {
    auto deadline = std::chrono::steady_clock::now() + total;
    while (running_) {
      auto left = std::chrono::duration_cast<milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !derived().receive_one(left))
        return;
    }
  }

  /// Calls `wait(fd)`, a wait on the socket that returns early once `fd` is
  /// readable, with the doorbell armed; answers its result, or nullopt at
  /// once if the mailbox has something. `is_empty(result)`: the wait ended
  /// without anything from the socket (the doorbell may have rung).
  template <class Wait, class IsEmpty>
  auto wait_socket(Wait wait, IsEmpty is_empty)
      -> std::optional<decltype(wait(0))> {
    bell_->arm();
    if (!self_->mailbox().empty()) {
      bell_->disarm();
      return std::nullopt;
    }
    auto result = wait(bell_->fd());
    bell_->disarm();
    if (is_empty(result))
      bell_->clear();
    return result;
  }

  /// For receive_one: an exit message ends the loop.
  auto exit_handler() {
    return [this](caf::exit_msg& x) { stop(std::move(x.reason)); };
  }

  /// For receive_one, last before the timeout: logs and drops anything
  /// else. (Left in the mailbox, it would keep drain_mailbox() spinning; a
  /// delegated result sends no answer, so nothing bounces back and forth.)
  auto drop_unexpected() {
    return caf::others >>
               [this](caf::message_view& x) -> caf::result<caf::message> {
      spdlog::warn("amqp {}: dropping an unexpected message: {}", name_,
                   caf::to_string(x.copy_content_to_message()));
      return caf::delegated<caf::message>{};
    };
  }

  void stop(caf::error reason) {
    running_ = false;
    reason_ = std::move(reason);
  }

  caf::blocking_actor* self_;
  std::shared_ptr<doorbell> bell_;
  /// For logs and the connection state in the counters.
  std::string name_;
  bool running_ = true;
  caf::error reason_;

private:
  Derived& derived() { return static_cast<Derived&>(*this); }
};

} // namespace herald::amqp
