#define CAF_SUITE mysql_resets

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "messages/digest.hpp"
#include "tests/unit/mysql_fixture.hpp"

// Password reset tokens in MySQL: requests with their rate limit, checks and
// confirms with every error code, a race of two confirms, and cascades.

using namespace herald;
using herald::test::check_error;
using herald::test::code_of;
using herald::test::reply_timeout;
using herald::test::tally_race;
using nlohmann::json;

namespace {

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct fixture : herald::test::mysql_fixture {
  int tokens = 0;

  fixture() {
    db.pool_size = 4;
    start();
  }

  /// A ticket with a fresh token (plain text made up; only its form matters
  /// to storage) that expires `ttl` seconds from now.
  reset_ticket ticket(std::string email, int64_t ttl = 900,
                      uint32_t max_per_hour = 5) {
    reset_ticket t;
    t.email = std::move(email);
    t.token = "plain-token-" + std::to_string(++tokens) + "-Zm9vYmFy";
    t.token_hash = sha256_hex(t.token);
    t.expires_at = now_s() + ttl;
    t.max_per_hour = max_per_hour;
    return t;
  }

  caf::expected<caf::ok_atom> request(reset_ticket t) {
    return ask<caf::ok_atom>(store, atom::reset_request_v, ctx, std::move(t));
  }

  caf::expected<caf::ok_atom> check(std::string hash) {
    return ask<caf::ok_atom>(store, atom::reset_check_v, std::move(hash));
  }

  caf::expected<account> confirm(std::string hash, std::string password_hash) {
    return ask<account>(store, atom::reset_confirm_v, ctx, std::move(hash),
                        std::move(password_hash));
  }

  uint64_t count(const char* name) {
    return number(std::string{"SELECT COUNT(*) FROM "} + table(name));
  }

  /// Topics in the outbox, in order.
  std::vector<std::string> topics() {
    return texts("SELECT topic FROM " + table("outbox") + " ORDER BY seq");
  }

  std::string last_topic() {
    auto all = topics();
    return all.empty() ? "" : all.back();
  }

  /// Both the check and the confirm of `hash` fail with `code`.
  void expect_refused(const std::string& hash, ec code, const char* text) {
    auto checked = check(hash);
    CAF_REQUIRE(!checked);
    check_error(checked.error(), code, text);
    auto confirmed = confirm(hash, "$argon2id$never");
    CAF_REQUIRE(!confirmed);
    check_error(confirmed.error(), code, text);
  }
};

using strings = std::vector<std::string>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(mysql_resets_tests, fixture)

CAF_TEST(a request for a known email stores the hash and writes the event) {
  auto bob = created("Bob", "bob@x.org");
  auto t = ticket("bob@x.org");
  REQUIRE_OK(request(t));
  CAF_CHECK_EQUAL(count("password_resets"), 1u);
  CAF_CHECK_EQUAL(number("SELECT user_id FROM " + table("password_resets")
                             + " WHERE token_hash = ? AND expires_at = ?",
                         {t.token_hash, t.expires_at}),
                  bob.profile.id);
  // Only the hash: the plain token appears in no column of password_resets.
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("password_resets")
                             + " WHERE LOCATE(?, CONCAT_WS('|', token_hash, "
                               "user_id, created_at, expires_at)) > 0",
                         {t.token}),
                  0u);
  CAF_CHECK_EQUAL(topics(),
                  (strings{"user.created", "password.reset_requested"}));
  auto data = json::parse(texts("SELECT data FROM " + table("outbox")
                                + " ORDER BY seq DESC LIMIT 1")[0]);
  CAF_CHECK_EQUAL(data, (json{{"user_id", bob.profile.id},
                              {"name", "Bob"},
                              {"email", "bob@x.org"},
                              {"token", t.token},
                              {"expires_at", t.expires_at}}));
  // The request is counted by the hash of the email, never the email.
  CAF_CHECK_EQUAL(texts("SELECT email_hash FROM " + table("reset_requests")),
                  (strings{sha256_hex("bob@x.org")}));
  REQUIRE_OK(check(t.token_hash));
}

CAF_TEST(a request for an unknown email is ok and leaves only its count) {
  created("Bob", "bob@x.org");
  REQUIRE_OK(request(ticket("nobody@x.org")));
  CAF_CHECK_EQUAL(count("password_resets"), 0u);
  CAF_CHECK_EQUAL(topics(), (strings{"user.created"}));
  CAF_CHECK_EQUAL(texts("SELECT email_hash FROM " + table("reset_requests")),
                  (strings{sha256_hex("nobody@x.org")}));
  auto bad = ticket("bob@x.org");
  bad.token_hash = "not-a-hash";
  auto res = request(bad);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::invalid_argument);
}

CAF_TEST(the hourly limit holds for known and unknown emails alike) {
  created("Bob", "bob@x.org");
  for (auto email : {"bob@x.org", "nobody@x.org"}) {
    for (int i = 0; i < 3; ++i)
      REQUIRE_OK(request(ticket(email, 900, 3)));
    auto res = request(ticket(email, 900, 3));
    CAF_REQUIRE(!res);
    check_error(res.error(), ec::rate_limited, "too many reset requests");
  }
  // Refused requests store nothing and write nothing.
  CAF_CHECK_EQUAL(count("password_resets"), 3u);
  CAF_CHECK_EQUAL(count("reset_requests"), 6u);
  CAF_CHECK_EQUAL(topics().size(), 4u);
  // Another email has its own budget.
  REQUIRE_OK(request(ticket("other@x.org", 900, 3)));
  // Requests older than an hour no longer count and are pruned.
  sql("UPDATE " + table("reset_requests")
      + " SET requested_at = requested_at - 3601");
  REQUIRE_OK(request(ticket("bob@x.org", 900, 3)));
  CAF_CHECK_EQUAL(count("reset_requests"), 1u);
}

CAF_TEST(concurrent requests for one email cannot overrun the limit) {
  created("Bob", "bob@x.org");
  using handle = decltype(self->request(
      store, reply_timeout, atom::reset_request_v, ctx, reset_ticket{}));
  std::vector<handle> pending;
  for (int i = 0; i < 12; ++i)
    pending.push_back(self->request(store, reply_timeout, atom::reset_request_v,
                                    ctx, ticket("bob@x.org", 900, 5)));
  auto [ok, limited] = tally_race<caf::ok_atom>(pending, ec::rate_limited);
  CAF_CHECK_EQUAL(ok, 5u);
  CAF_CHECK_EQUAL(limited, 7u);
  CAF_CHECK_EQUAL(count("password_resets"), 5u);
}

CAF_TEST(check and confirm refuse unknown used expired and voided tokens) {
  auto bob = created("Bob", "bob@x.org");
  expect_refused(sha256_hex("never issued"), ec::not_found,
                 "unknown reset token");
  expect_refused("not even a hash", ec::not_found, "unknown reset token");
  auto expired = ticket("bob@x.org", -1);
  REQUIRE_OK(request(expired));
  expect_refused(expired.token_hash, ec::expired, "reset token expired");
  auto older = ticket("bob@x.org");
  auto newer = ticket("bob@x.org");
  REQUIRE_OK(request(older));
  REQUIRE_OK(request(newer));
  // Refusals changed nothing.
  auto stored = get(bob.profile.id);
  REQUIRE_OK(stored);
  CAF_CHECK_EQUAL(stored->profile.token_version, 0u);
  CAF_CHECK_EQUAL(topics().size(), 4u);
  // The newer token wins; it is used, the others are voided.
  auto res = confirm(newer.token_hash, "$argon2id$new");
  REQUIRE_OK(res);
  CAF_CHECK_EQUAL(res->profile.id, bob.profile.id);
  CAF_CHECK_EQUAL(res->password_hash, "$argon2id$new");
  CAF_CHECK_EQUAL(res->profile.token_version, 1u);
  stored = get(bob.profile.id);
  REQUIRE_OK(stored);
  CAF_CHECK_EQUAL(stored->password_hash, "$argon2id$new");
  CAF_CHECK_EQUAL(stored->profile.token_version, 1u);
  expect_refused(newer.token_hash, ec::already_used,
                 "reset token was used already");
  expect_refused(older.token_hash, ec::revoked, "reset token was voided");
  // Used wins over expired, voided over expired: the expired one was voided.
  expect_refused(expired.token_hash, ec::revoked, "reset token was voided");
  CAF_CHECK_EQUAL(last_topic(), "user.password_changed");
  auto data = json::parse(texts("SELECT data FROM " + table("outbox")
                                + " ORDER BY seq DESC LIMIT 1")[0]);
  CAF_CHECK_EQUAL(data, (json{{"user_id", bob.profile.id},
                              {"name", "Bob"},
                              {"email", "bob@x.org"}}));
  CAF_CHECK_EQUAL(topics().size(), 5u);
  // A token issued after the reset is good again.
  auto later = ticket("bob@x.org");
  REQUIRE_OK(request(later));
  REQUIRE_OK(check(later.token_hash));
}

CAF_TEST(two concurrent confirms of one token : exactly one wins) {
  auto bob = created("Bob", "bob@x.org");
  auto blocker_opened = storage::mysql::connection::open(db);
  REQUIRE_OK(blocker_opened);
  auto& blocker = **blocker_opened;
  for (int round = 0; round < 4; ++round) {
    auto t = ticket("bob@x.org", 900, 100);
    REQUIRE_OK(request(t));
    // In the first round, hold the user's row so that both confirms are
    // surely in their transactions, waiting, when it is released.
    storage::mysql::transaction held{blocker};
    if (round == 0) {
      CAF_REQUIRE_EQUAL(held.begin(), caf::none);
      REQUIRE_OK(blocker.query("SELECT id FROM users WHERE id = ? FOR UPDATE",
                               {bob.profile.id},
                               {storage::mysql::column::u64}));
    }
    using handle
        = decltype(self->request(store, reply_timeout, atom::reset_confirm_v,
                                 ctx, t.token_hash, std::string{}));
    std::vector<handle> confirms;
    confirms.push_back(self->request(store, reply_timeout,
                                     atom::reset_confirm_v, ctx, t.token_hash,
                                     std::string{"$argon2id$one"}));
    confirms.push_back(self->request(store, reply_timeout,
                                     atom::reset_confirm_v, ctx, t.token_hash,
                                     std::string{"$argon2id$two"}));
    if (round == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds{300});
      CAF_REQUIRE_EQUAL(held.commit(), caf::none);
    }
    auto [won, used] = tally_race<account>(confirms, ec::already_used);
    CAF_CHECK_EQUAL(won, 1u);
    CAF_CHECK_EQUAL(used, 1u);
    auto stored = get(bob.profile.id);
    REQUIRE_OK(stored);
    CAF_CHECK_EQUAL(stored->profile.token_version,
                    static_cast<uint32_t>(round + 1));
  }
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("outbox")
                         + " WHERE topic = 'user.password_changed'"),
                  4u);
}

CAF_TEST(deleting a user deletes its reset tokens) {
  auto bob = created("Bob", "bob@x.org");
  auto alice = created("Alice", "alice@x.org");
  auto t = ticket("bob@x.org");
  REQUIRE_OK(request(t));
  REQUIRE_OK(request(ticket("bob@x.org")));
  REQUIRE_OK(request(ticket("alice@x.org")));
  CAF_CHECK_EQUAL(count("password_resets"), 3u);
  REQUIRE_OK(remove(bob.profile.id));
  CAF_CHECK_EQUAL(count("password_resets"), 1u);
  CAF_CHECK_EQUAL(last_topic(), "user.deleted");
  expect_refused(t.token_hash, ec::not_found, "unknown reset token");
  CAF_CHECK_EQUAL(number("SELECT user_id FROM " + table("password_resets")),
                  alice.profile.id);
}

CAF_TEST_FIXTURE_SCOPE_END()
