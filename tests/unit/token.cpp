#define CAF_SUITE token

#include "actors/token.hpp"

#include "tests/test.hpp"

#include <memory>
#include <optional>

#include "tests/support/fake_storage.hpp"

using namespace herald;
using herald::test::code_of;

namespace {

jwt::key k1{"k1", std::string(32, '\x11')};
jwt::key k2{"k2", std::string(32, '\x22')};
jwt::key k3{"k3", std::string(32, '\x33')};

/// A storage that takes every request and never answers.
caf::behavior silent_storage(caf::event_based_actor* self) {
  self->set_default_handler(
      [](caf::scheduled_actor* ptr,
         caf::message_view&) -> caf::result<caf::message> {
        return ptr->make_response_promise();
      });
  return {[](caf::ok_atom) {}};
}

struct fixture : herald::test::fixture {
  std::shared_ptr<test::fake_store> store
      = std::make_shared<test::fake_store>();
  storage_actor storage = sys.spawn(test::fake_storage, store);
  std::shared_ptr<int64_t> clock = std::make_shared<int64_t>(1700000000);
  user ann;
  token_actor tok;

  fixture() {
    account acc;
    acc.profile = user{1, "Ann", "ann@example.com", "user", 0, 1, 1};
    acc.password_hash = "$argon2id$secret-hash";
    store->accounts[1] = acc;
    store->next_id = 2;
    ann = acc.profile;
    tok = spawn_token({k1});
  }

  token_settings settings(std::vector<jwt::key> keys) {
    token_settings s;
    s.keys.keys = std::move(keys);
    s.policy.issuer = "herald";
    s.policy.audience = "herald-api";
    s.now = [c = clock] { return *c; };
    return s;
  }

  token_actor spawn_token(std::vector<jwt::key> keys) {
    return sys.spawn(token, settings(std::move(keys)), storage);
  }

  /// Sends a request, runs everything (timeouts included) and returns the
  /// reply or the error.
  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& dest, Ts... xs) {
    auto hdl = self->request(dest, caf::infinite, std::move(xs)...);
    run();
    caf::expected<T> result{
        caf::make_error(ec::internal, std::string{"no reply"})};
    if (self->mailbox().empty()) {
      CAF_FAIL("the actor did not answer");
      return result;
    }
    hdl.receive([&](T& x) { result = std::move(x); },
                [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Signs a token for `u` the way the session service does, with the
  /// first of `keys` (the token actor itself signs nothing).
  issued_token sign(std::vector<jwt::key> keys, const user& u) {
    auto s = settings(std::move(keys));
    auto t = jwt::issue(u, s.keys, s.policy, s.now(), jwt::random_jti());
    CAF_REQUIRE(t);
    return *t;
  }

  std::string issue(std::vector<jwt::key> keys, const user& u) {
    return sign(std::move(keys), u).token;
  }

  std::string issue(const user& u) { return issue({k1}, u); }

  caf::expected<claims> validate(const std::string& token) {
    return ask<claims>(tok, atom::validate_v, ctx, token);
  }

  ec validate_code(const std::string& token) {
    auto res = validate(token);
    if (res)
      return ec::none;
    CAF_MESSAGE("rejected: " << render(res.error()));
    return code_of(res.error());
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(token_tests, fixture)

CAF_TEST(a signed token validates with its claims) {
  auto issued = std::optional<issued_token>{sign({k1}, ann)};
  CAF_CHECK_EQUAL(issued->expires_at, *clock + 900);
  auto c = validate(issued->token);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->subject, 1u);
  CAF_CHECK_EQUAL(c->role, "user");
  CAF_CHECK_EQUAL(c->token_version, 0u);
  CAF_CHECK_EQUAL(c->key_id, "k1");
  CAF_CHECK_EQUAL(c->issuer, "herald");
  CAF_CHECK_EQUAL(c->audience, "herald-api");
  CAF_CHECK_EQUAL(c->jwt_id.size(), 22u);
  CAF_CHECK_EQUAL(issued->token.find("argon2"), std::string::npos);
  // Every token gets its own id.
  auto again = validate(issue(ann));
  CAF_REQUIRE(again);
  CAF_CHECK_NOT_EQUAL(again->jwt_id, c->jwt_id);
  // Garbage is refused with the reason.
  CAF_CHECK_EQUAL(validate_code("not.a.token"), ec::unauthenticated);
  *clock += 901 + 30;
  CAF_CHECK_EQUAL(validate_code(issued->token), ec::expired);
}

CAF_TEST(revoke kills old tokens at once and new tokens work) {
  auto old_token = issue(ann);
  CAF_REQUIRE(validate(old_token)); // caches version 0
  auto v = ask<uint32_t>(tok, atom::revoke_v, ctx, uint64_t{1});
  CAF_REQUIRE(v);
  CAF_CHECK_EQUAL(*v, 1u);
  CAF_CHECK_EQUAL(store->accounts[1].profile.token_version, 1u);
  CAF_CHECK_EQUAL(validate_code(old_token), ec::unauthenticated);
  ann.token_version = 1;
  auto new_token = issue(ann);
  auto c = validate(new_token);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->token_version, 1u);
  // Revoking an unknown user reports it; storage trouble is `unavailable`.
  auto missing = ask<uint32_t>(tok, atom::revoke_v, ctx, uint64_t{99});
  CAF_CHECK_EQUAL(code_of(missing.error()), ec::not_found);
  store->down = true;
  auto down = ask<uint32_t>(tok, atom::revoke_v, ctx, uint64_t{1});
  CAF_CHECK_EQUAL(code_of(down.error()), ec::unavailable);
}

CAF_TEST(versions are cached for the ttl) {
  auto t0 = issue(ann);
  CAF_REQUIRE(validate(t0));
  // Another node revokes: storage changes behind our back.
  store->accounts[1].profile.token_version = 1;
  CAF_CHECK_EQUAL(validate_code(t0), ec::none);
  // A token with the newer version makes us read storage again at once.
  ann.token_version = 1;
  auto t1 = issue(ann);
  CAF_CHECK_EQUAL(validate_code(t1), ec::none);
  CAF_CHECK_EQUAL(validate_code(t0), ec::unauthenticated);
  // Without such a hint the cache is trusted until its ttl runs out.
  store->accounts[1].profile.token_version = 2;
  *clock += 29;
  CAF_CHECK_EQUAL(validate_code(t1), ec::none);
  *clock += 1;
  CAF_CHECK_EQUAL(validate_code(t1), ec::unauthenticated);
}

CAF_TEST(forget drops the cached version) {
  auto t0 = issue(ann);
  CAF_REQUIRE(validate(t0));
  store->accounts[1].profile.token_version = 1;
  self->send(tok, atom::forget_v, uint64_t{1}, uint32_t{1});
  run();
  CAF_CHECK_EQUAL(validate_code(t0), ec::unauthenticated);
}

CAF_TEST(tokens of a deleted user fail) {
  auto t0 = issue(ann);
  CAF_REQUIRE(validate(t0));
  store->accounts.erase(1);
  self->send(tok, atom::forget_v, uint64_t{1}, uint32_t{0});
  run();
  auto res = validate(t0);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::unauthenticated);
  CAF_CHECK_NOT_EQUAL(render(res.error()).find("no longer exists"),
                      std::string::npos);
  // Without a forget, the cache ttl bounds how long they live.
  user bob{2, "Bob", "bob@example.com", "user", 0, 1, 1};
  store->accounts[2] = account{bob, "$argon2id$other-hash"};
  auto t2 = issue(bob);
  CAF_REQUIRE(validate(t2));
  store->accounts.erase(2);
  *clock += 30;
  CAF_CHECK_EQUAL(validate_code(t2), ec::unauthenticated);
}

CAF_TEST(storage failure is unavailable and the actor keeps answering) {
  auto t0 = issue(ann);
  store->down = true;
  auto res = validate(t0);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::unavailable);
  store->down = false;
  CAF_CHECK_EQUAL(validate_code(t0), ec::none);
}

CAF_TEST(a storage that never answers times out as unavailable) {
  auto silent = caf::actor_cast<storage_actor>(sys.spawn(silent_storage));
  auto t = sys.spawn(token, settings({k1}), silent);
  auto t0 = issue(ann);
  auto res = ask<claims>(t, atom::validate_v, ctx, t0);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::unavailable);
  auto rv = ask<uint32_t>(t, atom::revoke_v, ctx, uint64_t{1});
  CAF_REQUIRE(!rv);
  CAF_CHECK_EQUAL(code_of(rv.error()), ec::unavailable);
  // Still alive and answering.
  CAF_CHECK(!ask<claims>(t, atom::validate_v, ctx, std::string{"x.y.z"}));
}

CAF_TEST(key rotation) {
  auto by_k1 = issue(ann);
  auto rotated = spawn_token({k2, k1});
  auto c = ask<claims>(rotated, atom::validate_v, ctx, by_k1);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->key_id, "k1");
  auto by_k2 = issue({k2, k1}, ann);
  auto c2 = ask<claims>(rotated, atom::validate_v, ctx, by_k2);
  CAF_REQUIRE(c2);
  CAF_CHECK_EQUAL(c2->key_id, "k2");
  // The old node (ring [k1]) does not know k2; a stranger's k3 fails on both.
  CAF_CHECK_EQUAL(validate_code(by_k2), ec::unauthenticated);
  auto by_k3 = issue({k3}, ann);
  auto r = ask<claims>(rotated, atom::validate_v, ctx, by_k3);
  CAF_REQUIRE(!r);
  CAF_CHECK_NOT_EQUAL(render(r.error()).find("unknown key id 'k3'"),
                      std::string::npos);
}

CAF_TEST(misconfigured settings answer every request with an error) {
  auto s = settings({});
  auto bad = sys.spawn(token, s, storage);
  auto x = ask<claims>(bad, atom::validate_v, ctx, issue(ann));
  CAF_REQUIRE(!x);
  CAF_CHECK_EQUAL(code_of(x.error()), ec::internal);
  s = settings({k1});
  s.policy.leeway = std::chrono::seconds{120};
  CAF_CHECK_EQUAL(code_of(check(s)), ec::invalid_argument);
  s.policy.leeway = std::chrono::seconds{60};
  CAF_CHECK(!check(s));
}

CAF_TEST(a revoke tells the cluster so that other members forget the user) {
  auto told = std::make_shared<std::vector<std::pair<uint64_t, uint32_t>>>();
  auto cluster = sys.spawn([told](caf::event_based_actor*) -> caf::behavior {
    return {[told](atom::forget, uint64_t id, uint32_t version) {
      told->emplace_back(id, version);
    }};
  });
  auto t = sys.spawn(clustered_token_service,
                     std::make_shared<token_verifier>(settings({k1})),
                     storage, caf::actor_cast<token_actor>(cluster));
  auto v = ask<uint32_t>(t, atom::revoke_v, ctx, uint64_t{1});
  CAF_REQUIRE(v);
  CAF_REQUIRE_EQUAL(told->size(), 1u);
  CAF_CHECK_EQUAL(told->front().first, 1u);
  CAF_CHECK_EQUAL(told->front().second, *v);
  // A revoke that failed tells nobody.
  auto missing = ask<uint32_t>(t, atom::revoke_v, ctx, uint64_t{99});
  CAF_CHECK(!missing);
  CAF_CHECK_EQUAL(told->size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
