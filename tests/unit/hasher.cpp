#define CAF_SUITE hasher

#include "actors/hasher.hpp"

#include "tests/test.hpp"

using namespace herald;

namespace {

const argon2_params cheap{64, 1, 1};

struct fixture : herald::test::fixture {
  hasher_actor hasher = sys.spawn(hasher_worker, cheap);
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(hasher_tests, fixture)

CAF_TEST(hashes are salted argon2id PHC strings with the given parameters) {
  auto a = call<std::string>(hasher, atom::hash_v, std::string{"pw one"});
  auto b = call<std::string>(hasher, atom::hash_v, std::string{"pw one"});
  CAF_REQUIRE(a && b);
  CAF_CHECK_EQUAL(a->rfind("$argon2id$v=19$m=64,t=1,p=1$", 0), 0u);
  CAF_CHECK_NOT_EQUAL(*a, *b);
  auto ok = call<password_check>(hasher, atom::verify_v, std::string{"pw one"},
                                 *a);
  CAF_REQUIRE(ok);
  CAF_CHECK(ok->valid);
  CAF_CHECK(!ok->needs_rehash);
  auto bad = call<password_check>(hasher, atom::verify_v,
                                  std::string{"pw two"}, *a);
  CAF_REQUIRE(bad);
  CAF_CHECK(!bad->valid);
}

CAF_TEST(weaker parameters ask for a rehash) {
  auto weak = hash_password("pw", argon2_params{32, 1, 1});
  CAF_REQUIRE(weak);
  auto res = verify_password("pw", *weak, cheap);
  CAF_CHECK(res.valid);
  CAF_CHECK(res.needs_rehash);
}

CAF_TEST(garbage hashes never match) {
  for (auto hash : {"", "plain", "$argon2id$", "$argon2i$v=19$m=64,t=1,p=1$x$y",
                    "$2b$04$short", "$1$abc$def", "*"}) {
    auto res = call<password_check>(hasher, atom::verify_v, std::string{"pw"},
                                    std::string{hash});
    CAF_REQUIRE(res);
    CAF_CHECK(!res->valid);
  }
}

CAF_TEST(the OWASP minimum is the default) {
  argon2_params defaults;
  CAF_CHECK_EQUAL(defaults.memory_kib, 19456u);
  CAF_CHECK_EQUAL(defaults.iterations, 2u);
  CAF_CHECK_EQUAL(defaults.parallelism, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
