#define CAF_SUITE jwt_interop

// Interoperability of actors/jwt with PyJWT. On its own the suite checks a
// token PyJWT 2.6 made (recorded below) and a round trip of our own.
// tests/integration/pyjwt_interop.py drives it live through the environment:
//
//   HERALD_JWT_INTEROP_KEYS      key specs "kid:base64url-secret", comma
//                                separated; the first signs
//   HERALD_JWT_INTEROP_ISSUER    policy issuer (default "herald")
//   HERALD_JWT_INTEROP_AUDIENCE  policy audience (default "herald-api")
//   HERALD_JWT_INTEROP_IN        file holding a token to validate now
//   HERALD_JWT_INTEROP_VERDICT   file the validation verdict goes to (JSON)
//   HERALD_JWT_INTEROP_EXPECT    "ok" or the expected error code name
//   HERALD_JWT_INTEROP_USER      JSON {"id":..,"role":..,"token_version":..}
//   HERALD_JWT_INTEROP_OUT       file an issued token goes to (JSON)

#include "actors/jwt.hpp"

#include "messages/json.hpp"
#include "tests/test.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/token.hpp"

using namespace herald;
using json = nlohmann::json;
using herald::test::code_of;

namespace {

std::string env(const char* name, std::string fallback = {}) {
  auto value = std::getenv(name);
  return value != nullptr ? std::string{value} : fallback;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> result;
  std::stringstream in{text};
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty())
      result.push_back(item);
  return result;
}

struct fixture {
  jwt::policy pol;
  caf::expected<jwt::key_ring> ring{jwt::key_ring{}};

  fixture() {
    pol.issuer = env("HERALD_JWT_INTEROP_ISSUER", "herald");
    pol.audience = env("HERALD_JWT_INTEROP_AUDIENCE", "herald-api");
    ring = jwt::parse_key_ring(split(env("HERALD_JWT_INTEROP_KEYS"), ','));
  }

  bool live() const { return !env("HERALD_JWT_INTEROP_KEYS").empty(); }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(jwt_interop_tests, fixture)

CAF_TEST(a recorded PyJWT token validates) {
  // Made by PyJWT 2.6.0: jwt.encode(payload, secret, algorithm="HS256",
  // headers={"kid": "py-1"}) with the secret below.
  std::string token
      = "eyJhbGciOiJIUzI1NiIsImtpZCI6InB5LTEiLCJ0eXAiOiJKV1QifQ"
        ".eyJpc3MiOiJoZXJhbGQiLCJhdWQiOiJoZXJhbGQtYXBpIiwic3ViIjoiNDI0MiIsImlh"
        "dCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDA5MDAsImp0aS"
        "I6InB5and0LXJlY29yZGVkLTEiLCJ2ZXIiOjMsInJvbGUiOiJhZG1pbiJ9"
        ".ZM0ZPOAormB5-aQ3mBx0cctILkSonqqxwDzJzs4Af2k";
  auto recorded = jwt::parse_key_ring(
      {"py-1:cmVjb3JkZWQtcHlqd3QtaW50ZXJvcC1zZWNyZXQtMzJieXRlcyE"});
  CAF_REQUIRE(recorded);
  jwt::policy p{"herald", "herald-api"};
  auto c = jwt::validate(token, *recorded, p, 1700000100);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->subject, 4242u);
  CAF_CHECK_EQUAL(c->role, "admin");
  CAF_CHECK_EQUAL(c->token_version, 3u);
  CAF_CHECK_EQUAL(c->jwt_id, "pyjwt-recorded-1");
  CAF_CHECK_EQUAL(c->expires_at, 1700000900);
  CAF_CHECK_EQUAL(c->key_id, "py-1");
  auto late = jwt::validate(token, *recorded, p, 1700000900 + 30);
  CAF_REQUIRE(!late);
  CAF_CHECK_EQUAL(code_of(late.error()), ec::expired);
}

CAF_TEST(our own tokens round trip) {
  auto own = live()
                 ? ring
                 : jwt::parse_key_ring(
                     {"self:" + jwt::base64url_encode(std::string(32, 's'))});
  CAF_REQUIRE(own);
  user u{4242, "Interop", "interop@example.com", "admin", 3, 1, 1};
  auto now = unix_now();
  auto t = jwt::issue(u, *own, pol, now, jwt::random_jti());
  CAF_REQUIRE(t);
  auto c = jwt::validate(t->token, *own, pol, now);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->subject, 4242u);
  CAF_CHECK_EQUAL(c->key_id, own->keys.front().id);
}

CAF_TEST(validate a token from outside) {
  auto in = env("HERALD_JWT_INTEROP_IN");
  if (in.empty()) {
    CAF_MESSAGE("HERALD_JWT_INTEROP_IN not set: nothing from outside");
    return;
  }
  CAF_REQUIRE(ring);
  std::ifstream file{in};
  std::string token;
  std::getline(file, token);
  auto c = jwt::validate(token, *ring, pol, unix_now());
  json verdict;
  if (c)
    verdict = {{"ok", true}, {"claims", json(*c)}};
  else
    verdict = {{"ok", false},
               {"code", to_string(code_of(c.error()))},
               {"message", render(c.error())}};
  CAF_MESSAGE("verdict: " << verdict.dump());
  std::ofstream out{env("HERALD_JWT_INTEROP_VERDICT")};
  out << verdict.dump() << '\n';
  CAF_CHECK(out.good());
  if (auto expect = env("HERALD_JWT_INTEROP_EXPECT"); !expect.empty())
    CAF_CHECK_EQUAL(c ? std::string{"ok"}
                      : std::string{to_string(code_of(c.error()))},
                    expect);
}

CAF_TEST(issue a token for outside) {
  auto out_path = env("HERALD_JWT_INTEROP_OUT");
  if (out_path.empty()) {
    CAF_MESSAGE("HERALD_JWT_INTEROP_OUT not set: nothing to hand out");
    return;
  }
  CAF_REQUIRE(ring);
  auto spec = json::parse(env("HERALD_JWT_INTEROP_USER", "{}"), nullptr, false);
  CAF_REQUIRE(spec.is_object());
  user u;
  u.id = spec.value("id", uint64_t{4242});
  u.role = spec.value("role", std::string{"user"});
  u.token_version = spec.value("token_version", uint32_t{0});
  u.email = "never-in-a-token@example.com";
  auto t = jwt::issue(u, *ring, pol, unix_now(), jwt::random_jti());
  CAF_REQUIRE(t);
  std::ofstream out{out_path};
  out << json{{"token", t->token}, {"expires_at", t->expires_at}}.dump()
      << '\n';
  CAF_CHECK(out.good());
}

CAF_TEST_FIXTURE_SCOPE_END()
