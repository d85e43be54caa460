#define CAF_SUITE mysql_events

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "storage/outbox.hpp"
#include "tests/unit/mysql_fixture.hpp"

// The outbox as the MySQL store writes and serves it: every account write
// emits exactly its event in its own transaction, and the relay's fetch,
// done, failed and status requests; handler idempotency records.

using namespace herald;
using herald::test::check_error;
using herald::test::code_of;
using nlohmann::json;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct fixture : herald::test::mysql_fixture {
  fixture() { start(); }

  /// Every outbox row as the relay would get it, straight from the table.
  std::vector<event> rows() {
    auto fetched = ask<std::vector<event>>(store, atom::outbox_fetch_v,
                                           uint64_t{0}, uint32_t{1000});
    REQUIRE_OK(fetched);
    CAF_CHECK_EQUAL(fetched->size(),
                    number("SELECT COUNT(*) FROM " + table("outbox")
                           + " WHERE dead_at IS NULL"));
    return *fetched;
  }

  uint64_t outbox_count() {
    return number("SELECT COUNT(*) FROM " + table("outbox"));
  }

  caf::expected<std::vector<event>> fetch(uint64_t after, uint32_t limit) {
    return ask<std::vector<event>>(store, atom::outbox_fetch_v, after, limit);
  }

  caf::expected<outbox_status> status() {
    return ask<outbox_status>(store, atom::outbox_v, atom::status_v);
  }

  caf::expected<caf::ok_atom> failed(uint64_t seq, std::string text,
                                     bool dead) {
    return ask<caf::ok_atom>(store, atom::outbox_failed_v, seq, std::move(text),
                             dead);
  }
};

/// Checks the envelope of `ev` and answers its data.
json check_event(const event& ev, const char* topic, uint64_t user_id) {
  CAF_CHECK_EQUAL(ev.topic, topic);
  CAF_CHECK_EQUAL(ev.key, "user:" + std::to_string(user_id));
  CAF_CHECK_EQUAL(ev.source, "test-node");
  CAF_CHECK_EQUAL(ev.attempts, 0u);
  CAF_CHECK_NOT_EQUAL(ev.seq, 0u);
  CAF_CHECK_LESS(std::abs(ev.time - now_ms()), 60000);
  // UUID version 4, RFC 4122 variant, lower-case.
  CAF_REQUIRE_EQUAL(ev.id.size(), 36u);
  CAF_CHECK_EQUAL(ev.id[8], '-');
  CAF_CHECK_EQUAL(ev.id[14], '4');
  CAF_CHECK(std::string{"89ab"}.find(ev.id[19]) != std::string::npos);
  // Never a password hash, whatever the topic.
  CAF_CHECK_EQUAL(ev.data.find("$argon2id"), std::string::npos);
  auto data = json::parse(ev.data);
  CAF_CHECK_EQUAL(data.at("user_id").get<uint64_t>(), user_id);
  return data;
}

std::vector<std::string> keys(const json& x) {
  std::vector<std::string> out;
  for (auto& item : x.items())
    out.push_back(item.key());
  std::sort(out.begin(), out.end());
  return out;
}

using strings = std::vector<std::string>;

} // namespace

CAF_TEST_FIXTURE_SCOPE(mysql_events_tests, fixture)

// -- events of account writes -------------------------------------------------

CAF_TEST(each account write emits exactly its event) {
  auto alice = created("Alice", "alice@x.org");
  auto id = alice.profile.id;
  auto evs = rows();
  CAF_REQUIRE_EQUAL(evs.size(), 1u);
  auto data = check_event(evs[0], topic_user_created, id);
  CAF_CHECK_EQUAL(keys(data), (strings{"email", "name", "role", "user_id"}));
  CAF_CHECK_EQUAL(data["name"], "Alice");
  CAF_CHECK_EQUAL(data["email"], "alice@x.org");
  CAF_CHECK_EQUAL(data["role"], "user");
  auto patch = [&](account_patch p, size_t new_events) {
    auto before = rows().size();
    REQUIRE_OK(update(id, std::move(p)));
    auto after = rows();
    CAF_REQUIRE_EQUAL(after.size(), before + new_events);
    return std::vector<event>(after.begin() + before, after.end());
  };
  account_patch p;
  p.set_name = true;
  p.name = "Alice L.";
  evs = patch(p, 1);
  data = check_event(evs[0], topic_user_updated, id);
  CAF_CHECK_EQUAL(keys(data),
                  (strings{"changed", "email", "name", "role", "user_id"}));
  CAF_CHECK_EQUAL(data["name"], "Alice L.");
  CAF_CHECK_EQUAL(data["changed"], json::array({"name"}));
  // Setting a field to the value it has changes nothing: no event.
  patch(p, 0);
  p = account_patch{};
  p.set_email = true;
  p.email = "alice@new.org";
  p.set_role = true;
  p.role = role_admin;
  evs = patch(p, 1);
  data = check_event(evs[0], topic_user_updated, id);
  CAF_CHECK_EQUAL(data["changed"], json::array({"email", "role"}));
  CAF_CHECK_EQUAL(data["email"], "alice@new.org");
  CAF_CHECK_EQUAL(data["role"], "admin");
  // A rehash at login: new hash, no bump, no event. A bump alone: none.
  p = account_patch{};
  p.set_password_hash = true;
  p.password_hash = "$argon2id$rehashed";
  patch(p, 0);
  p = account_patch{};
  p.bump_token_version = true;
  patch(p, 0);
  // A password change: new hash with a bump.
  p.set_password_hash = true;
  p.password_hash = "$argon2id$changed";
  evs = patch(p, 1);
  data = check_event(evs[0], topic_password_changed, id);
  CAF_CHECK_EQUAL(keys(data), (strings{"email", "name", "user_id"}));
  CAF_CHECK_EQUAL(data["email"], "alice@new.org");
  // Both in one patch: updated first, then password_changed.
  p.set_name = true;
  p.name = "A";
  p.password_hash = "$argon2id$again";
  evs = patch(p, 2);
  check_event(evs[0], topic_user_updated, id);
  check_event(evs[1], topic_password_changed, id);
  CAF_CHECK_LESS(evs[0].seq, evs[1].seq);
  REQUIRE_OK(remove(id));
  evs = rows();
  data = check_event(evs.back(), topic_user_deleted, id);
  CAF_CHECK_EQUAL(keys(data), (strings{"email", "user_id"}));
  CAF_CHECK_EQUAL(data["email"], "alice@new.org");
  // Ids are unique.
  CAF_CHECK_EQUAL(
      number("SELECT COUNT(DISTINCT event_id) FROM " + table("outbox")),
      evs.size());
}

CAF_TEST(a failed write leaves no event behind) {
  auto alice = created("Alice", "alice@x.org");
  auto bob = created("Bob", "bob@x.org");
  CAF_REQUIRE_EQUAL(outbox_count(), 2u);
  CAF_CHECK(!create("Mallory", "alice@x.org"));
  account_patch p;
  p.set_name = true;
  p.name = "Robert";
  p.set_email = true;
  p.email = "alice@x.org";
  CAF_CHECK(!update(bob.profile.id, p));
  CAF_CHECK(!update(4711, p));
  CAF_CHECK(!remove(4711));
  CAF_CHECK_EQUAL(outbox_count(), 2u);
  // If the event cannot be written, the change does not happen either.
  sql("RENAME TABLE " + table("outbox") + " TO " + table("outbox_away"));
  auto res = create("Carol", "carol@x.org");
  CAF_REQUIRE(!res);
  CAF_MESSAGE("without an outbox: " << render(res.error()));
  account_patch rename;
  rename.set_name = true;
  rename.name = "Al";
  CAF_CHECK(!update(alice.profile.id, rename));
  CAF_CHECK(!remove(alice.profile.id));
  sql("RENAME TABLE " + table("outbox_away") + " TO " + table("outbox"));
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("users")), 2u);
  auto stored = get(alice.profile.id);
  REQUIRE_OK(stored);
  CAF_CHECK_EQUAL(stored->profile.name, "Alice");
  CAF_CHECK_EQUAL(outbox_count(), 2u);
  REQUIRE_OK(create("Carol", "carol@x.org"));
  CAF_CHECK_EQUAL(outbox_count(), 3u);
}

// -- the relay's requests -----------------------------------------------------

CAF_TEST(outbox_fetch answers pending rows by seq after a position) {
  for (int i = 0; i < 5; ++i)
    created("U" + std::to_string(i), "u" + std::to_string(i) + "@x.org");
  auto all = fetch(0, 100);
  REQUIRE_OK(all);
  CAF_REQUIRE_EQUAL(all->size(), 5u);
  for (size_t i = 1; i < all->size(); ++i)
    CAF_CHECK_LESS((*all)[i - 1].seq, (*all)[i].seq);
  auto part = fetch((*all)[1].seq, 2);
  REQUIRE_OK(part);
  CAF_REQUIRE_EQUAL(part->size(), 2u);
  CAF_CHECK_EQUAL((*part)[0].seq, (*all)[2].seq);
  CAF_CHECK_EQUAL((*part)[0].id, (*all)[2].id);
  CAF_CHECK_EQUAL((*part)[0].data, (*all)[2].data);
  CAF_CHECK_EQUAL((*part)[1].seq, (*all)[3].seq);
  part = fetch((*all)[4].seq, 10);
  REQUIRE_OK(part);
  CAF_CHECK(part->empty());
  part = fetch(0, 0);
  REQUIRE_OK(part);
  CAF_CHECK(part->empty());
  // Each row carries the id of the request that wrote it (the CloudEvent's
  // requestid); rows of an older herald have none.
  for (auto& ev : *all)
    CAF_CHECK_EQUAL(ev.request_id, ctx.id);
  sql("UPDATE " + table("outbox") + " SET request_id = NULL WHERE seq = ?",
      {(*all)[0].seq});
  auto legacy = fetch(0, 1);
  REQUIRE_OK(legacy);
  CAF_REQUIRE_EQUAL(legacy->size(), 1u);
  CAF_CHECK_EQUAL(legacy->front().request_id, "");
}

CAF_TEST(outbox_done deletes rows and ignores rows already gone) {
  for (int i = 0; i < 4; ++i)
    created("U" + std::to_string(i), "u" + std::to_string(i) + "@x.org");
  auto all = rows();
  std::vector<uint64_t> done{all[0].seq, all[2].seq, 999999};
  REQUIRE_OK(ask<caf::ok_atom>(store, atom::outbox_done_v, done));
  REQUIRE_OK(ask<caf::ok_atom>(store, atom::outbox_done_v, done));
  REQUIRE_OK(
      ask<caf::ok_atom>(store, atom::outbox_done_v, std::vector<uint64_t>{}));
  auto left = rows();
  CAF_REQUIRE_EQUAL(left.size(), 2u);
  CAF_CHECK_EQUAL(left[0].seq, all[1].seq);
  CAF_CHECK_EQUAL(left[1].seq, all[3].seq);
  CAF_CHECK_EQUAL(outbox_count(), 2u);
}

CAF_TEST(outbox_failed counts attempts and dead rows leave the queue) {
  created("A", "a@x.org");
  created("B", "b@x.org");
  auto all = rows();
  REQUIRE_OK(failed(all[0].seq, "smtp: connection refused", false));
  auto now = rows();
  CAF_CHECK_EQUAL(now[0].attempts, 1u);
  auto st = status();
  REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->last_error,
                  "user.created " + all[0].id + ": smtp: connection refused");
  CAF_CHECK_EQUAL(st->pending, 2u);
  CAF_CHECK_EQUAL(st->dead, 0u);
  // Any bytes, any length: stored as valid UTF-8, cut to a sane size.
  REQUIRE_OK(
      failed(all[0].seq, "bad \xff\xfe bytes " + std::string(9000, 'x'), true));
  now = rows();
  CAF_REQUIRE_EQUAL(now.size(), 1u);
  CAF_CHECK_EQUAL(now[0].seq, all[1].seq);
  CAF_CHECK_EQUAL(
      number("SELECT attempts FROM " + table("outbox") + " WHERE seq = ?",
             {all[0].seq}),
      2u);
  auto stored
      = texts("SELECT last_error FROM " + table("outbox") + " WHERE seq = ?",
              {all[0].seq});
  CAF_REQUIRE_EQUAL(stored.size(), 1u);
  CAF_CHECK_EQUAL(stored[0].compare(0, 10, "bad ?? byt"), 0);
  CAF_CHECK_LESS_OR_EQUAL(stored[0].size(), 2000u);
  st = status();
  REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->pending, 1u);
  CAF_CHECK_EQUAL(st->dead, 1u);
  auto prefix = "user.created " + all[0].id + ": bad ?? bytes xx";
  CAF_CHECK_EQUAL(st->last_error.compare(0, prefix.size(), prefix), 0);
  auto missing = failed(999999, "x", false);
  CAF_REQUIRE(!missing);
  check_error(missing.error(), ec::not_found, "no outbox row");
  // A dead row stays dead; the live one is still delivered.
  REQUIRE_OK(ask<caf::ok_atom>(store, atom::outbox_done_v,
                               std::vector<uint64_t>{all[1].seq}));
  st = status();
  REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->pending, 0u);
  CAF_CHECK_EQUAL(st->dead, 1u);
  CAF_CHECK_EQUAL(st->oldest_age_ms, 0);
}

CAF_TEST(status counts pending and dead rows and ages the oldest) {
  auto st = status();
  REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->pending, 0u);
  CAF_CHECK_EQUAL(st->dead, 0u);
  CAF_CHECK_EQUAL(st->oldest_age_ms, 0);
  CAF_CHECK_EQUAL(st->last_error, "");
  CAF_CHECK_EQUAL(st->delivered, 0u);
  for (int i = 0; i < 3; ++i)
    created("U" + std::to_string(i), "u" + std::to_string(i) + "@x.org");
  auto all = rows();
  // The oldest pending row counts; a dead one, older still, does not.
  sql("UPDATE " + table("outbox")
          + " SET created_at_ms = created_at_ms - 600000 WHERE seq = ?",
      {all[0].seq});
  sql("UPDATE " + table("outbox")
          + " SET created_at_ms = created_at_ms - 5000 WHERE seq = ?",
      {all[1].seq});
  REQUIRE_OK(failed(all[0].seq, "gave up", true));
  st = status();
  REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->pending, 2u);
  CAF_CHECK_EQUAL(st->dead, 1u);
  CAF_CHECK_GREATER_OR_EQUAL(st->oldest_age_ms, 5000);
  CAF_CHECK_LESS(st->oldest_age_ms, 60000);
}

// -- idempotency records ------------------------------------------------------

CAF_TEST(processed events are recorded per handler and marking is idempotent) {
  auto processed = [&](std::string handler, std::string id) {
    auto res = ask<bool>(store, atom::processed_v, std::move(handler),
                         std::move(id));
    REQUIRE_OK(res);
    return *res;
  };
  auto mark = [&](std::string handler, std::string id) {
    return ask<caf::ok_atom>(store, atom::mark_processed_v, std::move(handler),
                             std::move(id));
  };
  std::string id = "6f1c2a4e-0b7d-4c3a-9e58-1d2f3a4b5c6d";
  CAF_CHECK(!processed("mailer", id));
  REQUIRE_OK(mark("mailer", id));
  CAF_CHECK(processed("mailer", id));
  CAF_CHECK(!processed("amqp", id));
  CAF_CHECK(!processed("mailer", "6f1c2a4e-0b7d-4c3a-9e58-000000000000"));
  REQUIRE_OK(mark("mailer", id));
  CAF_CHECK(processed("mailer", id));
  CAF_CHECK_EQUAL(number("SELECT COUNT(*) FROM " + table("processed_events")),
                  1u);
  auto too_long = mark(std::string(65, 'h'), id);
  CAF_REQUIRE(!too_long);
  CAF_CHECK_EQUAL(code_of(too_long.error()), ec::invalid_argument);
}

CAF_TEST(records older than the retention are pruned a batch at a time) {
  auto mark = [&](std::string id) {
    return ask<caf::ok_atom>(store, atom::mark_processed_v,
                             std::string{"mailer"}, std::move(id));
  };
  auto count = [&](const std::string& where) {
    return number("SELECT COUNT(*) FROM " + table("processed_events")
                  + " WHERE " + where);
  };
  // 150 records a day past the retention, 5 a day short of it.
  auto insert = [&](size_t n, int64_t age, const std::string& prefix) {
    for (size_t i = 0; i < n; ++i)
      sql("INSERT INTO " + table("processed_events")
              + " (handler, event_id, processed_at) VALUES ('mailer', ?, "
                "UNIX_TIMESTAMP() - ?)",
          {prefix + std::to_string(i), age});
  };
  constexpr int64_t day = 86400;
  insert(150, storage::processed_retention + day, "old-");
  insert(5, storage::processed_retention - day, "recent-");
  REQUIRE_OK(mark("new-1"));
  CAF_CHECK_EQUAL(count("event_id LIKE 'old-%'"),
                  150u - storage::processed_prune_batch);
  REQUIRE_OK(mark("new-2"));
  CAF_CHECK_EQUAL(count("event_id LIKE 'old-%'"), 0u);
  CAF_CHECK_EQUAL(count("event_id LIKE 'recent-%'"), 5u);
  CAF_CHECK_EQUAL(count("event_id LIKE 'new-%'"), 2u);
}

CAF_TEST_FIXTURE_SCOPE_END()
