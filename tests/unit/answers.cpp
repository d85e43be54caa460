#define CAF_SUITE answers

// Every request gets an answer: each handler of each typed interface is
// driven through its error paths (bad input, a bad request context, storage
// down, the hasher gone, unknown ids) and must answer with a value or an
// error. A dropped response promise shows as "no reply received" here
// (call() does not wait for a reply that cannot come any more).

#include <string>

#include "actors/password_reset.hpp"
#include "tests/support/recording_handler.hpp"
#include "tests/support/services.hpp"

using namespace herald;

namespace {

const std::string huge(1 << 20, 'x');

/// Checks that `res` came back at all, and as an error (the inputs here are
/// all refused).
#define CHECK_ANSWERED_ERROR(res)                                              \
  do {                                                                         \
    auto&& r_ = (res);                                                         \
    CAF_CHECK(!r_);                                                            \
    if (!r_) {                                                                 \
      auto text_ = herald::render(r_.error());                                 \
      auto answered_ = text_.find("no reply received") == std::string::npos;   \
      if (!answered_)                                                          \
        CAF_MESSAGE("no answer to: " #res);                                    \
      CAF_CHECK(answered_);                                                    \
    }                                                                          \
  } while (false)

/// Checks that `res` came back at all, as a value or an error.
#define CHECK_ANSWERED(res)                                                    \
  do {                                                                         \
    auto&& r_ = (res);                                                         \
    auto answered_ = static_cast<bool>(r_)                                     \
                     || herald::render(r_.error()).find("no reply received")   \
                          == std::string::npos;                                \
    if (!answered_)                                                            \
      CAF_MESSAGE("no answer to: " #res);                                      \
    CAF_CHECK(answered_);                                                      \
  } while (false)

struct fixture : test::services_fixture {
  request_context bad_ctx{std::string(500, 'r'), "test"};
  request_context odd_ctx{"id with spaces\n", "test"};

  uint64_t add_user() {
    auto u = call<user>(users, atom::create_v, ctx,
                        new_user{"Someone", "someone@example.org",
                                 "correct horse battery", role_user});
    CAF_REQUIRE(u);
    return u->id;
  }

  user_patch password_patch(std::string password) {
    user_patch p;
    p.set_password = true;
    p.password = std::move(password);
    return p;
  }

  user_patch name_patch(std::string name) {
    user_patch p;
    p.set_name = true;
    p.name = std::move(name);
    return p;
  }

  void hasher_gone() {
    caf::anon_send_exit(hasher, caf::exit_reason::kill);
    run();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(answer_tests, fixture)

CAF_TEST(user create answers every bad input and every failure) {
  auto make = [](std::string name, std::string email, std::string password,
                 std::string role) {
    return new_user{std::move(name), std::move(email), std::move(password),
                    std::move(role)};
  };
  auto good = make("A", "a@example.org", "correct horse battery", role_user);
  CHECK_ANSWERED_ERROR(call<user>(users, atom::create_v, bad_ctx, good));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::create_v, odd_ctx, good));
  for (auto& x : {make("", "a@example.org", "correct horse battery", role_user),
                  make(huge, "a@example.org", "correct horse battery",
                       role_user),
                  make("A", "not an email", "correct horse battery", role_user),
                  make("A", huge + "@example.org", "correct horse battery",
                       role_user),
                  make("A", "a@example.org", "short", role_user),
                  make("A", "a@example.org", huge, role_user),
                  make("A", "a@example.org", "correct horse battery", "root")})
    CHECK_ANSWERED_ERROR(call<user>(users, atom::create_v, ctx, x));
  add_user();
  CHECK_ANSWERED_ERROR(call<user>(
      users, atom::create_v, ctx,
      make("B", "SOMEONE@example.org", "correct horse battery", role_user)));
  store->down = true;
  CHECK_ANSWERED_ERROR(call<user>(users, atom::create_v, ctx, good));
  store->down = false;
  hasher_gone();
  CHECK_ANSWERED_ERROR(call<user>(users, atom::create_v, ctx, good));
}

CAF_TEST(user reads answer unknown ids bad emails and storage down) {
  CHECK_ANSWERED_ERROR(call<user>(users, atom::get_v, bad_ctx, uint64_t{1}));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::get_v, ctx, uint64_t{42}));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::get_v, ctx, atom::by_email_v,
                                  std::string{"nobody@example.org"}));
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::get_v, ctx, atom::by_email_v, huge));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::get_v, bad_ctx,
                                  atom::by_email_v,
                                  std::string{"a@example.org"}));
  CHECK_ANSWERED_ERROR(
      call<user_page>(users, atom::list_v, ctx, uint64_t{0}, uint32_t{0}));
  CHECK_ANSWERED_ERROR(
      call<user_page>(users, atom::list_v, ctx, uint64_t{1}, uint32_t{101}));
  CHECK_ANSWERED_ERROR(
      call<user_page>(users, atom::list_v, bad_ctx, uint64_t{0}, uint32_t{1}));
  store->down = true;
  CHECK_ANSWERED_ERROR(call<user>(users, atom::get_v, ctx, uint64_t{1}));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::get_v, ctx, atom::by_email_v,
                                  std::string{"a@example.org"}));
  CHECK_ANSWERED_ERROR(
      call<user_page>(users, atom::list_v, ctx, uint64_t{0}, uint32_t{10}));
}

CAF_TEST(user update answers every bad patch and every failure) {
  auto id = add_user();
  CHECK_ANSWERED_ERROR(call<user>(users, atom::update_v, ctx, id, user_patch{}));
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::update_v, bad_ctx, id, name_patch("B")));
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::update_v, ctx, id, name_patch("")));
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::update_v, ctx, id, name_patch(huge)));
  user_patch mail;
  mail.set_email = true;
  mail.email = "no at sign";
  CHECK_ANSWERED_ERROR(call<user>(users, atom::update_v, ctx, id, mail));
  // The password policy: too short, and 1 MiB.
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::update_v, ctx, id, password_patch("short")));
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::update_v, ctx, id, password_patch(huge)));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::update_v, ctx, uint64_t{9999},
                                  name_patch("B")));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::update_v, ctx, uint64_t{9999},
                                  password_patch("correct horse staple")));
  store->down = true;
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::update_v, ctx, id, name_patch("B")));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::update_v, ctx, id,
                                  password_patch("correct horse staple")));
  store->down = false;
  hasher_gone();
  CHECK_ANSWERED_ERROR(call<user>(users, atom::update_v, ctx, id,
                                  password_patch("correct horse staple")));
}

CAF_TEST(user role delete and authenticate answer every failure) {
  auto id = add_user();
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::set_role_v, ctx, id, std::string{"root"}));
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::set_role_v, bad_ctx, id, std::string{"admin"}));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::set_role_v, ctx, uint64_t{9999},
                                  std::string{"admin"}));
  CHECK_ANSWERED_ERROR(
      call<caf::ok_atom>(users, atom::remove_v, ctx, uint64_t{9999}));
  CHECK_ANSWERED_ERROR(call<caf::ok_atom>(users, atom::remove_v, bad_ctx, id));
  for (auto& [email, password] :
       {std::pair<std::string, std::string>{"", ""},
        {"someone@example.org", "wrong password here"},
        {"someone@example.org", huge},
        {huge, "correct horse battery"},
        {"nobody@example.org", "correct horse battery"}})
    CHECK_ANSWERED_ERROR(
        call<user>(users, atom::authenticate_v, ctx, email, password));
  store->down = true;
  CHECK_ANSWERED_ERROR(
      call<user>(users, atom::set_role_v, ctx, id, std::string{"admin"}));
  CHECK_ANSWERED_ERROR(call<caf::ok_atom>(users, atom::remove_v, ctx, id));
  CHECK_ANSWERED_ERROR(call<user>(users, atom::authenticate_v, ctx,
                                  std::string{"someone@example.org"},
                                  std::string{"correct horse battery"}));
  store->down = false;
  hasher_gone();
  CHECK_ANSWERED_ERROR(call<user>(users, atom::authenticate_v, ctx,
                                  std::string{"someone@example.org"},
                                  std::string{"correct horse battery"}));
}

CAF_TEST(login answers bad credentials bad input and failures) {
  add_user();
  for (auto& [email, password] :
       {std::pair<std::string, std::string>{"", ""},
        {"someone@example.org", "wrong password here"},
        {"someone@example.org", huge},
        {huge, "x"},
        {"nobody@example.org", "correct horse battery"}})
    CHECK_ANSWERED_ERROR(
        call<session>(sessions, atom::login_v, ctx, email, password));
  CHECK_ANSWERED_ERROR(call<session>(sessions, atom::login_v, bad_ctx,
                                     std::string{"someone@example.org"},
                                     std::string{"correct horse battery"}));
  store->down = true;
  CHECK_ANSWERED_ERROR(call<session>(sessions, atom::login_v, ctx,
                                     std::string{"someone@example.org"},
                                     std::string{"correct horse battery"}));
  store->down = false;
  caf::anon_send_exit(users, caf::exit_reason::kill);
  run();
  CHECK_ANSWERED_ERROR(call<session>(sessions, atom::login_v, ctx,
                                     std::string{"someone@example.org"},
                                     std::string{"correct horse battery"}));
}

CAF_TEST(token validate and revoke answer garbage and failures) {
  for (auto& text : {std::string{}, std::string{"abc"}, std::string{"a.b.c"},
                     std::string{"..."}, huge})
    CHECK_ANSWERED_ERROR(call<claims>(tokens, atom::validate_v, ctx, text));
  CHECK_ANSWERED_ERROR(call<claims>(tokens, atom::validate_v, bad_ctx,
                                    std::string{"a.b.c"}));
  CHECK_ANSWERED_ERROR(
      call<uint32_t>(tokens, atom::revoke_v, ctx, uint64_t{9999}));
  CHECK_ANSWERED_ERROR(
      call<uint32_t>(tokens, atom::revoke_v, bad_ctx, uint64_t{1}));
  store->down = true;
  auto id = uint64_t{1};
  CHECK_ANSWERED_ERROR(call<uint32_t>(tokens, atom::revoke_v, ctx, id));
}

CAF_TEST(the hasher answers what it cannot verify) {
  CHECK_ANSWERED(call<password_check>(hasher, atom::verify_v,
                                            std::string{"pw"},
                                            std::string{"not a hash"}));
  CHECK_ANSWERED(call<password_check>(hasher, atom::verify_v,
                                            std::string{"pw"},
                                            std::string{"$argon2id$v=19$x"}));
  CHECK_ANSWERED(call<password_check>(hasher, atom::verify_v,
                                            std::string{"pw"}, huge));
  CHECK_ANSWERED(call<hasher_status>(hasher, atom::status_v));
}

CAF_TEST(reset request and confirm answer bad input and failures) {
  reset_settings rs;
  rs.max_per_hour = 2;
  auto resets = sys.spawn(password_reset, rs, storage, hasher, token_actor{},
                          outbox_relay_actor{});
  add_user();
  auto request = [&](const request_context& c, std::string email) {
    return call<caf::ok_atom>(resets, atom::reset_request_v, c,
                              std::move(email));
  };
  auto confirm = [&](const request_context& c, std::string token,
                     std::string password) {
    return call<caf::ok_atom>(resets, atom::reset_confirm_v, c,
                              std::move(token), std::move(password));
  };
  for (auto& email : {std::string{}, std::string{"no at sign"}, huge})
    CHECK_ANSWERED_ERROR(request(ctx, email));
  CHECK_ANSWERED_ERROR(request(bad_ctx, "someone@example.org"));
  // Past the hourly limit.
  for (int i = 0; i < 3; ++i)
    CHECK_ANSWERED(request(ctx, "someone@example.org"));
  CHECK_ANSWERED_ERROR(request(ctx, "someone@example.org"));
  auto token = std::string(43, 'A');
  for (auto& [t, password] :
       {std::pair<std::string, std::string>{"", "correct horse staple"},
        {"not a token", "correct horse staple"},
        {huge, "correct horse staple"},
        {token, "correct horse staple"},
        {token, "short"},
        {token, huge}})
    CHECK_ANSWERED_ERROR(confirm(ctx, t, password));
  CHECK_ANSWERED_ERROR(confirm(bad_ctx, token, "correct horse staple"));
  store->down = true;
  CHECK_ANSWERED(request(ctx, "other@example.org"));
  CHECK_ANSWERED_ERROR(confirm(ctx, token, "correct horse staple"));
  store->down = false;
  hasher_gone();
  CHECK_ANSWERED_ERROR(confirm(ctx, token, "correct horse staple"));
}

CAF_TEST(a dropped promise shows as no reply) {
  // The check above can fail: an actor that never answers is caught, and
  // call() returns instead of waiting for ever.
  auto log = std::make_shared<test::handler_log>();
  log->silent = true;
  auto handler = sys.spawn(test::recording_handler, log);
  auto res = call<caf::ok_atom>(handler, atom::handle_v,
                                test::make_event("user.created", "1", 1));
  CAF_REQUIRE(!res);
  CAF_CHECK(render(res.error()).find("no reply received") != std::string::npos);
  CAF_CHECK_EQUAL(log->seen.size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
