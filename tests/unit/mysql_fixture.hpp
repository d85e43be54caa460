// Shared fixture of the mysql_* suites: they run against the test MariaDB
// (ctest fixture `mysql`, port from HERALD_TEST_MYSQL_PORT). Detached workers
// do not run under the deterministic scheduler, so these tests use a real
// actor system and a blocking actor that waits for each reply with a timeout.
#pragma once

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "messages/context.hpp"
#include "messages/storage_actor.hpp"
#include "storage/mysql.hpp"
#include "storage/mysql_storage.hpp"
#include "tests/test.hpp"

namespace herald::test {

constexpr auto reply_timeout = std::chrono::seconds{30};

inline std::string env_or(const char* name, const char* fallback) {
  auto value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

/// The test server, without a database selected.
inline storage::mysql_settings test_server() {
  storage::mysql_settings cfg;
  cfg.host = "127.0.0.1";
  cfg.port = static_cast<uint16_t>(
      std::stoi(env_or("HERALD_TEST_MYSQL_PORT", "3317")));
  cfg.user = "herald";
  cfg.password = env_or("HERALD_MYSQL_PASSWORD", "herald-dev-password");
  cfg.database.clear();
  cfg.pool_size = 2;
  cfg.io_timeout = std::chrono::seconds{10};
  cfg.event_source = "test-node";
  return cfg;
}

inline std::string random_database() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "herald_test_";
  auto x = dist(rd);
  for (int i = 0; i < 12; ++i, x >>= 4)
    out += hex[x & 0xf];
  return out;
}

} // namespace herald::test

#define REQUIRE_OK(expr)                                                       \
  do {                                                                         \
    if (auto&& res_ = (expr); !res_)                                           \
      CAF_FAIL(#expr " failed: " << herald::render(res_.error()));             \
  } while (false)

namespace herald::test {

/// A throwaway database per test, dropped afterwards; an actor system with
/// herald's types; an admin connection to look at and meddle with the server.
struct mysql_fixture {
  /// The context tests send their writes with.
  herald::request_context ctx{"test-request", "test"};

  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  storage::mysql_settings db = test_server();
  std::unique_ptr<storage::mysql::connection> admin;
  storage_actor store;

  mysql_fixture() {
    auto opened = storage::mysql::connection::open(db);
    if (!opened)
      CAF_FAIL("test MariaDB not reachable: " << render(opened.error()));
    admin = std::move(*opened);
    db.database = random_database();
    sql("CREATE DATABASE `" + db.database + "` CHARACTER SET utf8mb4");
  }

  ~mysql_fixture() {
    if (store)
      self->send_exit(store, caf::exit_reason::user_shutdown);
    store = storage_actor{};
    admin->execute("DROP DATABASE IF EXISTS `" + db.database + "`");
  }

  void sql(const std::string& text,
           const std::vector<storage::mysql::value>& xs = {}) {
    REQUIRE_OK(admin->execute(text, xs));
  }

  /// Answers the first column of the first row of `text` as a number.
  uint64_t number(const std::string& text,
                  const std::vector<storage::mysql::value>& xs = {}) {
    auto rows = admin->query(text, xs, {storage::mysql::column::u64});
    if (!rows || rows->empty() || rows->front()[0].index() == 0)
      CAF_FAIL("no number from " << text);
    return std::get<uint64_t>(rows->front()[0]);
  }

  /// Answers the first column of every row of `text` as text.
  std::vector<std::string> texts(const std::string& text,
                                 const std::vector<storage::mysql::value>& xs
                                 = {}) {
    auto rows = admin->query(text, xs, {storage::mysql::column::text});
    REQUIRE_OK(rows);
    std::vector<std::string> out;
    for (auto& r : *rows)
      out.push_back(r[0].index() == 0 ? "NULL" : std::get<std::string>(r[0]));
    return out;
  }

  std::string table(const char* name) {
    return "`" + db.database + "`." + name;
  }

  void start() {
    if (auto err = storage::migrate(db))
      CAF_FAIL("migrate failed: " << render(err));
    store = storage::spawn_mysql_storage(sys, db);
  }

  template <class T, class... Ts>
  caf::expected<T> ask(const storage_actor& dest, Ts&&... xs) {
    caf::expected<T> result{caf::make_error(ec::internal, "no reply")};
    self->request(dest, reply_timeout, std::forward<Ts>(xs)...)
        .receive([&](T& x) { result = std::move(x); },
                 [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::expected<account> create(std::string name, std::string email,
                                std::string hash = "$argon2id$hash") {
    new_account x{std::move(name), std::move(email), role_user,
                  std::move(hash)};
    return ask<account>(store, atom::create_v, ctx, std::move(x));
  }

  account created(std::string name, std::string email) {
    auto res = create(std::move(name), std::move(email));
    REQUIRE_OK(res);
    return *res;
  }

  caf::expected<account> get(uint64_t id) {
    return ask<account>(store, atom::get_v, id);
  }

  caf::expected<account> by_email(std::string email) {
    return ask<account>(store, atom::get_v, atom::by_email_v, std::move(email));
  }

  caf::expected<account> update(uint64_t id, account_patch patch) {
    return ask<account>(store, atom::update_v, ctx, id, std::move(patch));
  }

  caf::expected<caf::ok_atom> remove(uint64_t id) {
    return ask<caf::ok_atom>(store, atom::remove_v, ctx, id);
  }

  /// Ids of the server connections the pool holds on this test's database.
  std::vector<uint64_t> pool_connections() {
    auto rows = admin->query("SELECT ID FROM information_schema.PROCESSLIST "
                             "WHERE DB = ? ORDER BY ID",
                             {db.database}, {storage::mysql::column::u64});
    REQUIRE_OK(rows);
    std::vector<uint64_t> ids;
    for (auto& r : *rows)
      ids.push_back(std::get<uint64_t>(r[0]));
    return ids;
  }
};

/// Waits for the replies to requests that race for one outcome, in order,
/// and counts them: {replies of type `T`, errors with code `loss`}. Any other
/// error fails the test.
template <class T, class Handles>
std::pair<size_t, size_t> tally_race(Handles& pending, ec loss) {
  size_t won = 0;
  size_t lost = 0;
  for (auto& rh : pending)
    rh.receive([&](T&) { ++won; },
               [&](caf::error& err) {
                 if (code_of(err) == loss)
                   ++lost;
                 else
                   CAF_FAIL("unexpected error: " << render(err));
               });
  return {won, lost};
}

inline void check_error(const caf::error& err, ec code,
                        const std::string& text) {
  CAF_CHECK_EQUAL(code_of(err), code);
  auto rendered = render(err);
  CAF_MESSAGE("error: " << rendered);
  CAF_CHECK(rendered.find(text) != std::string::npos);
}

} // namespace herald::test
