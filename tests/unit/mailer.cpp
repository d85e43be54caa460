#define CAF_SUITE mailer

// The mailer actor with the in-memory storage and a fake SMTP bridge, on the
// deterministic scheduler.

#include "actors/mailer.hpp"

#include "tests/test.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "tests/support/fake_storage.hpp"

using namespace herald;
using herald::test::code_of;
using json = nlohmann::json;

namespace {

/// What the fake SMTP bridge saw and how it answers.
struct fake_mailbox {
  /// Mails "accepted".
  std::vector<mail> sent;
  /// Send requests received.
  size_t attempts = 0;
  /// Answer every send with `unavailable`.
  bool fail = false;
  /// Keep sends open until the fake gets `wake`: a mail in flight.
  bool hold = false;
  std::vector<std::pair<mail, caf::typed_response_promise<caf::ok_atom>>> held;
};

/// The bridge's interface plus `wake`, which accepts every held mail (a
/// promise must be delivered from inside its actor).
using fake_smtp_actor = smtp_actor::extend<caf::reacts_to<atom::wake>>;

fake_smtp_actor::behavior_type fake_smtp(fake_smtp_actor::pointer self,
                                         std::shared_ptr<fake_mailbox> box) {
  return {
      [box](atom::wake) {
        for (auto& [m, rp] : box->held) {
          box->sent.push_back(m);
          rp.deliver(caf::ok_atom_v);
        }
        box->held.clear();
      },
      [self, box](atom::send, mail& m) -> caf::result<caf::ok_atom> {
        ++box->attempts;
        if (box->fail)
          return caf::make_error(ec::unavailable,
                                 std::string{"451 fake smtp says later"});
        if (box->hold) {
          auto rp = self->make_response_promise<caf::ok_atom>();
          box->held.emplace_back(std::move(m), rp);
          return rp;
        }
        box->sent.push_back(std::move(m));
        return caf::ok_atom_v;
      },
  };
}

std::string shipped_templates() {
  if (auto dir = std::getenv("HERALD_SOURCE_DIR"))
    return std::string{dir} + "/config/templates";
  namespace fs = std::filesystem;
  return fs::path{__FILE__}.parent_path().parent_path().parent_path()
         / "config/templates";
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct fixture : herald::test::fixture {
  std::shared_ptr<herald::test::fake_store> store
      = std::make_shared<herald::test::fake_store>();
  storage_actor storage = sys.spawn(herald::test::fake_storage, store);
  std::shared_ptr<fake_mailbox> box = std::make_shared<fake_mailbox>();
  fake_smtp_actor fake = sys.spawn(fake_smtp, box);
  smtp_actor smtp = fake;
  event_handler_actor handler;

  fixture() {
    auto templates = load_templates(shipped_templates());
    CAF_REQUIRE(templates);
    mailer_settings settings;
    settings.templates = std::move(*templates);
    settings.public_base_url = "https://accounts.example.org/";
    settings.app_name = "Herald Test";
    handler = sys.spawn(mailer, std::move(settings), storage, smtp);
    account alice;
    alice.profile = {7, "Alice Liddell", "alice@example.org", "user", 0, 1, 1};
    store->accounts[7] = alice;
  }

  ~fixture() {
    // Held promises point back at the fake: drop them, or the actor system
    // would wait for it forever.
    box->held.clear();
  }

  /// An event as the outbox would hand it over. The payload's email differs
  /// from the stored one on purpose: the stored address must win.
  event make_event(const std::string& id, const std::string& topic,
                   json data = {}) {
    if (data.is_null())
      data = {{"user_id", 7},
              {"name", "Alice"},
              {"email", "mallory@evil.example"},
              {"role", "user"}};
    return {id, topic, unix_now() * 1000, "test-node", "user:7", data.dump(),
            1,  0};
  }

  event reset_event(const std::string& id, int64_t expires_in = 900) {
    return make_event(id, topic_reset_requested,
                      {{"user_id", 7},
                       {"name", "Alice"},
                       {"email", "mallory@evil.example"},
                       {"token", "tok_EN-1234567890abcdefABCDEF"},
                       {"expires_at", unix_now() + expires_in}});
  }

  caf::expected<caf::ok_atom> handle(const event& ev) {
    return call<caf::ok_atom>(handler, atom::handle_v, ev);
  }

  /// Lets the fake accept the mails it holds and runs until idle (without
  /// firing timeouts).
  void release() {
    self->send(fake, atom::wake_v);
    sched.run();
  }

  bool processed(const std::string& id) {
    return store->processed.count({"mailer", id}) > 0;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(mailer_tests, fixture)

CAF_TEST(user created sends a welcome mail to the stored address) {
  CAF_REQUIRE(handle(make_event("ev-welcome", topic_user_created)));
  CAF_REQUIRE_EQUAL(box->sent.size(), 1u);
  auto& m = box->sent[0];
  CAF_CHECK_EQUAL(m.to, "alice@example.org");
  CAF_CHECK_EQUAL(m.subject, "Welcome to Herald Test, Alice Liddell");
  CAF_CHECK_EQUAL(m.message_id, "ev-welcome");
  CAF_CHECK(m.text.find("Hello Alice Liddell,") != std::string::npos);
  CAF_CHECK(m.text.find("https://accounts.example.org/\n")
            != std::string::npos);
  CAF_CHECK(m.html.find("<p>Hello Alice Liddell,</p>") != std::string::npos);
  CAF_CHECK(m.text.find("mallory") == std::string::npos);
  CAF_CHECK(processed("ev-welcome"));
}

CAF_TEST(reset requested sends the link on the configured base url) {
  CAF_REQUIRE(handle(reset_event("ev-reset")));
  CAF_REQUIRE_EQUAL(box->sent.size(), 1u);
  auto& m = box->sent[0];
  CAF_CHECK_EQUAL(m.to, "alice@example.org");
  CAF_CHECK_EQUAL(m.subject, "Reset your Herald Test password");
  auto link = std::string{"https://accounts.example.org/reset-password?token="
                          "tok_EN-1234567890abcdefABCDEF"};
  CAF_CHECK(m.text.find(link + "\n") != std::string::npos);
  CAF_CHECK(m.text.find("within 15 minutes") != std::string::npos);
  CAF_CHECK(m.html.find("href=\"" + link + "\"") != std::string::npos);
  CAF_CHECK(processed("ev-reset"));
}

CAF_TEST(password changed sends a notice) {
  CAF_REQUIRE(handle(make_event("ev-changed", topic_password_changed)));
  CAF_REQUIRE_EQUAL(box->sent.size(), 1u);
  CAF_CHECK_EQUAL(box->sent[0].to, "alice@example.org");
  CAF_CHECK_EQUAL(box->sent[0].subject,
                  "Your Herald Test password was changed");
  CAF_CHECK(processed("ev-changed"));
}

CAF_TEST(other topics are ok without mail) {
  for (auto topic : {topic_user_updated, topic_user_deleted, "x.unknown"})
    CAF_CHECK(handle(make_event("ev-other", topic, {{"user_id", 7}})));
  CAF_CHECK_EQUAL(box->attempts, 0u);
  CAF_CHECK(store->processed.empty());
}

CAF_TEST(
    an smtp failure is the reply and marks nothing and a retry sends once) {
  box->fail = true;
  auto ev = make_event("ev-retry", topic_user_created);
  auto res = handle(ev);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::unavailable);
  CAF_MESSAGE("reply: " << render(res.error()));
  CAF_CHECK(render(res.error()).find("451") != std::string::npos);
  CAF_CHECK(box->sent.empty());
  CAF_CHECK(!processed("ev-retry"));
  box->fail = false;
  CAF_CHECK(handle(ev));
  CAF_CHECK_EQUAL(box->sent.size(), 1u);
  CAF_CHECK(processed("ev-retry"));
}

CAF_TEST(a duplicate after success sends no second mail) {
  auto ev = reset_event("ev-dup");
  CAF_REQUIRE(handle(ev));
  CAF_REQUIRE(handle(ev));
  CAF_CHECK_EQUAL(box->attempts, 1u);
  CAF_CHECK_EQUAL(box->sent.size(), 1u);
  // Another mailer (a restarted node) finds the record in storage.
  auto templates = load_templates(shipped_templates());
  mailer_settings settings;
  settings.templates = std::move(*templates);
  settings.public_base_url = "https://accounts.example.org";
  auto other = sys.spawn(mailer, std::move(settings), storage, smtp);
  CAF_CHECK(call<caf::ok_atom>(other, atom::handle_v, ev));
  CAF_CHECK_EQUAL(box->attempts, 1u);
}

CAF_TEST(two concurrent deliveries of one event send one mail) {
  box->hold = true;
  auto ev = make_event("ev-concurrent", topic_user_created);
  auto first = self->request(handler, caf::infinite, atom::handle_v, ev);
  sched.run();
  CAF_REQUIRE_EQUAL(box->held.size(), 1u);
  auto second = self->request(handler, caf::infinite, atom::handle_v, ev);
  sched.run();
  CAF_CHECK_EQUAL(box->attempts, 1u);
  release();
  size_t oks = 0;
  for (auto* rh : {&first, &second})
    rh->receive([&](caf::ok_atom) { ++oks; },
                [&](caf::error& err) { CAF_FAIL("error: " << render(err)); });
  CAF_CHECK_EQUAL(oks, 2u);
  CAF_CHECK_EQUAL(box->sent.size(), 1u);
  CAF_CHECK(processed("ev-concurrent"));
  // Both in one mailbox before the mailer runs: the same.
  auto ev2 = make_event("ev-concurrent-2", topic_user_created);
  box->hold = false;
  auto a = self->request(handler, caf::infinite, atom::handle_v, ev2);
  auto b = self->request(handler, caf::infinite, atom::handle_v, ev2);
  sched.run();
  a.receive([](caf::ok_atom) {},
            [](caf::error& err) { CAF_FAIL(render(err)); });
  b.receive([](caf::ok_atom) {},
            [](caf::error& err) { CAF_FAIL(render(err)); });
  CAF_CHECK_EQUAL(box->sent.size(), 2u);
}

CAF_TEST(a failed processed mark is the reply but a retry does not resend) {
  box->hold = true;
  auto ev = make_event("ev-mark", topic_password_changed);
  auto rh = self->request(handler, caf::infinite, atom::handle_v, ev);
  sched.run();
  CAF_REQUIRE_EQUAL(box->held.size(), 1u);
  store->down = true;
  release();
  rh.receive(
      [](caf::ok_atom) { CAF_FAIL("expected an error"); },
      [](caf::error& err) { CAF_CHECK_EQUAL(code_of(err), ec::unavailable); });
  CAF_CHECK(!processed("ev-mark"));
  store->down = false;
  box->hold = false;
  CAF_CHECK(handle(ev));
  CAF_CHECK_EQUAL(box->attempts, 1u);
  CAF_CHECK(processed("ev-mark"));
}

CAF_TEST(an smtp bridge that does not answer times out as unavailable) {
  box->hold = true;
  auto rh = self->request(handler, caf::infinite, atom::handle_v,
                          make_event("ev-slow", topic_user_created));
  sched.run();
  CAF_REQUIRE_EQUAL(box->held.size(), 1u);
  advance_time(std::chrono::seconds{61});
  sched.run();
  rh.receive([](caf::ok_atom) { CAF_FAIL("expected an error"); },
             [](caf::error& err) {
               CAF_MESSAGE("reply: " << render(err));
               CAF_CHECK_EQUAL(code_of(err), ec::unavailable);
             });
  CAF_CHECK(!processed("ev-slow"));
}

CAF_TEST(storage down is the reply and sends nothing) {
  store->down = true;
  auto res = handle(make_event("ev-down", topic_user_created));
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::unavailable);
  CAF_CHECK_EQUAL(box->attempts, 0u);
}

CAF_TEST(a deleted user gets no mail) {
  store->accounts.erase(7);
  CAF_CHECK(handle(make_event("ev-gone", topic_user_created)));
  CAF_CHECK(handle(reset_event("ev-gone-reset")));
  CAF_CHECK_EQUAL(box->attempts, 0u);
}

CAF_TEST(an expired reset link gets no mail) {
  CAF_CHECK(handle(reset_event("ev-expired", -5)));
  CAF_CHECK_EQUAL(box->attempts, 0u);
}

CAF_TEST(a malformed payload is invalid_argument) {
  auto refused = [&](event ev) {
    auto res = handle(ev);
    CAF_REQUIRE(!res);
    CAF_CHECK_EQUAL(code_of(res.error()), ec::invalid_argument);
    CAF_MESSAGE("refused: " << render(res.error()));
  };
  auto ev = make_event("ev-bad", topic_user_created);
  for (auto data :
       {"not json", "[1,2]", "{}", "{\"user_id\":\"7\"}", "{\"user_id\":-7}",
        "{\"user_id\":0}", "{\"user_id\":7.5}", ""}) {
    ev.data = data;
    refused(ev);
  }
  json reset = {{"user_id", 7}, {"token", "abc"}, {"expires_at", 1}};
  auto r = reset_event("ev-bad-reset");
  for (auto& [key, value] : std::vector<std::pair<std::string, json>>{
           {"token", "a/b"},
           {"token", "a&next=https://evil.example"},
           {"token", ""},
           {"token", 5},
           {"expires_at", "soon"}}) {
    auto data = reset;
    data[key] = value;
    r.data = data.dump();
    refused(r);
  }
  auto no_token = reset;
  no_token.erase("token");
  r.data = no_token.dump();
  refused(r);
  auto no_id = make_event("", topic_user_created);
  refused(no_id);
  refused(make_event("id with spaces", topic_user_created));
  CAF_CHECK_EQUAL(box->attempts, 0u);
}

CAF_TEST(durations read naturally) {
  CAF_CHECK_EQUAL(describe_duration(900), "15 minutes");
  CAF_CHECK_EQUAL(describe_duration(899), "15 minutes");
  CAF_CHECK_EQUAL(describe_duration(60), "1 minute");
  CAF_CHECK_EQUAL(describe_duration(20), "less than a minute");
  CAF_CHECK_EQUAL(describe_duration(7200), "2 hours");
  CAF_CHECK_EQUAL(describe_duration(3 * 86400), "3 days");
}

CAF_TEST_FIXTURE_SCOPE_END()
