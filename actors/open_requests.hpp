// The requests an actor has taken and will answer later (through response
// promises), so that stopping it can wait for them and answer what is left
// with `unavailable` instead of leaving the callers to their timeouts.
//
// A service makes its promises through open<T>() instead of
// make_response_promise<T>() and delivers them as usual; drain_on_exit()
// then turns a shutdown (exit reason user_shutdown) into: keep working until
// nothing is open or `grace` passed, answer the rest, exit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <caf/delegated.hpp>
#include <caf/exit_reason.hpp>
#include <caf/result.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_response_promise.hpp>

#include <spdlog/spdlog.h>

#include "messages/error.hpp"

namespace herald {

class open_requests {
  struct entry_base {
    virtual ~entry_base() = default;
    virtual void fail(const caf::error& err) = 0;
    bool open = true;
  };

  template <class T>
  struct entry : entry_base {
    explicit entry(caf::typed_response_promise<T> x) : rp(std::move(x)) {}
    void fail(const caf::error& err) override {
      if (open) {
        open = false;
        rp.deliver(err);
      }
    }
    caf::typed_response_promise<T> rp;
  };

public:
  /// A response promise that leaves the book when it is delivered; copies
  /// share it, and only the first delivery counts.
  template <class T>
  class promise {
  public:
    promise(std::shared_ptr<entry<T>> e, open_requests* book, uint64_t id)
        : entry_(std::move(e)), book_(book), id_(id) {
      // nop
    }

    template <class U>
    void deliver(U&& x) {
      if (!entry_->open)
        return;
      entry_->open = false;
      entry_->rp.deliver(std::forward<U>(x));
      book_->close(id_);
    }

    /// Lets a handler `return` the promise, like a typed_response_promise.
    operator caf::result<T>() const { return caf::delegated<T>{}; }

  private:
    std::shared_ptr<entry<T>> entry_;
    open_requests* book_;
    uint64_t id_;
  };

  /// Makes a promise for the request `self` is handling now.
  template <class T, class Self>
  promise<T> open(Self* self) {
    auto e
        = std::make_shared<entry<T>>(self->template make_response_promise<T>());
    auto id = next_++;
    entries_.emplace(id, e);
    return promise<T>{std::move(e), this, id};
  }

  size_t size() const { return entries_.size(); }

  /// Answers every open request with `err` (and forgets when_empty()).
  void fail_all(const caf::error& err) {
    on_empty_ = nullptr;
    auto entries = std::move(entries_);
    entries_.clear();
    for (auto& [id, e] : entries)
      e->fail(err);
  }

  /// Runs `f` once the book is empty (at once if it is).
  void when_empty(std::function<void()> f) {
    if (entries_.empty())
      f();
    else
      on_empty_ = std::move(f);
  }

private:
  void close(uint64_t id) {
    entries_.erase(id);
    if (entries_.empty() && on_empty_)
      std::exchange(on_empty_, nullptr)();
  }

  std::map<uint64_t, std::shared_ptr<entry_base>> entries_;
  uint64_t next_ = 0;
  std::function<void()> on_empty_;
};

/// Whether the message `self` is handling came from an actor on another
/// node (a caller over the cluster port). A peer can send without a sender,
/// or name an actor of this node as its sender (CAF 0.17.6 looks the name up
/// here): what this tells apart are mistakes, not a determined peer; only
/// who may connect (loopback, later mutual TLS) is a boundary.
template <class Self>
bool from_another_node(Self* self) {
  auto x = self->current_mailbox_element();
  return x != nullptr && x->sender != nullptr
         && x->sender->node() != self->node();
}

/// Makes `self` log and ignore error messages nobody asked for (CAF's
/// default ends an actor that receives one, and anybody on the cluster port
/// can send one).
template <class Self>
void ignore_stray_errors(Self* self) {
  self->set_error_handler([self](caf::error& err) {
    spdlog::warn("{}: ignored an error message nobody asked for: {}",
                 self->name(), render(err));
  });
}

/// On an exit message with reason user_shutdown (an orderly stop), `self`
/// finishes the requests in `book` (it still takes new ones) and exits once
/// none is open, or after `grace` with every open one answered
/// `unavailable`. Any other exit reason answers them at once and exits.
/// Exit messages from another node are ignored, and so are stray error
/// messages (ignore_stray_errors).
/// `on_orderly_stop` (optional) runs first at an orderly stop: an actor
/// answers there what it will not start any more, so that only the work
/// under way is waited for.
template <class Self>
void drain_on_exit(Self* self, open_requests& book,
                   std::chrono::milliseconds grace,
                   std::function<void()> on_orderly_stop = nullptr) {
  ignore_stray_errors(self);
  self->set_exit_handler([self, &book, grace,
                          on_orderly_stop](caf::exit_msg& msg) {
    if (from_another_node(self)) {
      // Only this node stops its services; over the cluster port anybody
      // could send an exit message.
      spdlog::warn("{}: ignored an exit message from another node",
                   self->name());
      return;
    }
    // drain_on_exit sends itself an exit message when the grace is over,
    // with reason `unavailable`. (Its source does not tell: anon_send_exit
    // names the receiver as the source too.)
    auto deadline
        = msg.reason.category() == caf::atom("herald")
          && msg.reason.code() == static_cast<uint8_t>(ec::unavailable);
    auto orderly = msg.reason == caf::exit_reason::user_shutdown;
    if (orderly && !deadline && on_orderly_stop)
      on_orderly_stop();
    if (orderly && !deadline && book.size() > 0) {
      book.when_empty([self] { self->quit(caf::exit_reason::user_shutdown); });
      caf::delayed_anon_send(
          caf::actor_cast<caf::actor>(self), grace,
          caf::exit_msg{self->address(),
                        caf::make_error(ec::unavailable, "grace is over")});
      return;
    }
    book.fail_all(caf::make_error(
        ec::unavailable,
        std::string{"the node is shutting down and stopped waiting for this "
                    "request; a change it asked for may still have been "
                    "applied"}));
    self->quit(deadline || orderly ? caf::error{caf::exit_reason::user_shutdown}
                                   : msg.reason);
  });
}

} // namespace herald
