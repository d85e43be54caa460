// An event handler for actor-level tests: records what it gets and answers
// ok, or the error the test sets.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "messages/error.hpp"
#include "messages/event_actors.hpp"

namespace herald::test {

struct handler_log {
  std::vector<event> seen;
  /// If set, every event is answered with this error (and still recorded).
  caf::error fail_with;
  /// If true, events are recorded but never answered.
  bool silent = false;
  /// Events with these ids fail with ec::rejected, a failure of the event
  /// itself (and are recorded).
  std::set<std::string> fail_ids;
  /// Events with these ids are deferred (ec::deferred: refused for now).
  std::set<std::string> defer_ids;
  /// Events with these ids fail with ec::unavailable, as in an outage.
  std::set<std::string> unavailable_ids;
};

inline event_handler_actor::behavior_type
recording_handler(event_handler_actor::pointer self,
                  std::shared_ptr<handler_log> log) {
  return {
      [self, log](atom::handle, event& ev) -> caf::result<caf::ok_atom> {
        log->seen.push_back(ev);
        if (log->silent)
          return self->make_response_promise<caf::ok_atom>();
        if (log->fail_with)
          return log->fail_with;
        if (log->fail_ids.count(ev.id) > 0)
          return caf::make_error(ec::rejected, "refusing " + ev.id);
        if (log->unavailable_ids.count(ev.id) > 0)
          return caf::make_error(ec::unavailable, "down for " + ev.id);
        if (log->defer_ids.count(ev.id) > 0)
          return caf::make_error(ec::deferred, "not now " + ev.id);
        return caf::ok_atom_v;
      },
  };
}

inline event make_event(std::string topic, std::string key, uint64_t seq) {
  event ev;
  ev.id = "id-" + std::to_string(seq);
  ev.topic = std::move(topic);
  ev.key = std::move(key);
  ev.seq = seq;
  ev.time = 1700000000000;
  ev.source = "test";
  ev.data = "{}";
  return ev;
}

} // namespace herald::test
