#define CAF_SUITE password_reset

#include "actors/password_reset.hpp"

#include <nlohmann/json.hpp>

#include "actors/hasher.hpp"
#include "tests/support/fake_storage.hpp"
#include "tests/test.hpp"

using namespace herald;

namespace {

const argon2_params cheap{64, 1, 1};
const std::string pw = "correct horse battery staple";

struct fixture : herald::test::fixture {
  std::shared_ptr<herald::test::fake_store> store
      = std::make_shared<herald::test::fake_store>();
  storage_actor storage = sys.spawn(herald::test::fake_storage, store);
  hasher_actor hasher = sys.spawn(hasher_worker, cheap);
  password_reset_actor resets;

  fixture() {
    reset_settings settings;
    settings.max_per_hour = 3;
    settings.now = [this] { return store->now; };
    resets = sys.spawn(password_reset, settings, storage, hasher, token_actor{},
                       outbox_relay_actor{});
    account acc;
    acc.profile = user{1, "Alice", "alice@example.org", role_user, 0, 0, 0};
    acc.password_hash = *hash_password(pw, cheap);
    store->accounts[1] = acc;
    store->next_id = 2;
  }

  caf::expected<caf::ok_atom> request(std::string email) {
    return call<caf::ok_atom>(resets, atom::reset_request_v, ctx,
                              std::move(email));
  }

  caf::expected<caf::ok_atom> confirm(std::string token, std::string password) {
    return call<caf::ok_atom>(resets, atom::reset_confirm_v, ctx,
                              std::move(token), std::move(password));
  }

  /// The last password.reset_requested event.
  const event& last_reset_event() {
    for (auto i = store->outbox.rbegin(); i != store->outbox.rend(); ++i)
      if (i->second.topic == topic_reset_requested)
        return i->second;
    CAF_FAIL("no password.reset_requested event");
    throw std::logic_error("unreachable");
  }

  /// Does what the mailer does for the last reset event: makes a token, has
  /// storage keep its hash, and answers the token the mail would carry.
  std::string mailed_token() {
    auto& ev = last_reset_event();
    auto user_id = nlohmann::json::parse(ev.data)["user_id"].get<uint64_t>();
    auto token = make_reset_token();
    auto issued = call<int64_t>(storage, atom::reset_issue_v, ev.id, user_id,
                                reset_token_hash(token), std::string{});
    CAF_REQUIRE(issued);
    return token;
  }

  ec code(const caf::expected<caf::ok_atom>& res) {
    CAF_REQUIRE(!res);
    return test::code_of(res.error());
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(password_reset_tests, fixture)

CAF_TEST(known and unknown emails get the same answer) {
  auto known = request("Alice@Example.org");
  auto unknown = request("nobody@example.org");
  CAF_REQUIRE(known);
  CAF_REQUIRE(unknown);
  CAF_CHECK_EQUAL(store->reset_requested.size(), 1u);
  CAF_CHECK(store->resets.empty());
  CAF_CHECK_EQUAL(store->outbox.size(), 1u);
}

CAF_TEST(a request writes an event without a token and stores no token) {
  CAF_REQUIRE(request("alice@example.org"));
  CAF_REQUIRE_EQUAL(store->outbox.size(), 1u);
  auto& ev = store->outbox.begin()->second;
  CAF_CHECK_EQUAL(ev.topic, std::string{topic_reset_requested});
  auto data = nlohmann::json::parse(ev.data);
  CAF_CHECK_EQUAL(data, (nlohmann::json{{"user_id", 1},
                                        {"name", "Alice"},
                                        {"email", "alice@example.org"},
                                        {"expires_at", store->now + 15 * 60}}));
  // No token exists yet: only the request, bound to its event.
  CAF_CHECK(store->resets.empty());
  CAF_REQUIRE_EQUAL(store->reset_requested.size(), 1u);
  auto& [event_id, r] = *store->reset_requested.begin();
  CAF_CHECK_EQUAL(event_id, ev.id);
  CAF_CHECK_EQUAL(r.user_id, 1u);
  CAF_CHECK_EQUAL(r.expires_at, store->now + 15 * 60);
  // The token the mailer makes works, and storage has only its hash.
  auto token = mailed_token();
  CAF_CHECK_EQUAL(token.size(), 43u);
  CAF_CHECK(!check_reset_token(token));
  CAF_REQUIRE_EQUAL(store->resets.size(), 1u);
  CAF_CHECK_EQUAL(store->resets.begin()->first, reset_token_hash(token));
  CAF_CHECK(store->resets.count(token) == 0);
  CAF_CHECK(confirm(token, "a brand new passphrase"));
}

CAF_TEST(a confirmed token sets the password once) {
  CAF_REQUIRE(request("alice@example.org"));
  auto token = mailed_token();
  CAF_REQUIRE(confirm(token, "a brand new passphrase"));
  auto& acc = store->accounts.at(1);
  CAF_CHECK(verify_password("a brand new passphrase", acc.password_hash, cheap)
                .valid);
  CAF_CHECK(!verify_password(pw, acc.password_hash, cheap).valid);
  CAF_CHECK_EQUAL(acc.profile.token_version, 1u);
  CAF_CHECK_EQUAL(store->outbox.rbegin()->second.topic,
                  std::string{topic_password_changed});
  CAF_CHECK_EQUAL(code(confirm(token, "yet another passphrase")),
                  ec::already_used);
}

CAF_TEST(unknown expired and voided tokens fail each with its own code) {
  CAF_CHECK_EQUAL(code(confirm(make_reset_token(), "a brand new passphrase")),
                  ec::not_found);
  CAF_REQUIRE(request("alice@example.org"));
  auto first = mailed_token();
  CAF_REQUIRE(request("alice@example.org"));
  auto second = mailed_token();
  CAF_REQUIRE(first != second);
  CAF_REQUIRE(confirm(second, "a brand new passphrase"));
  CAF_CHECK_EQUAL(code(confirm(first, "a brand new passphrase")), ec::revoked);
  CAF_REQUIRE(request("alice@example.org"));
  auto third = mailed_token();
  store->now += 15 * 60;
  CAF_CHECK_EQUAL(code(confirm(third, "a brand new passphrase")), ec::expired);
}

CAF_TEST(requests past the hourly limit are refused for any email) {
  for (int i = 0; i < 3; ++i) {
    CAF_CHECK(request("alice@example.org"));
    CAF_CHECK(request("nobody@example.org"));
  }
  CAF_CHECK_EQUAL(code(request("alice@example.org")), ec::rate_limited);
  CAF_CHECK_EQUAL(code(request("nobody@example.org")), ec::rate_limited);
  store->now += 3601;
  CAF_CHECK(request("alice@example.org"));
}

CAF_TEST(bad input is refused before storage is asked) {
  CAF_CHECK_EQUAL(code(request("not an email")), ec::invalid_argument);
  CAF_CHECK_EQUAL(code(request("")), ec::invalid_argument);
  for (auto token : {std::string{}, std::string(42, 'a'), std::string(44, 'a'),
                     std::string(43, '*'), std::string(42, 'a') + "=",
                     std::string(10000, 'a')})
    CAF_CHECK_EQUAL(code(confirm(token, "a brand new passphrase")),
                    ec::invalid_argument);
  CAF_REQUIRE(request("alice@example.org"));
  auto token = mailed_token();
  CAF_CHECK_EQUAL(code(confirm(token, "short")), ec::invalid_argument);
  CAF_CHECK_EQUAL(code(confirm(token, std::string(1025, 'x'))),
                  ec::invalid_argument);
  // The weak password did not use up the token.
  CAF_CHECK(confirm(token, "a brand new passphrase"));
}

CAF_TEST(a bad token costs no hashing) {
  self->send(resets, atom::reset_confirm_v, ctx, make_reset_token(),
             std::string{"a brand new passphrase"});
  expect((atom::reset_confirm, request_context, std::string, std::string),
         from(self).to(resets));
  expect((atom::reset_check, std::string), from(resets).to(storage));
  expect((caf::error), from(storage).to(resets));
  disallow((atom::hash, std::string), from(resets).to(hasher));
}

CAF_TEST(storage down is an error reply and the actor lives on) {
  store->down = true;
  CAF_CHECK_EQUAL(code(request("alice@example.org")), ec::unavailable);
  store->down = false;
  CAF_CHECK(request("alice@example.org"));
}

CAF_TEST_FIXTURE_SCOPE_END()
