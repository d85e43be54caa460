#define CAF_SUITE mysql_storage

#include <algorithm>
#include <chrono>
#include <thread>

#include "actors/worker_pool.hpp"
#include "storage/migrations.hpp"
#include "tests/unit/mysql_fixture.hpp"

using namespace herald;
using namespace herald::storage;
using herald::test::check_error;
using herald::test::code_of;
using herald::test::reply_timeout;
using herald::test::tally_race;

namespace {

using fixture = herald::test::mysql_fixture;

account_patch rename_to(std::string name) {
  account_patch p;
  p.set_name = true;
  p.name = std::move(name);
  return p;
}

void check_same(const account& x, const account& y) {
  CAF_CHECK_EQUAL(x.profile.id, y.profile.id);
  CAF_CHECK_EQUAL(x.profile.name, y.profile.name);
  CAF_CHECK_EQUAL(x.profile.email, y.profile.email);
  CAF_CHECK_EQUAL(x.profile.role, y.profile.role);
  CAF_CHECK_EQUAL(x.profile.token_version, y.profile.token_version);
  CAF_CHECK_EQUAL(x.profile.created_at, y.profile.created_at);
  CAF_CHECK_EQUAL(x.profile.updated_at, y.profile.updated_at);
  CAF_CHECK_EQUAL(x.password_hash, y.password_hash);
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(mysql_storage_tests, fixture)

// -- migrations ---------------------------------------------------------------

CAF_TEST(migrate sets up a fresh database once and is idempotent) {
  CAF_REQUIRE_EQUAL(migrate(db), caf::none);
  auto recorded = "SELECT COUNT(*) FROM " + table("schema_migrations");
  CAF_CHECK_EQUAL(number(recorded), migrations().size());
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("users")), 0u);
  auto applied
      = number("SELECT SUM(applied_at) FROM " + table("schema_migrations"));
  CAF_CHECK_EQUAL(
      number("SELECT MIN(LENGTH(checksum)) FROM " + table("schema_migrations")),
      64u);
  CAF_REQUIRE_EQUAL(migrate(db), caf::none);
  CAF_CHECK_EQUAL(number(recorded), migrations().size());
  CAF_CHECK_EQUAL(
      number("SELECT SUM(applied_at) FROM " + table("schema_migrations")),
      applied);
}

CAF_TEST(two nodes migrating at once both succeed and apply each file once) {
  caf::error first;
  caf::error second;
  std::thread a{[&] { first = migrate(db); }};
  std::thread b{[&] { second = migrate(db); }};
  a.join();
  b.join();
  CAF_CHECK_EQUAL(render(first), "ok");
  CAF_CHECK_EQUAL(render(second), "ok");
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("schema_migrations")),
                  migrations().size());
}

CAF_TEST(migrate refuses an unknown or changed applied migration) {
  CAF_REQUIRE_EQUAL(migrate(db), caf::none);
  sql("INSERT INTO " + table("schema_migrations")
          + " VALUES (999, '999_later.sql', ?, 0)",
      {std::string(64, 'a')});
  check_error(migrate(db), ec::internal, "999_later.sql");
  sql("DELETE FROM " + table("schema_migrations") + " WHERE version = 999");
  CAF_REQUIRE_EQUAL(migrate(db), caf::none);
  sql("UPDATE " + table("schema_migrations")
      + " SET checksum = REPEAT('0', 64) WHERE version = 1");
  check_error(migrate(db), ec::internal, "001_users.sql was changed");
}

// -- requests -----------------------------------------------------------------

CAF_TEST(create get list update remove) {
  start();
  auto alice = created("Alice", "alice@example.org");
  CAF_CHECK_NOT_EQUAL(alice.profile.id, 0u);
  CAF_CHECK_EQUAL(alice.profile.role, "user");
  CAF_CHECK_EQUAL(alice.profile.token_version, 0u);
  CAF_CHECK_EQUAL(alice.password_hash, "$argon2id$hash");
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  CAF_CHECK_LESS(std::abs(alice.profile.created_at - now), 60);
  CAF_CHECK_EQUAL(alice.profile.created_at, alice.profile.updated_at);
  auto got = get(alice.profile.id);
  REQUIRE_OK(got);
  check_same(*got, alice);
  got = by_email("alice@example.org");
  REQUIRE_OK(got);
  check_same(*got, alice);
  // Pages are ordered by id and continue after the last id of the one
  // before; `next` is 0 once no row follows.
  std::vector<uint64_t> ids{alice.profile.id};
  for (int i = 1; i < 5; ++i)
    ids.push_back(
        created("U" + std::to_string(i), "u" + std::to_string(i) + "@x.org")
            .profile.id);
  auto page = ask<user_page>(store, atom::list_v, ids[1], uint32_t{2});
  REQUIRE_OK(page);
  CAF_REQUIRE_EQUAL(page->items.size(), 2u);
  CAF_CHECK_EQUAL(page->items[0].id, ids[2]);
  CAF_CHECK_EQUAL(page->items[1].id, ids[3]);
  CAF_CHECK_EQUAL(page->next, ids[3]);
  page = ask<user_page>(store, atom::list_v, page->next, uint32_t{2});
  REQUIRE_OK(page);
  CAF_REQUIRE_EQUAL(page->items.size(), 1u);
  CAF_CHECK_EQUAL(page->items[0].id, ids[4]);
  CAF_CHECK_EQUAL(page->next, 0u);
  // Exactly as many rows as the limit: no next page.
  page = ask<user_page>(store, atom::list_v, uint64_t{0}, uint32_t{5});
  REQUIRE_OK(page);
  CAF_CHECK_EQUAL(page->items.size(), 5u);
  CAF_CHECK_EQUAL(page->items[0].id, ids[0]);
  CAF_CHECK_EQUAL(page->next, 0u);
  page = ask<user_page>(store, atom::list_v, uint64_t{0}, uint32_t{4});
  REQUIRE_OK(page);
  CAF_CHECK_EQUAL(page->items.size(), 4u);
  CAF_CHECK_EQUAL(page->next, ids[3]);
  page = ask<user_page>(store, atom::list_v, ids[4], uint32_t{2});
  REQUIRE_OK(page);
  CAF_CHECK(page->items.empty());
  CAF_CHECK_EQUAL(page->next, 0u);
  page = ask<user_page>(store, atom::list_v, uint64_t{0}, uint32_t{0});
  CAF_REQUIRE(!page);
  CAF_CHECK_EQUAL(code_of(page.error()), ec::invalid_argument);
  // Each field on its own; the others stay as they were.
  auto expect = alice;
  auto apply = [&](account_patch p, auto change) {
    auto res = update(alice.profile.id, std::move(p));
    REQUIRE_OK(res);
    change(expect);
    CAF_CHECK_GREATER_OR_EQUAL(res->profile.updated_at,
                               expect.profile.updated_at);
    expect.profile.updated_at = res->profile.updated_at;
    check_same(*res, expect);
    auto stored = get(alice.profile.id);
    REQUIRE_OK(stored);
    check_same(*stored, expect);
  };
  account_patch p;
  p.set_name = true;
  p.name = "Alice L.";
  apply(p, [](account& x) { x.profile.name = "Alice L."; });
  p = account_patch{};
  p.set_email = true;
  p.email = "alice@new.example";
  apply(p, [](account& x) { x.profile.email = "alice@new.example"; });
  p = account_patch{};
  p.set_password_hash = true;
  p.password_hash = "$argon2id$new";
  apply(p, [](account& x) { x.password_hash = "$argon2id$new"; });
  p = account_patch{};
  p.set_role = true;
  p.role = role_admin;
  apply(p, [](account& x) { x.profile.role = role_admin; });
  p = account_patch{};
  p.bump_token_version = true;
  apply(p, [](account& x) { x.profile.token_version = 1; });
  // Several fields and a bump at once, in one transaction.
  p = account_patch{true, "A", true, "a@x.org", true, "h", true, "user", true};
  apply(p, [](account& x) {
    x.profile.name = "A";
    x.profile.email = "a@x.org";
    x.password_hash = "h";
    x.profile.role = "user";
    x.profile.token_version = 2;
  });
  CAF_CHECK(!by_email("alice@example.org"));
  REQUIRE_OK(by_email("a@x.org"));
  REQUIRE_OK(ask<caf::ok_atom>(store, atom::remove_v, ctx, alice.profile.id));
  auto gone = get(alice.profile.id);
  CAF_REQUIRE(!gone);
  CAF_CHECK_EQUAL(code_of(gone.error()), ec::not_found);
  // The status reads InnoDB's statistics instead of counting; they lag
  // behind writes until the server recomputes them, which ANALYZE forces
  // (exact for a table of one page).
  sql("ANALYZE TABLE " + table("users"));
  auto status = ask<storage_status>(store, atom::status_v);
  REQUIRE_OK(status);
  CAF_CHECK_EQUAL(status->state, "ok");
  CAF_CHECK_EQUAL(status->users_estimate, 4u);
  CAF_CHECK_EQUAL(status->target, describe(db));
  CAF_CHECK(status->target.find(db.password) == std::string::npos);
  auto local = db;
  local.socket = "/run/mysqld/mysqld.sock";
  CAF_CHECK_EQUAL(describe(local), "mysql://herald@localhost/" + db.database
                                       + "?socket=/run/mysqld/mysqld.sock");
}

CAF_TEST(an update for a given hash changes nothing once the hash changed) {
  start();
  auto a = created("A", "a@x.org");
  account_patch rehash;
  rehash.set_password_hash = true;
  rehash.password_hash = "$argon2id$rehashed";
  rehash.only_if_hash = "$argon2id$not-the-stored-one";
  auto refused = update(a.profile.id, rehash);
  CAF_REQUIRE(!refused);
  CAF_CHECK_EQUAL(code_of(refused.error()), ec::conflict);
  auto kept = get(a.profile.id);
  REQUIRE_OK(kept);
  CAF_CHECK_EQUAL(kept->password_hash, "$argon2id$hash");
  rehash.only_if_hash = "$argon2id$hash";
  REQUIRE_OK(update(a.profile.id, rehash));
  auto changed = get(a.profile.id);
  REQUIRE_OK(changed);
  CAF_CHECK_EQUAL(changed->password_hash, "$argon2id$rehashed");
}

CAF_TEST(unknown ids are not_found) {
  start();
  auto expect_missing = [&](auto res, const std::string& text) {
    CAF_REQUIRE(!res);
    check_error(res.error(), ec::not_found, text);
  };
  expect_missing(get(4711), "no user with id 4711");
  expect_missing(update(4711, rename_to("x")), "no user with id 4711");
  expect_missing(ask<caf::ok_atom>(store, atom::remove_v, ctx, uint64_t{4711}),
                 "no user with id 4711");
  expect_missing(by_email("nobody@x.org"), "no user");
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("users")), 0u);
}

CAF_TEST(a taken email is a conflict and changes nothing) {
  start();
  auto alice = created("Alice", "alice@x.org");
  auto bob = created("Bob", "bob@x.org");
  auto dup = create("Mallory", "alice@x.org");
  CAF_REQUIRE(!dup);
  check_error(dup.error(), ec::conflict, "email is already registered");
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("users")), 2u);
  // Name, role and bump come before the email in the UPDATE: the whole
  // transaction must roll back.
  auto res = update(bob.profile.id,
                    account_patch{true, "Robert", true, "alice@x.org", true,
                                  "h2", true, role_admin, true});
  CAF_REQUIRE(!res);
  check_error(res.error(), ec::conflict, "email is already registered");
  auto stored = get(bob.profile.id);
  REQUIRE_OK(stored);
  check_same(*stored, bob);
  stored = get(alice.profile.id);
  REQUIRE_OK(stored);
  check_same(*stored, alice);
  // Byte-exact comparison: case and accents make different addresses.
  REQUIRE_OK(create("Upper", "ALICE@x.org"));
  REQUIRE_OK(create("Accent", "alicé@x.org"));
  auto found = by_email("alice@x.org");
  REQUIRE_OK(found);
  CAF_CHECK_EQUAL(found->profile.id, alice.profile.id);
}

CAF_TEST(concurrent creates of one email let exactly one win) {
  db.pool_size = 4;
  start();
  using handle = decltype(self->request(store, reply_timeout, atom::create_v,
                                        ctx, new_account{}));
  std::vector<handle> pending;
  for (int i = 0; i < 8; ++i)
    pending.push_back(self->request(
        store, reply_timeout, atom::create_v, ctx,
        new_account{"N" + std::to_string(i), "same@x.org", role_user, "h"}));
  auto [won, conflicts] = tally_race<account>(pending, ec::conflict);
  CAF_CHECK_EQUAL(won, 1u);
  CAF_CHECK_EQUAL(conflicts, 7u);
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("users")), 1u);
}

CAF_TEST(values round - trip verbatim) {
  start();
  std::string name = "O'Brien \"Q\" \\back\\slash 100% _x_ 😀 Zoë 日本語 ";
  name += '\0';
  name += "after NUL; DROP TABLE users; --";
  std::string email = "o'b\"r\\i%e_n😀@例え.jp";
  std::string hash = "$2b$10$'\"\\%_;--😀";
  auto res = create(name, email, hash);
  REQUIRE_OK(res);
  CAF_CHECK_EQUAL(res->profile.name, name);
  CAF_CHECK_EQUAL(res->profile.email, email);
  CAF_CHECK_EQUAL(res->password_hash, hash);
  auto got = by_email(email);
  REQUIRE_OK(got);
  check_same(*got, *res);
  // Placeholders compare with `=`: wildcard characters match only themselves.
  auto plain = created("Plain", "aXbYYc@x.org");
  auto miss = by_email("a_b%c@x.org");
  CAF_REQUIRE(!miss);
  CAF_CHECK_EQUAL(code_of(miss.error()), ec::not_found);
  auto wild = created("Wild", "a_b%c@x.org");
  got = by_email("a_b%c@x.org");
  REQUIRE_OK(got);
  CAF_CHECK_EQUAL(got->profile.id, wild.profile.id);
  got = by_email("aXbYYc@x.org");
  REQUIRE_OK(got);
  CAF_CHECK_EQUAL(got->profile.id, plain.profile.id);
  // Lengths count characters: 100 emoji fit, 101 letters do not.
  std::string emoji;
  for (int i = 0; i < 100; ++i)
    emoji += "😀";
  auto upd = update(plain.profile.id, rename_to(emoji));
  REQUIRE_OK(upd);
  CAF_CHECK_EQUAL(upd->profile.name, emoji);
  auto long_name = create(std::string(101, 'n'), "long@x.org");
  CAF_REQUIRE(!long_name);
  CAF_CHECK_EQUAL(code_of(long_name.error()), ec::invalid_argument);
}

// -- failures -----------------------------------------------------------------

CAF_TEST(a connection killed by the server is re - opened) {
  start();
  auto alice = created("Alice", "alice@x.org");
  // Touch both workers so that each holds a connection.
  for (int i = 0; i < 4; ++i)
    REQUIRE_OK(get(alice.profile.id));
  auto before = pool_connections();
  CAF_REQUIRE_EQUAL(before.size(), 2u);
  for (auto id : before)
    sql("KILL CONNECTION ?", {id});
  for (int i = 0; i < 4; ++i) {
    auto got = get(alice.profile.id);
    REQUIRE_OK(got);
    check_same(*got, alice);
  }
  // A killed connection stays in the process list until the server has
  // cleaned it up (seen under load): wait for that, bounded.
  auto killed_listed = [&](const std::vector<uint64_t>& ids) {
    for (auto id : ids)
      if (std::find(before.begin(), before.end(), id) != before.end())
        return true;
    return false;
  };
  auto after = pool_connections();
  for (int i = 0; i < 100 && killed_listed(after); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = pool_connections();
  }
  CAF_CHECK_EQUAL(after.size(), 2u);
  CAF_CHECK(!killed_listed(after));
  // A write on a killed connection is retried and applied exactly once.
  for (auto id : after)
    sql("KILL CONNECTION ?", {id});
  account_patch bump;
  bump.bump_token_version = true;
  auto res = update(alice.profile.id, bump);
  REQUIRE_OK(res);
  CAF_CHECK_EQUAL(res->profile.token_version, 1u);
  res = update(alice.profile.id, bump);
  REQUIRE_OK(res);
  CAF_CHECK_EQUAL(res->profile.token_version, 2u);
}

CAF_TEST(a database that is down answers unavailable and the pool lives on) {
  db.port = 1; // Nothing listens there.
  db.connect_timeout = std::chrono::seconds{2};
  store = spawn_mysql_storage(sys, db);
  for (int i = 0; i < 3; ++i) {
    auto res = get(1);
    CAF_REQUIRE(!res);
    check_error(res.error(), ec::unavailable, "the database cannot be reached");
    CAF_CHECK(render(res.error()).find(db.password) == std::string::npos);
  }
  auto dup = create("A", "a@x.org");
  CAF_REQUIRE(!dup);
  CAF_CHECK_EQUAL(code_of(dup.error()), ec::unavailable);
  auto status = ask<storage_status>(store, atom::status_v);
  REQUIRE_OK(status);
  CAF_CHECK_NOT_EQUAL(status->state, "ok");
  CAF_CHECK(status->state.find("cannot be reached") != std::string::npos);
}

CAF_TEST(the workers stop when the last handle to the pool goes away) {
  auto baseline = sys.registry().running();
  start();
  REQUIRE_OK(ask<storage_status>(store, atom::status_v));
  CAF_CHECK_EQUAL(sys.registry().running(), baseline + 1 + db.pool_size);
  store = storage_actor{};
  // Blocks (and the runner's -r limit fails the test) if a worker survives.
  sys.registry().await_running_count_equal(baseline);
  CAF_CHECK_EQUAL(sys.registry().running(), baseline);
}

CAF_TEST(a killed worker is restarted and the same pool handle serves again) {
  db.pool_size = 1;
  start();
  caf::actor worker;
  self->request(store, reply_timeout, atom::status_v)
      .receive(
          [&](storage_status&) {
            worker = caf::actor_cast<caf::actor>(self->current_sender());
          },
          [&](caf::error& err) { CAF_FAIL("no status: " << render(err)); });
  CAF_REQUIRE(worker);
  CAF_REQUIRE_NOT_EQUAL(worker, caf::actor_cast<caf::actor>(store));
  caf::anon_send_exit(worker, caf::exit_reason::kill);
  // Requests that reach the worker before the pool hears of its death get
  // request_receiver_down from CAF; wait until the pool has heard.
  auto health = [&] {
    worker_pool_health out;
    self->request(caf::actor_cast<caf::actor>(store), reply_timeout,
                  caf::get_atom_v, caf::sys_atom_v)
        .receive(
            [&](worker_pool_health& h) { out = std::move(h); },
            [&](caf::error& err) { CAF_FAIL("no health: " << render(err)); });
    return out;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (health().restarts == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  CAF_REQUIRE_EQUAL(health().restarts, 1u);
  // Until the restart (after 100 ms) the pool answers unavailable at once.
  caf::expected<storage_status> res{caf::make_error(ec::internal, "no reply")};
  caf::actor served;
  int refused = 0;
  do {
    self->request(store, std::chrono::seconds{1}, atom::status_v)
        .receive(
            [&](storage_status& x) {
              res = std::move(x);
              served = caf::actor_cast<caf::actor>(self->current_sender());
            },
            [&](caf::error& err) { res = std::move(err); });
    if (res || code_of(res.error()) != ec::unavailable)
      break;
    ++refused;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  } while (std::chrono::steady_clock::now() < deadline);
  CAF_MESSAGE(refused << " request(s) refused while the worker restarted");
  REQUIRE_OK(res);
  CAF_CHECK_EQUAL(res->state, "ok");
  CAF_CHECK(served && served != worker);
  auto h = health();
  CAF_CHECK_EQUAL(h.size, 1u);
  CAF_CHECK_EQUAL(h.live, 1u);
  CAF_CHECK_EQUAL(h.restarts, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
