#define CAF_SUITE session

#include "actors/session.hpp"

#include "tests/support/services.hpp"

using namespace herald;
using herald::test::code_of;

namespace {

struct fixture : test::services_fixture {
  user add(std::string email, std::string role) {
    auto u = call<user>(users, atom::create_v, ctx,
                        new_user{"Someone", std::move(email),
                                 "correct horse battery", std::move(role)});
    CAF_REQUIRE(u);
    return *u;
  }

  caf::expected<session> login(std::string email, std::string password) {
    return call<session>(sessions, atom::login_v, ctx, std::move(email),
                         std::move(password));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(session_tests, fixture)

CAF_TEST(a login signs a token for the user whose password it checked) {
  auto ann = add("ann@example.org", role_user);
  auto s = login("Ann@Example.org", "correct horse battery");
  CAF_REQUIRE(s);
  CAF_CHECK_EQUAL(s->profile.id, ann.id);
  CAF_CHECK_EQUAL(s->token.expires_at, now + 900);
  auto c = call<claims>(tokens, atom::validate_v, ctx, s->token.token);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->subject, ann.id);
  CAF_CHECK_EQUAL(c->role, "user");
  CAF_CHECK_EQUAL(c->key_id, "k1");
}

CAF_TEST(the role in a token is the one stored for the user) {
  auto root = add("root@example.org", role_admin);
  auto c = call<claims>(
      tokens, atom::validate_v, ctx,
      login("root@example.org", "correct horse battery")->token.token);
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->subject, root.id);
  CAF_CHECK_EQUAL(c->role, "admin");
  // Changing the stored role changes what the next login signs.
  CAF_REQUIRE(call<user>(users, atom::set_role_v, ctx, root.id,
                         std::string{role_user}));
  auto again = call<claims>(
      tokens, atom::validate_v, ctx,
      login("root@example.org", "correct horse battery")->token.token);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->role, "user");
}

CAF_TEST(wrong passwords and unknown emails get one answer and no token) {
  add("ann@example.org", role_user);
  auto wrong = login("ann@example.org", "correct horse battery!");
  auto unknown = login("nobody@example.org", "correct horse battery");
  CAF_REQUIRE(!wrong);
  CAF_REQUIRE(!unknown);
  CAF_CHECK_EQUAL(code_of(wrong.error()), ec::unauthenticated);
  CAF_CHECK_EQUAL(render(wrong.error()), render(unknown.error()));
  CHECK_REJECTED(login("ann@example.org", std::string(1025, 'x')),
                 ec::invalid_argument, "longer than 1024 bytes");
  CHECK_REJECTED(login("not-an-email", "correct horse battery"),
                 ec::invalid_argument, "email");
}

CAF_TEST(a bad request id is refused before any work) {
  add("ann@example.org", role_user);
  auto bad = ctx;
  bad.id = "has spaces\nand a newline";
  CHECK_REJECTED(call<session>(sessions, atom::login_v, bad,
                               std::string{"ann@example.org"},
                               std::string{"correct horse battery"}),
                 ec::invalid_argument, "request id");
  bad = ctx;
  bad.caller = std::string(200, 'c');
  CHECK_REJECTED(call<session>(sessions, atom::login_v, bad,
                               std::string{"ann@example.org"},
                               std::string{"correct horse battery"}),
                 ec::invalid_argument, "caller");
}

CAF_TEST(an empty request id gets one and writes carry it to storage) {
  auto anonymous = request_context{};
  auto u = call<user>(
      users, atom::create_v, anonymous,
      new_user{"Bo", "bo@example.org", "correct horse battery", role_user});
  CAF_REQUIRE(u);
  CAF_REQUIRE(!store->contexts.empty());
  CAF_CHECK_EQUAL(store->contexts.back().id.rfind("r-", 0), 0u);
  CAF_CHECK_EQUAL(store->contexts.back().id.size(), 18u);
  add("cy@example.org", role_user);
  CAF_CHECK_EQUAL(store->contexts.back().id, "test-request");
  CAF_CHECK_EQUAL(store->contexts.back().caller, "test");
}

CAF_TEST(without a user service every login is an error) {
  caf::anon_send_exit(users, caf::exit_reason::kill);
  run();
  CHECK_REJECTED(login("ann@example.org", "correct horse battery"),
                 ec::unavailable, "the user service did not answer");
}

CAF_TEST(an answer from an actor the session did not ask signs nothing) {
  // A user service whose answers come from someone else: what a forged
  // answer (same message id, another sender) looks like to the session.
  auto forger = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {
        [](atom::authenticate, const request_context&, const std::string&,
           const std::string&) {
          return user{1, "Forged", "ann@example.org", role_admin, 0, 0, 0};
        },
    };
  });
  auto go_between = sys.spawn([forger](caf::event_based_actor* self) {
    self->set_default_handler(
        [self, forger](caf::scheduled_actor*,
                       caf::message_view& x) -> caf::result<caf::message> {
          auto rp = self->make_response_promise();
          return rp.delegate(forger, x.move_content_to_message());
        });
    return caf::behavior{[](caf::ok_atom) {}};
  });
  auto fooled = sys.spawn(session_service, keys(),
                          caf::actor_cast<user_actor>(go_between));
  CHECK_REJECTED(call<session>(fooled, atom::login_v, ctx,
                               std::string{"ann@example.org"},
                               std::string{"any password at all"}),
                 ec::unavailable, "not answered by the user service");
}

CAF_TEST(misconfigured keys answer every login with an error) {
  auto bad = keys();
  bad.keys.keys.clear();
  auto broken = sys.spawn(session_service, bad, users);
  add("ann@example.org", role_user);
  CHECK_REJECTED(call<session>(broken, atom::login_v, ctx,
                               std::string{"ann@example.org"},
                               std::string{"correct horse battery"}),
                 ec::internal, "misconfigured");
}

CAF_TEST_FIXTURE_SCOPE_END()
