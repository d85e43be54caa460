// Shared test header: CAF's deterministic test DSL with herald's types.
#pragma once

#define FAIL CAF_FAIL
#include <caf/test/dsl.hpp>

#include <caf/actor_system_config.hpp>

#include "messages/context.hpp"
#include "messages/error.hpp"
#include "messages/type_ids.hpp"

namespace herald::test {

/// An actor system config that knows herald's messages and errors.
struct config : caf::actor_system_config {
  config() { herald::add_message_types(*this); }
};

/// Deterministic fixture: one scheduler, manual time, herald's types.
struct fixture : test_coordinator_fixture<config> {
  /// The context tests send their requests with.
  herald::request_context ctx{"test-request", "test"};

  /// Sends a request from the scoped test actor, runs every actor until idle
  /// and answers the reply (or error). Fails the test if no reply came.
  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& dest, Ts&&... xs) {
    caf::expected<T> result{caf::make_error(herald::ec::internal,
                                            std::string{"no reply received"})};
    auto rh = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    run();
    // Everything ran: a reply is in the mailbox now or never comes (a
    // dropped response promise). Waiting would hang the test.
    if (self->mailbox().empty())
      return result;
    rh.receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Like call(), but only delivers messages and fires no timeouts: for
  /// systems with actors that re-arm a timer forever (the outbox relay).
  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& dest, Ts&&... xs) {
    caf::expected<T> result{caf::make_error(herald::ec::internal,
                                            std::string{"no reply received"})};
    auto rh = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    sched.run();
    if (self->mailbox().empty())
      return result;
    rh.receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

/// Returns the herald error code of `err`, or ec::none for other categories.
inline herald::ec code_of(const caf::error& err) {
  // A none error has no category to ask (CAF 0.17.6 crashes on it).
  if (!err)
    return herald::ec::none;
  if (err.category() != caf::atom("herald"))
    return herald::ec::none;
  return static_cast<herald::ec>(err.code());
}

} // namespace herald::test

/// Checks that `res` failed with `code` and a message containing `needle`.
#define CHECK_REJECTED(res, code, needle)                                      \
  do {                                                                         \
    auto&& res_ = (res);                                                       \
    CAF_CHECK(!res_);                                                          \
    if (!res_) {                                                               \
      CAF_CHECK_EQUAL(herald::test::code_of(res_.error()), code);              \
      auto text_ = herald::render(res_.error());                               \
      auto found_ = text_.find(needle) != std::string::npos;                   \
      CAF_CHECK(found_);                                                       \
      if (!found_)                                                             \
        CAF_MESSAGE("message was: " << text_);                                 \
    }                                                                          \
  } while (false)
