#include "storage/mysql_storage.hpp"

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include <caf/typed_event_based_actor.hpp>

#include "actors/worker_pool.hpp"
#include "messages/error.hpp"
#include "storage/accounts.hpp"
#include "storage/mysql.hpp"
#include "storage/outbox.hpp"
#include "storage/resets.hpp"
#include "storage/throttle.hpp"

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

  /// The origin of events a request with context `ctx` writes.
  event_origin origin(const request_context& ctx) const {
    return {cfg.event_source, ctx.id, ctx.caller};
  }

  static inline const char* name = "herald.mysql_worker";
};

storage_actor::behavior_type
mysql_worker(storage_actor::stateful_pointer<worker_state> self,
             mysql_settings cfg) {
  self->state.cfg = std::move(cfg);
  auto& st = self->state;
  return {
      [&st](atom::create, const request_context& ctx,
            const new_account& x) -> caf::result<account> {
        return st.run(
            [&](auto& db) { return insert_account(db, st.origin(ctx), x); });
      },
      [&st](atom::get, uint64_t id) -> caf::result<account> {
        return st.run([&](auto& db) { return select_account(db, id); });
      },
      [&st](atom::get, atom::by_email,
            const std::string& email) -> caf::result<account> {
        return st.run(
            [&](auto& db) { return select_account_by_email(db, email); });
      },
      [&st](atom::list, uint64_t after,
            uint32_t limit) -> caf::result<user_page> {
        return st.run([&](auto& db) { return list_users(db, after, limit); });
      },
      [&st](atom::update, const request_context& ctx, uint64_t id,
            const account_patch& patch) -> caf::result<account> {
        return st.run([&](auto& db) {
          return update_account(db, st.origin(ctx), id, patch);
        });
      },
      [&st](atom::remove, const request_context& ctx,
            uint64_t id) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = delete_account(db, st.origin(ctx), id))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::status) -> caf::result<storage_status> {
        auto users = st.run([](auto& db) -> caf::expected<uint64_t> {
          if (auto err = db.ping())
            return err;
          return estimate_accounts(db);
        });
        storage_status result{describe(st.cfg), "ok", 0};
        if (users)
          result.users_estimate = *users;
        else
          result.state = render(users.error());
        return result;
      },
      // -- password reset ------------------------------------------------
      [&st](atom::reset_request, const request_context& ctx,
            const reset_ticket& t) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = request_reset(db, st.origin(ctx), t))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::reset_issue, const std::string& event_id, uint64_t user_id,
            const std::string& hash,
            const std::string& legacy_hash) -> caf::result<int64_t> {
        return st.run([&](auto& db) {
          return issue_reset(db, event_id, user_id, hash, legacy_hash);
        });
      },
      [&st](atom::reset_check,
            const std::string& hash) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = check_reset(db, hash))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::reset_confirm, const request_context& ctx,
            const std::string& hash,
            const std::string& password_hash) -> caf::result<account> {
        return st.run([&](auto& db) {
          return confirm_reset(db, st.origin(ctx), hash, password_hash);
        });
      },
      // -- outbox ----------------------------------------------------------
      [&st](atom::outbox_fetch, uint64_t after,
            uint32_t limit) -> caf::result<std::vector<event>> {
        return st.run([&](auto& db) { return fetch_events(db, after, limit); });
      },
      [&st](atom::outbox_claim, const std::string& owner, uint32_t limit,
            int64_t lease_ms)
          -> caf::result<std::vector<event>, std::vector<uint64_t>> {
        auto res = st.run(
            [&](auto& db) { return claim_events(db, owner, limit, lease_ms); });
        if (!res)
          return std::move(res.error());
        return caf::result<std::vector<event>, std::vector<uint64_t>>{
            std::move(res->claimed), std::move(res->held)};
      },
      [&st](atom::outbox_release,
            const std::string& owner) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = release_events(db, owner))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::outbox_done,
            const std::vector<uint64_t>& seqs) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = delete_events(db, seqs))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::outbox_failed, uint64_t seq, const std::string& error,
            bool dead) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = record_failure(db, seq, error, dead))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::outbox, atom::status) -> caf::result<outbox_status> {
        return st.run([](auto& db) { return read_outbox_status(db); });
      },
      // -- idempotency -----------------------------------------------------
      [&st](atom::processed, const std::string& handler,
            const std::string& id) -> caf::result<bool> {
        return st.run([&](auto& db) { return is_processed(db, handler, id); });
      },
      [&st](atom::event_claim, const std::string& handler,
            const std::string& id, const std::string& owner,
            int64_t timeout_ms) -> caf::result<bool> {
        auto res = st.run([&](auto& db) {
          return claim_event(db, handler, id, owner, timeout_ms);
        });
        if (!res)
          return std::move(res.error());
        if (*res == event_claim::held)
          return caf::make_error(ec::deferred,
                                 "event " + id + " is being handled by "
                                     "another " + handler);
        return *res == event_claim::claimed;
      },
      [&st](atom::event_release, const std::string& handler,
            const std::string& id,
            const std::string& owner) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = release_event(db, handler, id, owner))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::mark_processed, const std::string& handler,
            const std::string& id) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = mark_processed(db, handler, id))
            return err;
          return caf::ok_atom_v;
        });
      },
      // -- throttling ------------------------------------------------------
      [&st](atom::throttle_hit,
            const std::vector<throttle_rule>& rules) -> caf::result<int64_t> {
        return st.run([&](auto& db) { return throttle_hit(db, rules); });
      },
      [&st](atom::throttle_undo,
            const std::vector<std::string>& keys) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = throttle_undo(db, keys))
            return err;
          return caf::ok_atom_v;
        });
      },
      [&st](atom::throttle_clear,
            const std::vector<std::string>& keys) -> caf::result<caf::ok_atom> {
        return st.run([&](auto& db) -> caf::expected<caf::ok_atom> {
          if (auto err = throttle_clear(db, keys))
            return err;
          return caf::ok_atom_v;
        });
      },
  };
}

} // namespace

storage_actor spawn_mysql_storage(caf::actor_system& sys,
                                  const mysql_settings& cfg) {
  mysql::library_init();
  // The pool keeps the function to respawn workers: capture by value.
  return spawn_worker_pool<storage_actor>(
      sys, cfg.pool_size,
      [&sys, cfg] { return sys.spawn<caf::detached>(mysql_worker, cfg); },
      worker_pool_settings{"storage"});
}

} // namespace herald::storage
