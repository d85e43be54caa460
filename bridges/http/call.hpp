// Asking a service from an I/O thread without waiting for it: a one-shot
// actor sends the request with a deadline and hands the answer (or the
// error: a timeout, a service that is gone) to a callback on its own
// thread. The callbacks answer the exchange; they never block.
#pragma once

#include <functional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

#include "messages/error.hpp"

namespace herald::http {

using on_error = std::function<void(const caf::error&)>;

/// Sends `xs...` to `service` with `timeout`; calls `done` with the answer
/// or `failed` with the error. An invalid handle fails at once with
/// `unavailable` (the service does not run where the gateway can reach
/// it).
template <class Result, class Handle, class Done, class... Ts>
void call(caf::actor_system& sys, const Handle& service, caf::timespan timeout,
          Done done, on_error failed, Ts... xs) {
  if (!service) {
    failed(caf::make_error(ec::unavailable,
                           std::string{"the service is not reachable from "
                                       "this gateway"}));
    return;
  }
  sys.spawn([=](caf::event_based_actor* self) mutable {
    self->request(service, timeout, std::move(xs)...)
        .then([done](Result& r) mutable { done(r); },
              [failed](caf::error& err) { failed(err); });
  });
}

} // namespace herald::http
