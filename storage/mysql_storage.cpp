#include "storage/mysql_storage.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/error.hpp"
#include "storage/accounts.hpp"
#include "storage/mysql.hpp"

namespace herald::storage {

namespace {

// -- worker -------------------------------------------------------------------

/// After a failed connect, requests within this pause are answered with that
/// failure at once instead of each waiting for its own connect attempt.
constexpr auto reconnect_pause = std::chrono::seconds{1};

/// A detached worker: owns one connection on its own thread.
struct worker_state {
  mysql_settings cfg;
  std::unique_ptr<mysql::connection> conn;
  bool thread_ready = false;
  std::chrono::steady_clock::time_point paused_until;
  caf::error connect_error;

  /// Runs on the worker's thread when the actor exits.
  ~worker_state() {
    conn.reset();
    if (thread_ready)
      mysql::thread_end();
  }

  /// Opens the connection if there is none.
  caf::error connect() {
    if (conn)
      return caf::none;
    auto now = std::chrono::steady_clock::now();
    if (now < paused_until)
      return connect_error;
    if (!thread_ready) {
      mysql::thread_init();
      thread_ready = true;
    }
    auto opened = mysql::connection::open(cfg);
    if (!opened) {
      connect_error = std::move(opened.error());
      paused_until = now + reconnect_pause;
      return connect_error;
    }
    conn = std::move(*opened);
    return caf::none;
  }

  /// Runs `op` on the connection. When the link turns out to be gone, the
  /// connection is dropped and `op` runs once more on a new one: every write
  /// is a transaction the server rolls back when the link breaks, so a retry
  /// cannot apply it twice — unless the link broke during COMMIT, where the
  /// outcome is unknown and the error goes to the caller.
  template <class F>
  auto run(F op) -> decltype(op(*conn)) {
    for (int attempt = 0;; ++attempt) {
      if (auto err = connect())
        return err;
      auto res = op(*conn);
      if (res || !conn->broken())
        return res;
      auto retry = attempt == 0 && !conn->commit_in_doubt();
      conn.reset();
      if (!retry)
        return res;
    }
  }

  static inline const char* name = "herald.mysql_worker";
};

storage_actor::behavior_type
mysql_worker(storage_actor::stateful_pointer<worker_state> self,
             mysql_settings cfg) {
  self->state.cfg = std::move(cfg);
  auto& st = self->state;
  return {
      [&st](atom::create, const new_account& x) -> caf::result<account> {
        return st.run([&](auto& db) { return insert_account(db, x); });
      },
      [&st](atom::get, uint64_t id) -> caf::result<account> {
        return st.run([&](auto& db) { return select_account(db, id); });
      },
      [&st](atom::get, atom::by_email,
            const std::string& email) -> caf::result<account> {
        return st.run(
            [&](auto& db) { return select_account_by_email(db, email); });
      },
      [&st](atom::list, uint32_t page,
            uint32_t per_page) -> caf::result<user_page> {
        return st.run([&](auto& db) { return list_users(db, page, per_page); });
      },
      [&st](atom::update, uint64_t id,
            const account_patch& patch) -> caf::result<account> {
        return st.run([&](auto& db) { return update_account(db, id, patch); });
      },
      [&st](atom::remove, uint64_t id) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = delete_account(db, id))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::status) -> caf::result<storage_status> {
        auto users = st.run([](auto& db) -> caf::expected<uint64_t> {
          if (auto err = db.ping())
            return err;
          return count_accounts(db);
        });
        storage_status result{describe(st.cfg), "ok", 0};
        if (users)
          result.users = *users;
        else
          result.state = render(users.error());
        return result;
      },
  };
}

// -- dispatcher ---------------------------------------------------------------

using worker_list = std::vector<storage_actor>;

/// The pool's face: hands each request to the next worker in turn.
struct dispatcher_state {
  mysql_settings cfg;
  /// Shared with the exit hook, which outlives this state.
  std::shared_ptr<worker_list> workers;
  size_t next = 0;

  const storage_actor& pick() {
    auto& ws = *workers;
    return ws[next++ % ws.size()];
  }

  static inline const char* name = "herald.mysql_storage";
};

storage_actor::behavior_type
mysql_dispatcher(storage_actor::stateful_pointer<dispatcher_state> self,
                 mysql_settings cfg, worker_list workers) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.workers = std::make_shared<worker_list>(std::move(workers));
  for (auto& w : *st.workers)
    self->monitor(w);
  // A worker answers failures with errors and never exits on its own; if one
  // dies anyway (a bug), a fresh one takes its place.
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    for (auto& w : *st.workers)
      if (w.address() == dm.source) {
        w = self->spawn<caf::detached>(mysql_worker, st.cfg);
        self->monitor(w);
      }
  });
  // Detached workers keep their threads until told to stop, and the actor
  // system waits for them at shutdown: whatever ends the dispatcher (an exit
  // message, or its last handle going away) ends the workers too.
  self->attach_functor([ws = st.workers](const caf::error&) {
    for (auto& w : *ws)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  });
  return {
      [self](atom::create, new_account& x) {
        return self->delegate(self->state.pick(), atom::create_v, std::move(x));
      },
      [self](atom::get, uint64_t id) {
        return self->delegate(self->state.pick(), atom::get_v, id);
      },
      [self](atom::get, atom::by_email, std::string& email) {
        return self->delegate(self->state.pick(), atom::get_v, atom::by_email_v,
                              std::move(email));
      },
      [self](atom::list, uint32_t page, uint32_t per_page) {
        return self->delegate(self->state.pick(), atom::list_v, page, per_page);
      },
      [self](atom::update, uint64_t id, account_patch& patch) {
        return self->delegate(self->state.pick(), atom::update_v, id,
                              std::move(patch));
      },
      [self](atom::remove, uint64_t id) {
        return self->delegate(self->state.pick(), atom::remove_v, id);
      },
      [self](atom::status) {
        return self->delegate(self->state.pick(), atom::status_v);
      },
  };
}

} // namespace

storage_actor spawn_mysql_storage(caf::actor_system& sys,
                                  const mysql_settings& cfg) {
  mysql::library_init();
  worker_list workers;
  auto n = std::max<size_t>(1, cfg.pool_size);
  for (size_t i = 0; i < n; ++i)
    workers.push_back(sys.spawn<caf::detached>(mysql_worker, cfg));
  return sys.spawn(mysql_dispatcher, cfg, std::move(workers));
}

} // namespace herald::storage
