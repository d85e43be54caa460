#define CAF_SUITE user

#include "actors/user.hpp"

#include <crypt.h>

#include <cstring>

#include "actors/hasher.hpp"
#include "tests/support/fake_storage.hpp"
#include "tests/test.hpp"

using namespace herald;

namespace {

// Cheap argon2id parameters: the tests check logic, not cost.
const argon2_params cheap{64, 1, 1};

std::string bcrypt_hash(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof(salt)) == nullptr)
    CAF_FAIL("crypt_gensalt_rn failed");
  crypt_data data;
  std::memset(&data, 0, sizeof(data));
  return crypt_r(password.c_str(), salt, &data);
}

struct fixture : herald::test::fixture {
  std::shared_ptr<herald::test::fake_store> store
      = std::make_shared<herald::test::fake_store>();
  storage_actor storage = sys.spawn(herald::test::fake_storage, store);
  // Event-based here so the deterministic scheduler runs it; the node spawns
  // the same behavior detached.
  hasher_actor hasher = sys.spawn(hasher_worker, cheap);
  user_actor users;

  fixture() {
    user_settings settings;
    settings.dummy_hash = *hash_password("not a real password at all", cheap);
    users = sys.spawn(user_service, settings, storage, hasher, token_actor{},
                      outbox_relay_actor{});
  }

  new_user alice() {
    return {"Alice Liddell", "Alice@Example.ORG", "correct horse battery",
            role_user};
  }

  user create_alice() {
    auto res = call<user>(users, atom::create_v, ctx, alice());
    CAF_REQUIRE(res);
    return *res;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(user_tests, fixture)

CAF_TEST(create stores a lower - cased email and an argon2id hash) {
  auto u = create_alice();
  CAF_CHECK_EQUAL(u.email, "alice@example.org");
  CAF_CHECK_EQUAL(u.name, "Alice Liddell");
  CAF_CHECK_EQUAL(u.role, "user");
  auto& stored = store->accounts.at(u.id).password_hash;
  CAF_CHECK_EQUAL(stored.rfind("$argon2id$", 0), 0u);
  CAF_CHECK(stored.find("correct horse") == std::string::npos);
}

CAF_TEST(create refuses bad input before writing anything) {
  auto expect_invalid = [&](new_user x) {
    auto res = call<user>(users, atom::create_v, ctx, std::move(x));
    CAF_REQUIRE(!res);
    CAF_CHECK_EQUAL(test::code_of(res.error()), ec::invalid_argument);
    CAF_MESSAGE("refused: " << render(res.error()));
  };
  auto x = alice();
  for (auto email :
       {"", "no-at-sign", "two@@example.org", "a@b", "a@b.c",
        ".lead@example.org", "dots..x@example.org", "sp ace@example.org",
        "x@-bad.org", "crlf\r\n@x.org", "a@exa_mple.org"}) {
    x = alice();
    x.email = email;
    expect_invalid(x);
  }
  x = alice();
  x.email = std::string(250, 'a') + "@example.org";
  expect_invalid(x);
  x = alice();
  x.name = "   ";
  expect_invalid(x);
  x = alice();
  x.name = std::string(101, 'n');
  expect_invalid(x);
  x = alice();
  x.name = "bell\x07";
  expect_invalid(x);
  x = alice();
  x.password = std::string(14, 'p');
  expect_invalid(x);
  x = alice();
  x.password = std::string(1025, 'p');
  expect_invalid(x);
  x = alice();
  x.password = "invalid utf8 \xff\xfe here";
  expect_invalid(x);
  x = alice();
  x.role = "root";
  expect_invalid(x);
  CAF_CHECK_EQUAL(store->creates, 0u);
  CAF_CHECK(store->accounts.empty());
}

CAF_TEST(limits are inclusive and count characters not bytes) {
  auto x = alice();
  x.name = std::string(100, 'n');
  x.password = "ééééééééééééééé"; // 15 characters, 30 bytes
  CAF_CHECK(call<user>(users, atom::create_v, ctx, x));
  x = alice();
  x.email = "bob@example.org";
  x.password = std::string(1024, 'p');
  CAF_CHECK(call<user>(users, atom::create_v, ctx, x));
}

CAF_TEST(a taken email is a conflict whatever its case) {
  create_alice();
  auto x = alice();
  x.email = "ALICE@example.org";
  auto res = call<user>(users, atom::create_v, ctx, x);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(test::code_of(res.error()), ec::conflict);
  CAF_CHECK_EQUAL(store->accounts.size(), 1u);
}

CAF_TEST(get by id and by email) {
  auto u = create_alice();
  auto by_id = call<user>(users, atom::get_v, ctx, u.id);
  CAF_REQUIRE(by_id);
  CAF_CHECK_EQUAL(by_id->email, u.email);
  auto by_email = call<user>(users, atom::get_v, ctx, atom::by_email_v,
                             std::string{"ALICE@example.org"});
  CAF_REQUIRE(by_email);
  CAF_CHECK_EQUAL(by_email->id, u.id);
  auto missing = call<user>(users, atom::get_v, ctx, uint64_t{4711});
  CAF_REQUIRE(!missing);
  CAF_CHECK_EQUAL(test::code_of(missing.error()), ec::not_found);
}

CAF_TEST(list pages through users after an id and checks its arguments) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto x = alice();
    x.email = "user" + std::to_string(i) + "@example.org";
    auto u = call<user>(users, atom::create_v, ctx, x);
    CAF_REQUIRE(u);
    ids.push_back(u->id);
  }
  auto list = [&](uint64_t after, uint32_t limit) {
    return call<user_page>(users, atom::list_v, ctx, after, limit);
  };
  auto emails = [](const user_page& p) {
    std::vector<std::string> out;
    for (auto& u : p.items)
      out.push_back(u.email);
    return out;
  };
  auto page = list(0, 2);
  CAF_REQUIRE(page);
  CAF_CHECK_EQUAL(
      emails(*page),
      (std::vector<std::string>{"user0@example.org", "user1@example.org"}));
  CAF_CHECK_EQUAL(page->next, ids[1]);
  // A user deleted behind the cursor and one ahead of it do not shift the
  // next page (an offset would have skipped user2).
  CAF_REQUIRE(call<caf::ok_atom>(users, atom::remove_v, ctx, ids[0]));
  CAF_REQUIRE(call<caf::ok_atom>(users, atom::remove_v, ctx, ids[3]));
  page = list(page->next, 2);
  CAF_REQUIRE(page);
  CAF_CHECK_EQUAL(
      emails(*page),
      (std::vector<std::string>{"user2@example.org", "user4@example.org"}));
  // Exactly the last rows: no next page, not an empty one after it.
  CAF_CHECK_EQUAL(page->next, 0u);
  page = list(ids[4], 100);
  CAF_REQUIRE(page);
  CAF_CHECK(page->items.empty());
  CAF_CHECK_EQUAL(page->next, 0u);
  page = list(0, 100);
  CAF_REQUIRE(page);
  CAF_CHECK_EQUAL(page->items.size(), 3u);
  CAF_CHECK_EQUAL(page->next, 0u);
  for (uint32_t n : {0u, 101u}) {
    auto bad = list(0, n);
    CAF_REQUIRE(!bad);
    CAF_CHECK_EQUAL(test::code_of(bad.error()), ec::invalid_argument);
    CAF_CHECK(render(bad.error()).find("limit") != std::string::npos);
  }
}

CAF_TEST(update changes fields and a new password revokes tokens) {
  auto u = create_alice();
  user_patch patch;
  patch.set_name = true;
  patch.name = "Alice L.";
  auto res = call<user>(users, atom::update_v, ctx, u.id, patch);
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->name, "Alice L.");
  CAF_CHECK_EQUAL(res->token_version, 0u);
  patch = user_patch{};
  patch.set_password = true;
  patch.password = "another long passphrase";
  res = call<user>(users, atom::update_v, ctx, u.id, patch);
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->token_version, 1u);
  CAF_CHECK(!call<user>(users, atom::authenticate_v, ctx,
                        std::string{"alice@example.org"},
                        std::string{"correct horse battery"}));
  CAF_CHECK(call<user>(users, atom::authenticate_v, ctx,
                       std::string{"alice@example.org"},
                       std::string{"another long passphrase"}));
  patch = user_patch{};
  auto empty = call<user>(users, atom::update_v, ctx, u.id, patch);
  CAF_REQUIRE(!empty);
  CAF_CHECK_EQUAL(test::code_of(empty.error()), ec::invalid_argument);
  patch.set_email = true;
  patch.email = "not an email";
  auto bad = call<user>(users, atom::update_v, ctx, u.id, patch);
  CAF_REQUIRE(!bad);
  CAF_CHECK_EQUAL(test::code_of(bad.error()), ec::invalid_argument);
  CAF_CHECK_EQUAL(store->accounts.at(u.id).profile.email, "alice@example.org");
}

CAF_TEST(set_role makes admins and revokes old tokens) {
  auto u = create_alice();
  auto res
      = call<user>(users, atom::set_role_v, ctx, u.id, std::string{"admin"});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->role, "admin");
  CAF_CHECK_EQUAL(res->token_version, 1u);
  auto bad = call<user>(users, atom::set_role_v, ctx, u.id, std::string{"god"});
  CAF_REQUIRE(!bad);
  CAF_CHECK_EQUAL(test::code_of(bad.error()), ec::invalid_argument);
}

CAF_TEST(delete removes the user) {
  auto u = create_alice();
  CAF_CHECK(call<caf::ok_atom>(users, atom::remove_v, ctx, u.id));
  auto again = call<caf::ok_atom>(users, atom::remove_v, ctx, u.id);
  CAF_REQUIRE(!again);
  CAF_CHECK_EQUAL(test::code_of(again.error()), ec::not_found);
  CAF_CHECK(store->accounts.empty());
}

CAF_TEST(authenticate answers the same error for unknown email and bad password) {
  create_alice();
  auto ok = call<user>(users, atom::authenticate_v, ctx,
                       std::string{"ALICE@example.org"},
                       std::string{"correct horse battery"});
  CAF_REQUIRE(ok);
  CAF_CHECK_EQUAL(ok->email, "alice@example.org");
  auto wrong = call<user>(users, atom::authenticate_v, ctx,
                          std::string{"alice@example.org"},
                          std::string{"correct horse battery!"});
  auto unknown = call<user>(users, atom::authenticate_v, ctx,
                            std::string{"nobody@example.org"},
                            std::string{"correct horse battery"});
  CAF_REQUIRE(!wrong);
  CAF_REQUIRE(!unknown);
  CAF_CHECK_EQUAL(test::code_of(wrong.error()), ec::unauthenticated);
  CAF_CHECK_EQUAL(render(wrong.error()), render(unknown.error()));
}

CAF_TEST(an unknown email costs one hash verification like a known one) {
  self->send(users, atom::authenticate_v, ctx,
             std::string{"nobody@example.org"},
             std::string{"correct horse battery"});
  expect((atom::authenticate, request_context, std::string, std::string),
         from(self).to(users));
  expect((atom::get, atom::by_email, std::string), from(users).to(storage));
  expect((caf::error), from(storage).to(users));
  expect((atom::verify, std::string, std::string), from(users).to(hasher));
  expect((password_check), from(hasher).to(users));
}

CAF_TEST(an oversized password is refused before any hashing) {
  self->send(users, atom::authenticate_v, ctx, std::string{"alice@example.org"},
             std::string(1025, 'x'));
  expect((atom::authenticate, request_context, std::string, std::string),
         from(self).to(users));
  disallow((atom::get, atom::by_email, std::string), from(users).to(storage));
  disallow((atom::verify, std::string, std::string), from(users).to(hasher));
}

CAF_TEST(bcrypt hashes verify and are replaced by argon2id) {
  auto u = create_alice();
  for (auto prefix : {"$2b$", "$2a$", "$2y$"}) {
    auto hash = bcrypt_hash("go-micro password 123");
    hash.replace(0, 4, prefix);
    store->accounts.at(u.id).password_hash = hash;
    auto wrong = call<user>(users, atom::authenticate_v, ctx,
                            std::string{"alice@example.org"},
                            std::string{"go-micro password 124"});
    CAF_CHECK(!wrong);
    CAF_CHECK_EQUAL(store->accounts.at(u.id).password_hash, hash);
    auto ok = call<user>(users, atom::authenticate_v, ctx,
                         std::string{"alice@example.org"},
                         std::string{"go-micro password 123"});
    CAF_REQUIRE(ok);
    auto& now = store->accounts.at(u.id).password_hash;
    CAF_CHECK_EQUAL(now.rfind("$argon2id$", 0), 0u);
    // The rehash is the same password.
    CAF_CHECK(verify_password("go-micro password 123", now, cheap).valid);
  }
}

CAF_TEST(a rehash does not undo a password change made meanwhile) {
  auto u = create_alice();
  auto old = bcrypt_hash("go-micro password 123");
  store->accounts.at(u.id).password_hash = old;
  self->send(users, atom::authenticate_v, ctx, std::string{"alice@example.org"},
             std::string{"go-micro password 123"});
  expect((atom::authenticate, request_context, std::string, std::string),
         from(self).to(users));
  expect((atom::get, atom::by_email, std::string), from(users).to(storage));
  expect((account), from(storage).to(users));
  expect((atom::verify, std::string, std::string), from(users).to(hasher));
  expect((password_check), from(hasher).to(users));
  expect((atom::hash, std::string), from(users).to(hasher));
  expect((std::string), from(hasher).to(users));
  // A reset lands between the check and the rehash's write.
  store->accounts.at(u.id).password_hash = "$argon2id$set-by-a-reset";
  expect((atom::update, request_context, uint64_t, account_patch),
         from(users).to(storage));
  run();
  CAF_CHECK_EQUAL(store->accounts.at(u.id).password_hash,
                  "$argon2id$set-by-a-reset");
}

CAF_TEST(a storage outage is an error reply and the actor lives on) {
  store->down = true;
  auto res = call<user>(users, atom::create_v, ctx, alice());
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(test::code_of(res.error()), ec::unavailable);
  auto login = call<user>(users, atom::authenticate_v, ctx,
                          std::string{"alice@example.org"},
                          std::string{"correct horse battery"});
  CAF_REQUIRE(!login);
  CAF_CHECK_EQUAL(test::code_of(login.error()), ec::unavailable);
  store->down = false;
  CAF_CHECK(call<user>(users, atom::create_v, ctx, alice()));
}

CAF_TEST_FIXTURE_SCOPE_END()
