#define CAF_SUITE mysql_resets

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "messages/digest.hpp"
#include "storage/migrations.hpp"
#include "tests/unit/mysql_fixture.hpp"

// Password reset requests and tokens in MySQL: requests with their rate limit
// (no token stored), the mailer's issue (earlier tokens of an event voided in
// the same transaction), checks and confirms with every error code, a race of
// two confirms, cascades, and migration 005 on an older herald's database.

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

/// A token as the mailer would mail it.
struct link {
  /// Made up plain text: only its hash goes to storage.
  std::string token;
  std::string hash;
  std::string event_id;
  int64_t expires_at = 0;
};

struct fixture : herald::test::mysql_fixture {
  int tokens = 0;

  explicit fixture(bool migrated = true) {
    db.pool_size = 4;
    if (migrated)
      start();
  }

  /// A ticket that expires `ttl` seconds from now.
  reset_ticket ticket(std::string email, int64_t ttl = 900,
                      uint32_t max_per_hour = 5) {
    reset_ticket t;
    t.email = std::move(email);
    t.expires_at = now_s() + ttl;
    t.max_per_hour = max_per_hour;
    return t;
  }

  caf::expected<caf::ok_atom> request(reset_ticket t) {
    return ask<caf::ok_atom>(store, atom::reset_request_v, ctx, std::move(t));
  }

  /// A fresh made-up token.
  std::string make_token() {
    return "plain-token-" + std::to_string(++tokens) + "-Zm9vYmFy";
  }

  /// The id of the newest password.reset_requested event.
  std::string last_reset_event() {
    auto ids = texts("SELECT event_id FROM " + table("outbox")
                     + " WHERE topic = 'password.reset_requested' "
                       "ORDER BY seq DESC LIMIT 1");
    CAF_REQUIRE_EQUAL(ids.size(), 1u);
    return ids[0];
  }

  caf::expected<int64_t> issue(const std::string& event_id, uint64_t user_id,
                               const std::string& hash,
                               const std::string& legacy_hash = "") {
    return ask<int64_t>(store, atom::reset_issue_v, event_id, user_id, hash,
                        legacy_hash);
  }

  /// What the mailer does for event `event_id` of `user_id`.
  link issued(const std::string& event_id, uint64_t user_id) {
    link l;
    l.token = make_token();
    l.hash = sha256_hex(l.token);
    l.event_id = event_id;
    auto res = issue(event_id, user_id, l.hash);
    REQUIRE_OK(res);
    l.expires_at = *res;
    return l;
  }

  /// A request for `email` (user `user_id`) and the link mailed for it.
  link requested(const std::string& email, uint64_t user_id,
                 int64_t ttl = 900, uint32_t max_per_hour = 5) {
    REQUIRE_OK(request(ticket(email, ttl, max_per_hour)));
    return issued(last_reset_event(), user_id);
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

CAF_TEST(a request records no token and writes an event without one) {
  auto bob = created("Bob", "bob@x.org");
  auto t = ticket("bob@x.org");
  REQUIRE_OK(request(t));
  CAF_CHECK_EQUAL(topics(),
                  (strings{"user.created", "password.reset_requested"}));
  auto event_id = last_reset_event();
  auto data = json::parse(texts("SELECT data FROM " + table("outbox")
                                + " ORDER BY seq DESC LIMIT 1")[0]);
  CAF_CHECK_EQUAL(data, (json{{"user_id", bob.profile.id},
                              {"name", "Bob"},
                              {"email", "bob@x.org"},
                              {"expires_at", t.expires_at}}));
  // The request: bound to its event, with its expiry, and no token at all.
  CAF_CHECK_EQUAL(count("password_resets"), 1u);
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("password_resets")
                             + " WHERE token_hash IS NULL AND event_id = ? "
                               "AND user_id = ? AND expires_at = ? AND "
                               "used_at IS NULL AND voided_at IS NULL",
                         {event_id, bob.profile.id, t.expires_at}),
                  1u);
  // The request is counted by the hash of the email, never the email.
  CAF_CHECK_EQUAL(texts("SELECT email_hash FROM " + table("reset_requests")),
                  (strings{sha256_hex("bob@x.org")}));
  // The mailer's token: only its hash is stored, bound to the event, with the
  // request's expiry.
  auto l = issued(event_id, bob.profile.id);
  CAF_CHECK_EQUAL(l.expires_at, t.expires_at);
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("password_resets")
                             + " WHERE token_hash = ? AND event_id = ? AND "
                               "expires_at = ?",
                         {l.hash, event_id, t.expires_at}),
                  1u);
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("password_resets")
                             + " WHERE LOCATE(?, CONCAT_WS('|', token_hash, "
                               "user_id, event_id, created_at, expires_at)) "
                               "> 0",
                         {l.token}),
                  0u);
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("outbox")
                             + " WHERE LOCATE(?, CONCAT_WS('|', event_id, "
                               "topic, event_key, source, data)) > 0",
                         {l.token}),
                  0u);
  REQUIRE_OK(check(l.hash));
}

CAF_TEST(a request for an unknown email is ok and leaves only its count) {
  created("Bob", "bob@x.org");
  REQUIRE_OK(request(ticket("nobody@x.org")));
  CAF_CHECK_EQUAL(count("password_resets"), 0u);
  CAF_CHECK_EQUAL(topics(), (strings{"user.created"}));
  CAF_CHECK_EQUAL(texts("SELECT email_hash FROM " + table("reset_requests")),
                  (strings{sha256_hex("nobody@x.org")}));
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
  auto id = bob.profile.id;
  expect_refused(sha256_hex("never issued"), ec::not_found,
                 "unknown reset token");
  expect_refused("not even a hash", ec::not_found, "unknown reset token");
  auto expired = requested("bob@x.org", id);
  sql("UPDATE " + table("password_resets")
          + " SET expires_at = UNIX_TIMESTAMP() - 1 WHERE token_hash = ?",
      {expired.hash});
  expect_refused(expired.hash, ec::expired, "reset token expired");
  auto older = requested("bob@x.org", id);
  auto newer = requested("bob@x.org", id);
  // A request whose mail is still to go out when the password is reset.
  REQUIRE_OK(request(ticket("bob@x.org")));
  auto unmailed = last_reset_event();
  // Refusals changed nothing.
  auto stored = get(id);
  REQUIRE_OK(stored);
  CAF_CHECK_EQUAL(stored->profile.token_version, 0u);
  CAF_CHECK_EQUAL(topics().size(), 5u);
  // The newer token wins; it is used, the others are voided.
  auto res = confirm(newer.hash, "$argon2id$new");
  REQUIRE_OK(res);
  CAF_CHECK_EQUAL(res->profile.id, id);
  CAF_CHECK_EQUAL(res->password_hash, "$argon2id$new");
  CAF_CHECK_EQUAL(res->profile.token_version, 1u);
  stored = get(id);
  REQUIRE_OK(stored);
  CAF_CHECK_EQUAL(stored->password_hash, "$argon2id$new");
  CAF_CHECK_EQUAL(stored->profile.token_version, 1u);
  expect_refused(newer.hash, ec::already_used, "reset token was used already");
  expect_refused(older.hash, ec::revoked, "reset token was voided");
  // Used wins over expired, voided over expired: the expired one was voided.
  expect_refused(expired.hash, ec::revoked, "reset token was voided");
  CAF_CHECK_EQUAL(last_topic(), "user.password_changed");
  auto data = json::parse(texts("SELECT data FROM " + table("outbox")
                                + " ORDER BY seq DESC LIMIT 1")[0]);
  CAF_CHECK_EQUAL(data, (json{{"user_id", id},
                              {"name", "Bob"},
                              {"email", "bob@x.org"}}));
  CAF_CHECK_EQUAL(topics().size(), 6u);
  // The reset voided the requests made before it too: their late mails and
  // redeliveries get no link.
  for (auto& ev : {unmailed, newer.event_id}) {
    auto late = issue(ev, id, sha256_hex(make_token()));
    CAF_REQUIRE(!late);
    check_error(late.error(), ec::revoked, "voided");
  }
  // A token issued after the reset is good again.
  auto later = requested("bob@x.org", id);
  REQUIRE_OK(check(later.hash));
}

CAF_TEST(issuing again for one event voids the earlier tokens at once) {
  auto bob = created("Bob", "bob@x.org");
  auto id = bob.profile.id;
  auto first = requested("bob@x.org", id);
  auto second = issued(first.event_id, id);
  expect_refused(first.hash, ec::revoked, "reset token was voided");
  REQUIRE_OK(check(second.hash));
  CAF_CHECK_EQUAL(second.expires_at, first.expires_at);
  // One request row and two token rows for the event, one of them usable.
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("password_resets")
                             + " WHERE event_id = ?",
                         {first.event_id}),
                  3u);
  auto usable = "SELECT COUNT(*) FROM " + table("password_resets")
                + " WHERE event_id = ? AND token_hash IS NOT NULL AND "
                  "voided_at IS NULL AND used_at IS NULL";
  CAF_CHECK_EQUAL(number(usable, {first.event_id}), 1u);
  // Voiding and storing are one transaction: an issue whose insert fails
  // (this hash exists already) voids nothing.
  auto clash = issue(first.event_id, id, second.hash);
  CAF_REQUIRE(!clash);
  CAF_CHECK_EQUAL(code_of(clash.error()), ec::conflict);
  REQUIRE_OK(check(second.hash));
  // Another event of the same user keeps its own link.
  auto other = requested("bob@x.org", id);
  REQUIRE_OK(check(second.hash));
  REQUIRE_OK(check(other.hash));
  // Concurrent issues for one event (two mailers with one redelivered
  // event): every one succeeds, exactly one link works afterwards.
  using handle = decltype(self->request(store, reply_timeout,
                                        atom::reset_issue_v, std::string{},
                                        uint64_t{0}, std::string{},
                                        std::string{}));
  std::vector<handle> pending;
  std::vector<std::string> hashes;
  for (int i = 0; i < 8; ++i) {
    hashes.push_back(sha256_hex(make_token()));
    pending.push_back(self->request(store, reply_timeout, atom::reset_issue_v,
                                    first.event_id, id, hashes.back(),
                                    std::string{}));
  }
  auto [ok, lost] = tally_race<int64_t>(pending, ec::conflict);
  CAF_CHECK_EQUAL(ok, 8u);
  CAF_CHECK_EQUAL(lost, 0u);
  CAF_CHECK_EQUAL(number(usable, {first.event_id}), 1u);
  size_t working = 0;
  for (auto& h : hashes)
    if (check(h))
      ++working;
  CAF_CHECK_EQUAL(working, 1u);
  REQUIRE_OK(check(other.hash));
}

CAF_TEST(issue refuses what has no request or no longer needs a link) {
  auto bob = created("Bob", "bob@x.org");
  auto alice = created("Alice", "alice@x.org");
  auto hash = sha256_hex(make_token());
  auto refused = [&](const std::string& ev, uint64_t user, ec code,
                     const char* text) {
    auto res = issue(ev, user, hash);
    CAF_REQUIRE(!res);
    check_error(res.error(), code, text);
  };
  refused("no-such-event", bob.profile.id, ec::not_found, "no reset request");
  REQUIRE_OK(request(ticket("bob@x.org")));
  auto ev = last_reset_event();
  // The event's request belongs to Bob: a forged user id finds nothing.
  refused(ev, alice.profile.id, ec::not_found, "no reset request");
  refused(ev, 999999, ec::not_found, "");
  auto bad = issue(ev, bob.profile.id, "not-a-hash");
  CAF_REQUIRE(!bad);
  CAF_CHECK_EQUAL(code_of(bad.error()), ec::invalid_argument);
  bad = issue(std::string(129, 'e'), bob.profile.id, hash);
  CAF_REQUIRE(!bad);
  CAF_CHECK_EQUAL(code_of(bad.error()), ec::invalid_argument);
  REQUIRE_OK(request(ticket("bob@x.org", -1)));
  refused(last_reset_event(), bob.profile.id, ec::expired, "expired");
  // Refusals stored no token.
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("password_resets")
                         + " WHERE token_hash IS NOT NULL"),
                  0u);
  REQUIRE_OK(remove(bob.profile.id));
  refused(ev, bob.profile.id, ec::not_found, "");
}

CAF_TEST(an event of an older herald has its token voided and a new issued) {
  auto bob = created("Bob", "bob@x.org");
  auto id = bob.profile.id;
  // What an older herald stored: the token's hash, bound to nothing.
  auto legacy = make_token();
  auto expires = now_s() + 600;
  sql("INSERT INTO " + table("password_resets")
          + " (token_hash, user_id, created_at, expires_at) VALUES "
            "(?, ?, UNIX_TIMESTAMP(), ?)",
      {sha256_hex(legacy), id, expires});
  REQUIRE_OK(check(sha256_hex(legacy)));
  auto fresh = make_token();
  auto res = issue("old-event-1", id, sha256_hex(fresh), sha256_hex(legacy));
  REQUIRE_OK(res);
  CAF_CHECK_EQUAL(*res, expires);
  expect_refused(sha256_hex(legacy), ec::revoked, "reset token was voided");
  REQUIRE_OK(check(sha256_hex(fresh)));
  // A redelivery finds the request the old token's row became.
  auto again = make_token();
  REQUIRE_OK(issue("old-event-1", id, sha256_hex(again), sha256_hex(legacy)));
  expect_refused(sha256_hex(fresh), ec::revoked, "reset token was voided");
  REQUIRE_OK(check(sha256_hex(again)));
  // Another user's old token does not serve.
  auto alice = created("Alice", "alice@x.org");
  auto hers = make_token();
  sql("INSERT INTO " + table("password_resets")
          + " (token_hash, user_id, created_at, expires_at) VALUES "
            "(?, ?, UNIX_TIMESTAMP(), ?)",
      {sha256_hex(hers), alice.profile.id, expires});
  auto stolen = issue("old-event-2", id, sha256_hex(make_token()),
                      sha256_hex(hers));
  CAF_REQUIRE(!stolen);
  CAF_CHECK_EQUAL(code_of(stolen.error()), ec::not_found);
  REQUIRE_OK(check(sha256_hex(hers)));
}

CAF_TEST(two concurrent confirms of one token : exactly one wins) {
  auto bob = created("Bob", "bob@x.org");
  auto blocker_opened = storage::mysql::connection::open(db);
  REQUIRE_OK(blocker_opened);
  auto& blocker = **blocker_opened;
  for (int round = 0; round < 4; ++round) {
    auto t = requested("bob@x.org", bob.profile.id, 900, 100);
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
                                 ctx, t.hash, std::string{}));
    std::vector<handle> confirms;
    confirms.push_back(self->request(store, reply_timeout,
                                     atom::reset_confirm_v, ctx, t.hash,
                                     std::string{"$argon2id$one"}));
    confirms.push_back(self->request(store, reply_timeout,
                                     atom::reset_confirm_v, ctx, t.hash,
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

CAF_TEST(deleting a user deletes its reset requests and tokens) {
  auto bob = created("Bob", "bob@x.org");
  auto alice = created("Alice", "alice@x.org");
  auto t = requested("bob@x.org", bob.profile.id);
  requested("bob@x.org", bob.profile.id);
  requested("alice@x.org", alice.profile.id);
  CAF_CHECK_EQUAL(count("password_resets"), 6u);
  REQUIRE_OK(remove(bob.profile.id));
  CAF_CHECK_EQUAL(count("password_resets"), 2u);
  CAF_CHECK_EQUAL(last_topic(), "user.deleted");
  expect_refused(t.hash, ec::not_found, "unknown reset token");
  CAF_CHECK_EQUAL(texts("SELECT DISTINCT user_id FROM "
                        + table("password_resets")),
                  (strings{std::to_string(alice.profile.id)}));
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- migration 005 on a database of an older herald ---------------------------

namespace {

/// A database at migration 004 with what an older herald left in it.
struct old_database : fixture {
  old_database() : fixture(false) {
    auto opened = storage::mysql::connection::open(db);
    REQUIRE_OK(opened);
    auto& conn = **opened;
    REQUIRE_OK(conn.execute(
        "CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, "
        "name VARCHAR(255) NOT NULL, checksum CHAR(64) CHARACTER SET ascii "
        "NOT NULL, applied_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT "
        "CHARSET=utf8mb4"));
    for (auto& m : storage::migrations()) {
      auto version = std::stoi(m.name);
      if (version > 4)
        break;
      for (auto& statement : storage::split_statements(m.sql))
        REQUIRE_OK(conn.execute(statement));
      REQUIRE_OK(conn.execute("INSERT INTO schema_migrations VALUES "
                              "(?, ?, ?, UNIX_TIMESTAMP())",
                              {int64_t{version}, std::string{m.name},
                               sha256_hex(m.sql)}));
    }
  }

  /// A user, a stored token hash and a pending old-format event with the
  /// plain token, as an older herald wrote them; answers the event id.
  std::string old_reset(uint64_t user_id, const std::string& token,
                        const std::string& event_id) {
    sql("INSERT IGNORE INTO " + table("users")
            + " (id, name, email, password_hash, created_at, updated_at) "
              "VALUES (?, 'Old', CONCAT('old', ?, '@x.org'), '$argon2id$x', "
              "0, 0)",
        {user_id, user_id});
    sql("INSERT INTO " + table("password_resets")
            + " (token_hash, user_id, created_at, expires_at) VALUES "
              "(?, ?, UNIX_TIMESTAMP(), UNIX_TIMESTAMP() + 900)",
        {sha256_hex(token), user_id});
    json data{{"user_id", user_id},
              {"name", "Old"},
              {"email", "old@x.org"},
              {"token", token},
              {"expires_at", now_s() + 900}};
    sql("INSERT INTO " + table("outbox")
            + " (event_id, topic, event_key, source, data, created_at_ms) "
              "VALUES (?, 'password.reset_requested', 'user:1', 'old', ?, 0)",
        {event_id, data.dump()});
    return event_id;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(mysql_reset_migration_tests, old_database)

CAF_TEST(migration 005 takes the tokens out of pending events) {
  auto pending = make_token();
  auto mailed = make_token();
  auto dead = make_token();
  auto ev_pending = old_reset(1, pending, "00000000-0000-4000-8000-000000000001");
  auto ev_mailed = old_reset(1, mailed, "00000000-0000-4000-8000-000000000002");
  auto ev_dead = old_reset(2, dead, "00000000-0000-4000-8000-000000000003");
  sql("UPDATE " + table("outbox") + " SET dead_at = 1 WHERE event_id = ?",
      {ev_dead});
  // The mailer had mailed this one; its row was not deleted yet.
  sql("INSERT INTO " + table("processed_events")
          + " VALUES ('mailer', ?, UNIX_TIMESTAMP())",
      {ev_mailed});
  sql("INSERT INTO " + table("outbox")
      + " (event_id, topic, event_key, source, data, created_at_ms) VALUES "
        "('00000000-0000-4000-8000-000000000004', 'user.created', 'user:1', "
        "'old', '{\"user_id\": 1, \"token\": \"not a reset\"}', 0)");
  start();
  // No outbox row of the topic holds a token (dead rows neither); the rest of
  // the payload is as it was; other topics are untouched.
  for (auto& token : {pending, mailed, dead})
    CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("outbox")
                               + " WHERE LOCATE(?, data) > 0",
                           {token}),
                    0u);
  auto data = json::parse(texts("SELECT data FROM " + table("outbox")
                                + " WHERE event_id = ?",
                                {ev_pending})[0]);
  CAF_CHECK(!data.contains("token"));
  CAF_CHECK_EQUAL(data["user_id"], 1);
  CAF_CHECK_EQUAL(data["email"], "old@x.org");
  CAF_CHECK(data["expires_at"].is_number_integer());
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("outbox")
                         + " WHERE JSON_EXISTS(data, '$.token')"),
                  1u);
  // The tokens that were in the outbox are void, but the one already mailed;
  // every event has its request.
  expect_refused(sha256_hex(pending), ec::revoked, "reset token was voided");
  expect_refused(sha256_hex(dead), ec::revoked, "reset token was voided");
  REQUIRE_OK(check(sha256_hex(mailed)));
  for (auto& ev : {ev_pending, ev_mailed, ev_dead})
    CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("password_resets")
                               + " WHERE event_id = ? AND token_hash IS NULL",
                           {ev}),
                    1u);
  // The mailer handles the stripped event as a new one.
  auto fresh = issued(ev_pending, 1);
  REQUIRE_OK(check(fresh.hash));
  CAF_CHECK_GREATER(fresh.expires_at, now_s());
}

CAF_TEST_FIXTURE_SCOPE_END()
