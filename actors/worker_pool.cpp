#include "actors/worker_pool.hpp"

#include <caf/exit_reason.hpp>
#include <caf/message_view.hpp>
#include <caf/response_promise.hpp>

namespace herald::detail {

namespace {

struct dispatcher_state {
  static inline const char* name = "worker_pool";
  std::vector<caf::actor> workers;
  size_t next = 0;
};

caf::behavior dispatcher(caf::stateful_actor<dispatcher_state>* self,
                         std::vector<caf::actor> workers) {
  self->state.workers = std::move(workers);
  for (auto& w : self->state.workers)
    self->monitor(w);
  // A worker that dies takes the pool down: its queued requests are lost to
  // their requesters' timeouts, and the supervisor sees the pool exit.
  self->set_down_handler([self](caf::down_msg& msg) {
    self->quit(msg.reason ? msg.reason : caf::error{caf::exit_reason::unknown});
  });
  self->attach_functor([ws = self->state.workers] {
    for (auto& w : ws)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  });
  self->set_default_handler(
      [self](caf::scheduled_actor*,
             caf::message_view& msg) -> caf::result<caf::message> {
        auto& st = self->state;
        auto& worker = st.workers[st.next++ % st.workers.size()];
        auto rp = self->make_response_promise();
        rp.delegate(worker, msg.move_content_to_message());
        return rp;
      });
  // The behavior must not be empty, or the actor would terminate at once.
  return {
      [](caf::ok_atom) {
        // Never sent; keeps the behavior non-empty.
      },
  };
}

} // namespace

caf::actor spawn_dispatcher(caf::actor_system& sys,
                            std::vector<caf::actor> workers) {
  return sys.spawn(dispatcher, std::move(workers));
}

} // namespace herald::detail
