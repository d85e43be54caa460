#define CAF_SUITE cluster_router

#include "node/router.hpp"

#include "tests/test.hpp"

#include <memory>
#include <vector>

using namespace herald;
using herald::test::code_of;

namespace {

/// What a fake token instance saw.
struct seen {
  size_t validations = 0;
  size_t revokes = 0;
  std::vector<uint64_t> forgotten;
};

/// A token instance that answers validations with claims whose subject is
/// `id` (so a test sees who answered), or holds every request when `silent`.
caf::behavior fake_token(caf::event_based_actor*,
                         std::shared_ptr<seen> log, uint64_t id, bool silent) {
  return {
      [=](atom::validate, request_context&,
          std::string&) -> caf::result<claims> {
        ++log->validations;
        if (silent) // takes it and never answers
          return caf::delegated<claims>{};
        claims c;
        c.subject = id;
        return c;
      },
      [=](atom::revoke, request_context&, uint64_t) -> caf::result<uint32_t> {
        ++log->revokes;
        if (silent)
          return caf::delegated<uint32_t>{};
        return static_cast<uint32_t>(7);
      },
      [=](atom::forget, uint64_t user, uint32_t) {
        log->forgotten.push_back(user);
      },
  };
}

struct fixture : herald::test::fixture {
  token_router_actor router
      = sys.spawn(token_router, caf::timespan{std::chrono::seconds{1}});

  caf::actor instance(std::shared_ptr<seen> log, uint64_t id,
                      bool silent = false) {
    return sys.spawn(fake_token, std::move(log), id, silent);
  }

  void join(const std::string& member, caf::actor hdl) {
    self->send(router, atom::join_v, member, std::move(hdl));
    sched.run();
  }

  caf::expected<claims> validate() {
    return ask<claims>(router, atom::validate_v, ctx, std::string{"t"});
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_router_tests, fixture)

CAF_TEST(without any instance a request gets unavailable at once) {
  // ask() fires no timeout: the answer comes without waiting for one.
  CHECK_REJECTED(validate(), ec::unavailable,
                 "no live node hosts the token service");
}

CAF_TEST(the local instance is taken first) {
  auto local_log = std::make_shared<seen>();
  auto remote_log = std::make_shared<seen>();
  join("b/1", instance(remote_log, 2));
  join("", instance(local_log, 1));
  for (int i = 0; i < 3; ++i) {
    auto c = validate();
    CAF_REQUIRE(c);
    CAF_CHECK_EQUAL(c->subject, 1u);
  }
  CAF_CHECK_EQUAL(remote_log->validations, 0u);
}

CAF_TEST(remote instances are taken in turn) {
  auto log = std::make_shared<seen>();
  join("b/1", instance(log, 2));
  join("c/1", instance(log, 3));
  std::vector<uint64_t> who;
  for (int i = 0; i < 4; ++i) {
    auto c = validate();
    CAF_REQUIRE(c);
    who.push_back(c->subject);
  }
  CAF_CHECK_EQUAL(who, (std::vector<uint64_t>{2, 3, 2, 3}));
}

CAF_TEST(a member that leaves is no longer asked) {
  auto log = std::make_shared<seen>();
  join("b/1", instance(log, 2));
  self->send(router, atom::leave_v, std::string{"b/1"});
  sched.run();
  CHECK_REJECTED(validate(), ec::unavailable, "no live node");
  // Joined again (a new instance at the same address): asked again.
  join("b/2", instance(log, 4));
  auto c = validate();
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->subject, 4u);
}

CAF_TEST(a validation in flight fails over when its member goes down) {
  auto frozen_log = std::make_shared<seen>();
  auto fine_log = std::make_shared<seen>();
  auto frozen = instance(frozen_log, 2, true);
  join("b/1", frozen);
  join("c/1", instance(fine_log, 3));
  auto rh = self->request(router, caf::infinite, atom::validate_v, ctx,
                          std::string{"t"});
  sched.run();
  CAF_CHECK_EQUAL(frozen_log->validations, 1u);
  CAF_CHECK(self->mailbox().empty());
  // Its node is dropped (the down message of a remote actor).
  self->send_exit(frozen, caf::exit_reason::kill);
  sched.run();
  bool answered = false;
  rh.receive(
      [&](claims& c) {
        answered = true;
        CAF_CHECK_EQUAL(c.subject, 3u);
      },
      [&](caf::error& err) { CAF_FAIL("unexpected error: " << render(err)); });
  CAF_CHECK(answered);
  CAF_CHECK_EQUAL(fine_log->validations, 1u);
  // The dead instance is out of the rotation.
  auto c = validate();
  CAF_REQUIRE(c);
  CAF_CHECK_EQUAL(c->subject, 3u);
}

CAF_TEST(a validation that times out is tried once more elsewhere) {
  auto frozen_log = std::make_shared<seen>();
  auto fine_log = std::make_shared<seen>();
  join("b/1", instance(frozen_log, 2, true));
  join("c/1", instance(fine_log, 3));
  auto rh = self->request(router, caf::infinite, atom::validate_v, ctx,
                          std::string{"t"});
  sched.run();
  CAF_CHECK(self->mailbox().empty());
  CAF_CHECK(sched.trigger_timeout());
  sched.run();
  bool answered = false;
  rh.receive([&](claims& c) { answered = c.subject == 3; },
             [&](caf::error& err) { CAF_FAIL("unexpected: " << render(err)); });
  CAF_CHECK(answered);
}

CAF_TEST(a safe request is retried once only) {
  auto a = std::make_shared<seen>();
  auto b = std::make_shared<seen>();
  join("b/1", instance(a, 2, true));
  join("c/1", instance(b, 3, true));
  auto rh = self->request(router, caf::infinite, atom::validate_v, ctx,
                          std::string{"t"});
  sched.run();
  CAF_CHECK(sched.trigger_timeout());
  sched.run();
  CAF_CHECK(sched.trigger_timeout());
  sched.run();
  caf::error got;
  rh.receive([&](claims&) { CAF_FAIL("answered by a silent instance"); },
             [&](caf::error& err) { got = err; });
  CAF_CHECK_EQUAL(code_of(got), ec::unavailable);
  CAF_CHECK_EQUAL(a->validations + b->validations, 2u);
}

CAF_TEST(a write whose member goes down gets unavailable and no retry) {
  auto frozen_log = std::make_shared<seen>();
  auto fine_log = std::make_shared<seen>();
  auto frozen = instance(frozen_log, 2, true);
  join("b/1", frozen);
  join("c/1", instance(fine_log, 3));
  auto rh = self->request(router, caf::infinite, atom::revoke_v, ctx,
                          uint64_t{42});
  sched.run();
  CAF_CHECK_EQUAL(frozen_log->revokes, 1u);
  self->send_exit(frozen, caf::exit_reason::kill);
  sched.run();
  caf::error got;
  rh.receive([&](uint32_t) { CAF_FAIL("a write was answered"); },
             [&](caf::error& err) { got = err; });
  CAF_CHECK_EQUAL(code_of(got), ec::unavailable);
  CAF_CHECK(render(got).find("may or may not") != std::string::npos);
  CAF_CHECK_EQUAL(fine_log->revokes, 0u);
}

CAF_TEST(an error of the service is the answer and is not retried) {
  auto log = std::make_shared<seen>();
  auto refusing = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](atom::validate, request_context&,
               std::string&) -> caf::result<claims> {
      return caf::make_error(ec::unauthenticated, std::string{"bad token"});
    }};
  });
  join("b/1", refusing);
  join("c/1", instance(log, 3));
  CHECK_REJECTED(validate(), ec::unauthenticated, "bad token");
  CAF_CHECK_EQUAL(log->validations, 0u);
}

CAF_TEST(forget reaches every token cache but the one that sent it) {
  auto local_log = std::make_shared<seen>();
  auto b = std::make_shared<seen>();
  auto c = std::make_shared<seen>();
  auto local = instance(local_log, 1);
  join("", local);
  join("b/1", instance(b, 2));
  join("c/1", instance(c, 3));
  // From the user or reset service of this node: every cache.
  self->send(router, atom::forget_v, uint64_t{5}, uint32_t{2});
  sched.run();
  CAF_CHECK_EQUAL(local_log->forgotten, (std::vector<uint64_t>{5}));
  CAF_CHECK_EQUAL(b->forgotten, (std::vector<uint64_t>{5}));
  CAF_CHECK_EQUAL(c->forgotten, (std::vector<uint64_t>{5}));
  local_log->forgotten.clear();
  b->forgotten.clear();
  // From this node's token service (after its own revoke): the others only.
  caf::send_as(local, router, atom::forget_v, uint64_t{7}, uint32_t{4});
  sched.run();
  CAF_CHECK(local_log->forgotten.empty());
  CAF_CHECK_EQUAL(b->forgotten, (std::vector<uint64_t>{7}));
}

CAF_TEST_FIXTURE_SCOPE_END()
