#define CAF_SUITE token_verifier

#include "actors/token_verifier.hpp"

#include "tests/test.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "actors/token.hpp"
#include "tests/support/fake_storage.hpp"

using namespace herald;
using herald::test::code_of;

namespace {

jwt::key k1{"k1", std::string(32, '\x11')};
jwt::key k2{"k2", std::string(32, '\x22')};

token_settings settings_at(std::shared_ptr<int64_t> clock) {
  token_settings s;
  s.keys.keys = {k1};
  s.policy.issuer = "herald";
  s.policy.audience = "herald-api";
  s.version_cache_ttl = std::chrono::seconds{30};
  s.now = [c = std::move(clock)] { return *c; };
  return s;
}

user user_with(uint64_t id, uint32_t version) {
  return user{id,     "U",     "u" + std::to_string(id) + "@example.com",
              "user", version, 1,
              1};
}

/// How try_validate answered.
enum class outcome { valid, refused, ask_storage };

struct fixture : herald::test::fixture {
  std::shared_ptr<int64_t> clock = std::make_shared<int64_t>(1700000000);
  std::shared_ptr<test::fake_store> store
      = std::make_shared<test::fake_store>();
  storage_actor storage = sys.spawn(test::fake_storage, store);
  std::shared_ptr<token_verifier> verifier
      = std::make_shared<token_verifier>(settings_at(clock));
  token_actor tok = sys.spawn(token_service, verifier, storage);
  user ann = user_with(1, 0);

  fixture() {
    store->accounts[1] = account{ann, "$argon2id$secret-hash"};
    store->next_id = 2;
  }

  std::string issue(const user& u, const jwt::key& k = k1,
                    std::string audience = "herald-api") {
    auto p = verifier->settings().policy;
    p.audience = std::move(audience);
    jwt::key_ring ring;
    ring.keys = {k};
    auto t = jwt::issue(u, ring, p, *clock, jwt::random_jti());
    CAF_REQUIRE(t);
    return t->token;
  }

  outcome try_validate(const std::string& token) {
    auto res = verifier->try_validate(token);
    if (!res)
      return outcome::ask_storage;
    if (!*res) {
      CAF_MESSAGE("refused: " << render(res->error()));
      return outcome::refused;
    }
    return outcome::valid;
  }

  ec refusal(const std::string& token) {
    auto res = verifier->try_validate(token);
    CAF_REQUIRE(res);
    CAF_REQUIRE(!*res);
    return code_of(res->error());
  }

  caf::expected<claims> validate(const std::string& token) {
    return call<claims>(tok, atom::validate_v, ctx, token);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(token_verifier_tests, fixture)

CAF_TEST(a warm cache answers without storage and a cold one does not ) {
  auto t0 = issue(ann);
  CAF_CHECK(try_validate(t0) == outcome::ask_storage);
  // The token actor reads storage and fills the shared cache.
  CAF_REQUIRE(validate(t0));
  CAF_CHECK_EQUAL(verifier->cached(), 1u);
  auto c = verifier->try_validate(t0);
  CAF_REQUIRE(c && *c);
  CAF_CHECK_EQUAL((*c)->subject, 1u);
  CAF_CHECK_EQUAL((*c)->key_id, "k1");
  CAF_CHECK_EQUAL((*c)->audience, "herald-api");
  // Storage is not asked again: a revocation elsewhere goes unnoticed until
  // the ttl runs out ...
  store->accounts[1].profile.token_version = 1;
  *clock += 29;
  CAF_CHECK(try_validate(t0) == outcome::valid);
  // ... then the entry is stale and storage must be asked again.
  *clock += 1;
  CAF_CHECK(try_validate(t0) == outcome::ask_storage);
  // A token newer than the cached version asks storage at once.
  store->accounts[1].profile.token_version = 0;
  CAF_REQUIRE(validate(t0));
  auto t1 = issue(user_with(1, 1));
  CAF_CHECK(try_validate(t1) == outcome::ask_storage);
}

CAF_TEST(bad tokens are refused without storage) {
  // Cold cache: the answer needs no version.
  CAF_CHECK_EQUAL(refusal("not.a.token"), ec::unauthenticated);
  CAF_CHECK_EQUAL(refusal(issue(ann, k2)), ec::unauthenticated);
  CAF_CHECK_EQUAL(refusal(issue(ann, k1, "someone-else")), ec::unauthenticated);
  auto forged = issue(ann);
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  CAF_CHECK_EQUAL(refusal(forged), ec::unauthenticated);
  auto old = issue(ann);
  *clock += 900 + 31;
  CAF_CHECK_EQUAL(refusal(old), ec::expired);
  CAF_CHECK_EQUAL(verifier->cached(), 0u);
}

CAF_TEST(a token verified before is checked again in full) {
  // The per-thread memo of verified tokens skips reading the JSON again,
  // never the MAC, the key or the times.
  auto good = verifier->verify(issue(ann), *clock);
  auto t = issue(ann);
  for (int i = 0; i < 3; ++i) {
    auto c = verifier->verify(t, *clock);
    CAF_REQUIRE(c);
    CAF_CHECK_EQUAL(c->subject, 1u);
    CAF_CHECK_EQUAL(c->key_id, "k1");
    CAF_CHECK_EQUAL(c->audience, "herald-api");
    CAF_CHECK_NOT_EQUAL(c->jwt_id, good->jwt_id);
  }
  // The same header and payload with another MAC, of the same length.
  auto dot = t.rfind('.');
  for (auto pos : {dot + 1, t.size() - 2}) {
    auto forged = t;
    forged[pos] = forged[pos] == 'A' ? 'B' : 'A';
    auto res = verifier->verify(forged, *clock);
    CAF_CHECK_EQUAL(code_of(res.error()), ec::unauthenticated);
  }
  // A MAC that is not base64url, and one of another length.
  CAF_CHECK(!verifier->verify(t.substr(0, t.size() - 1) + "*", *clock));
  CAF_CHECK(!verifier->verify(t + "AA", *clock));
  CAF_CHECK(!verifier->verify(t.substr(0, t.size() - 4), *clock));
  // Another verifier with another secret under the same key id on the same
  // thread: the first one's verified token means nothing to it.
  auto other_settings = settings_at(clock);
  other_settings.keys.keys = {jwt::key{"k1", std::string(32, '\x33')}};
  token_verifier other{other_settings};
  CAF_CHECK_EQUAL(code_of(other.verify(t, *clock).error()),
                  ec::unauthenticated);
  // Another policy (audience) with the same key: refused as well.
  auto third_settings = settings_at(clock);
  third_settings.policy.audience = "another-api";
  token_verifier third{third_settings};
  CAF_CHECK_EQUAL(code_of(third.verify(t, *clock).error()),
                  ec::unauthenticated);
  // Times are checked again: not yet valid, then expired.
  CAF_CHECK_EQUAL(code_of(verifier->verify(t, *clock - 31).error()),
                  ec::unauthenticated);
  CAF_CHECK(verifier->verify(t, *clock + 900 + 29));
  CAF_CHECK_EQUAL(code_of(verifier->verify(t, *clock + 900 + 30).error()),
                  ec::expired);
  CAF_CHECK(verifier->verify(t, *clock));
}

CAF_TEST(misconfigured settings refuse every token) {
  auto s = settings_at(clock);
  s.keys.keys.clear();
  token_verifier bad{s};
  auto res = bad.try_validate(issue(ann));
  CAF_REQUIRE(res && !*res);
  CAF_CHECK_EQUAL(code_of(res->error()), ec::internal);
}

CAF_TEST(a revoke through the token actor refuses old tokens at once) {
  auto t0 = issue(ann);
  CAF_REQUIRE(validate(t0));
  CAF_CHECK(try_validate(t0) == outcome::valid);
  auto v = call<uint32_t>(tok, atom::revoke_v, ctx, uint64_t{1});
  CAF_REQUIRE(v);
  CAF_CHECK_EQUAL(*v, 1u);
  CAF_CHECK_EQUAL(refusal(t0), ec::unauthenticated);
  // The new version is cached: new tokens validate without storage.
  CAF_CHECK(try_validate(issue(user_with(1, 1))) == outcome::valid);
}

CAF_TEST(a forget through the token actor stops old tokens at once) {
  auto t0 = issue(ann);
  CAF_REQUIRE(validate(t0));
  CAF_CHECK(try_validate(t0) == outcome::valid);
  // A password change elsewhere in the node: storage holds version 1.
  store->accounts[1].profile.token_version = 1;
  self->send(tok, atom::forget_v, uint64_t{1}, uint32_t{1});
  run();
  // No answer without storage, and storage refuses it.
  CAF_CHECK(try_validate(t0) == outcome::ask_storage);
  auto res = validate(t0);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::unauthenticated);
  CAF_CHECK_EQUAL(refusal(t0), ec::unauthenticated);
}

CAF_TEST(a storage read started before a forget does not refill the cache) {
  auto t0 = issue(ann);
  auto rh = self->request(tok, caf::infinite, atom::validate_v, ctx, t0);
  // The token actor takes the request and asks storage ...
  expect((atom::validate, request_context, std::string), from(self).to(tok));
  // ... the user is forgotten while the read is under way ...
  self->send(tok, atom::forget_v, uint64_t{1}, uint32_t{0});
  run();
  // ... so its answer (which may predate the change) is delivered but not
  // cached.
  CAF_REQUIRE(!self->mailbox().empty());
  rh.receive([](claims&) {},
             [](caf::error& err) { CAF_FAIL("unexpected: " << render(err)); });
  CAF_CHECK_EQUAL(verifier->cached(), 0u);
  CAF_CHECK(try_validate(t0) == outcome::ask_storage);
  // The same rule, directly.
  auto e = verifier->epoch(1);
  verifier->forget(1);
  CAF_CHECK(!verifier->remember(1, 0, *clock, e));
  CAF_CHECK(verifier->remember(1, 0, *clock, verifier->epoch(1)));
  CAF_CHECK(try_validate(t0) == outcome::valid);
  // A revoke counts as a change too, and older versions never come back.
  e = verifier->epoch(1);
  verifier->replace(1, 2, *clock);
  CAF_CHECK(!verifier->remember(1, 0, *clock, e));
  CAF_CHECK(verifier->remember(1, 1, *clock, verifier->epoch(1)));
  CAF_CHECK_EQUAL(refusal(t0), ec::unauthenticated);
  CAF_CHECK(try_validate(issue(user_with(1, 2))) == outcome::valid);
}

CAF_TEST(the cache stays within its bound) {
  auto s = settings_at(clock);
  s.version_cache_max = 40;
  token_verifier v{s};
  for (uint64_t id = 1; id <= 1000; ++id)
    CAF_CHECK(v.remember(id, 0, *clock, v.epoch(id)));
  CAF_CHECK_LESS_OR_EQUAL(v.cached(), v.capacity());
  CAF_CHECK_LESS(v.capacity(), 40u + 16u);
  // Stale entries go first: a fresh one survives a sweep of its shard.
  *clock += 60;
  for (uint64_t id = 1; id <= 16; ++id)
    v.remember(id, 0, *clock, v.epoch(id));
  for (uint64_t id = 17; id <= 32; ++id)
    v.remember(id, 0, *clock, v.epoch(id));
  CAF_CHECK_LESS_OR_EQUAL(v.cached(), v.capacity());
  CAF_CHECK_GREATER_OR_EQUAL(v.cached(), 32u);
}

CAF_TEST(concurrent validations while the cache changes) {
  // Readers on plain threads while this thread revokes user 1 again and
  // again and forgets user 2: a reader that starts after a revoke returned
  // never accepts a token the revoke made old.
  constexpr uint32_t revokes = 200;
  std::vector<std::string> by_version;
  for (uint32_t v = 0; v <= revokes; ++v)
    by_version.push_back(issue(user_with(1, v)));
  auto t2 = issue(user_with(2, 0));
  verifier->replace(1, 0, *clock);
  std::atomic<uint32_t> published{0};
  std::atomic<bool> done{false};
  std::atomic<size_t> wrong{0};
  std::atomic<size_t> checks{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i)
    readers.emplace_back([&] {
      while (!done.load()) {
        auto current = published.load();
        if (current > 0) {
          auto res = verifier->try_validate(by_version[current - 1]);
          if (!res || *res)
            ++wrong;
        }
        auto res = verifier->try_validate(by_version[current]);
        // Valid, or already revoked by a newer version.
        if (!res || (!*res && current == revokes))
          ++wrong;
        verifier->try_validate(t2);
        ++checks;
      }
    });
  for (uint32_t v = 1; v <= revokes; ++v) {
    verifier->replace(1, v, *clock);
    published.store(v);
    auto e = verifier->epoch(2);
    verifier->remember(2, 0, *clock, e);
    verifier->forget(2);
    std::this_thread::yield();
  }
  // Give the readers time to see the last version.
  auto target = checks.load() + 1000;
  while (checks.load() < target)
    std::this_thread::yield();
  done = true;
  for (auto& r : readers)
    r.join();
  CAF_CHECK_EQUAL(wrong.load(), 0u);
  CAF_MESSAGE(checks.load() << " concurrent validations");
}

CAF_TEST_FIXTURE_SCOPE_END()
