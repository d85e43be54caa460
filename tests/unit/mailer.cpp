#define CAF_SUITE mailer

// The mailer actor with the in-memory storage and a fake SMTP bridge, on the
// deterministic scheduler.

#include "actors/mailer.hpp"

#include "tests/test.hpp"

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "actors/password_reset.hpp"
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
    // The mailer's clock and the fake's agree on expiries.
    store->now = unix_now();
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
            1,  0,     ""};
  }

  /// A password.reset_requested event as storage writes it (no token),
  /// with the request it recorded in the fake.
  event reset_event(const std::string& id, int64_t expires_in = 900) {
    auto expires_at = unix_now() + expires_in;
    store->reset_requested[id] = {7, expires_at, false, false, id};
    return make_event(id, topic_reset_requested,
                      {{"user_id", 7},
                       {"name", "Alice"},
                       {"email", "mallory@evil.example"},
                       {"expires_at", expires_at}});
  }

  /// An event of an older herald: it carries the plain token whose hash
  /// that herald stored (no request row of its own).
  event legacy_reset_event(const std::string& id, const std::string& token) {
    auto expires_at = unix_now() + 900;
    store->resets[reset_token_hash(token)] = {7, expires_at, false, false, ""};
    return make_event(id, topic_reset_requested,
                      {{"user_id", 7},
                       {"name", "Alice"},
                       {"email", "mallory@evil.example"},
                       {"token", token},
                       {"expires_at", expires_at}});
  }

  /// The token in the reset link of `m` ("" if none). Tests compare it,
  /// never print it.
  static std::string token_in(const mail& m) {
    static const std::string marker = "/reset-password?token=";
    auto pos = m.text.find(marker);
    if (pos == std::string::npos)
      return {};
    pos += marker.size();
    auto end = pos;
    while (end < m.text.size()
           && (std::isalnum(static_cast<unsigned char>(m.text[end]))
               || m.text[end] == '-' || m.text[end] == '_'))
      ++end;
    return m.text.substr(pos, end - pos);
  }

  /// What storage answers for a link's token now.
  caf::expected<caf::ok_atom> check_link(const std::string& token) {
    return call<caf::ok_atom>(storage, atom::reset_check_v,
                              reset_token_hash(token));
  }

  /// Sends `n` user.created events ("<prefix>0", ...) to the mailer
  /// without running the scheduler; appends them to `evs` and answers their
  /// response handles.
  auto send_events(const std::string& prefix, int n, std::vector<event>& evs) {
    for (int i = 0; i < n; ++i)
      evs.push_back(make_event(prefix + std::to_string(i), topic_user_created));
    std::vector<decltype(self->request(handler, caf::infinite,
                                       atom::handle_v, evs[0]))>
        handles;
    for (auto& ev : evs)
      handles.push_back(
          self->request(handler, caf::infinite, atom::handle_v, ev));
    return handles;
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
  auto token = token_in(m);
  CAF_CHECK(!check_reset_token(token));
  auto link = "https://accounts.example.org/reset-password?token=" + token;
  CAF_CHECK(m.text.find(link + "\n") != std::string::npos);
  CAF_CHECK(m.text.find("within 15 minutes") != std::string::npos);
  CAF_CHECK(m.html.find("href=\"" + link + "\"") != std::string::npos);
  CAF_CHECK(processed("ev-reset"));
}

CAF_TEST(the mailer makes the token and storage gets only its hash) {
  CAF_REQUIRE(handle(reset_event("ev-hash")));
  CAF_REQUIRE_EQUAL(box->sent.size(), 1u);
  auto token = token_in(box->sent[0]);
  CAF_REQUIRE(!check_reset_token(token));
  CAF_CHECK_EQUAL(store->issues, 1u);
  CAF_REQUIRE_EQUAL(store->resets.size(), 1u);
  auto& [hash, r] = *store->resets.begin();
  CAF_CHECK(hash == reset_token_hash(token));
  CAF_CHECK(hash.find(token) == std::string::npos);
  CAF_CHECK_EQUAL(r.event_id, "ev-hash");
  CAF_CHECK_EQUAL(r.user_id, 7u);
  CAF_CHECK_EQUAL(r.expires_at, store->reset_requested["ev-hash"].expires_at);
  // Nothing else the mailer touched holds the token.
  for (auto& [seq, ev] : store->outbox)
    CAF_CHECK(ev.data.find(token) == std::string::npos);
  CAF_CHECK(check_link(token));
  // Two events, two different tokens.
  CAF_REQUIRE(handle(reset_event("ev-hash-2")));
  CAF_REQUIRE_EQUAL(box->sent.size(), 2u);
  CAF_CHECK(token_in(box->sent[1]) != token);
}

CAF_TEST(a second handling of one event voids the first link) {
  auto ev = reset_event("ev-twice");
  CAF_REQUIRE(handle(ev));
  CAF_REQUIRE_EQUAL(box->sent.size(), 1u);
  auto first = token_in(box->sent[0]);
  CAF_REQUIRE(check_link(first));
  // The mail went out but its record is lost (another node's redelivery
  // after a lost ack): a mailer that does not know mails again.
  store->processed.clear();
  auto templates = load_templates(shipped_templates());
  mailer_settings settings;
  settings.templates = std::move(*templates);
  settings.public_base_url = "https://accounts.example.org";
  auto other = sys.spawn(mailer, std::move(settings), storage, smtp);
  CAF_REQUIRE(call<caf::ok_atom>(other, atom::handle_v, ev));
  CAF_REQUIRE_EQUAL(box->sent.size(), 2u);
  auto second = token_in(box->sent[1]);
  CAF_REQUIRE(!check_reset_token(second));
  CAF_CHECK(first != second);
  // Exactly one working link: the one mailed last.
  auto old = check_link(first);
  CAF_REQUIRE(!old);
  CAF_CHECK_EQUAL(code_of(old.error()), ec::revoked);
  CAF_CHECK(check_link(second));
  CAF_CHECK_EQUAL(store->issues, 2u);
}

CAF_TEST(storage failing to keep the token is the reply and sends nothing) {
  store->issue_down = true;
  auto ev = reset_event("ev-issue-down");
  auto res = handle(ev);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::unavailable);
  CAF_MESSAGE("reply: " << render(res.error()));
  CAF_CHECK_EQUAL(store->issues, 1u);
  CAF_CHECK_EQUAL(box->attempts, 0u);
  CAF_CHECK(store->resets.empty());
  CAF_CHECK(!processed("ev-issue-down"));
  // A retry once storage is back mails one working link.
  store->issue_down = false;
  CAF_REQUIRE(handle(ev));
  CAF_REQUIRE_EQUAL(box->sent.size(), 1u);
  CAF_CHECK(check_link(token_in(box->sent[0])));
  CAF_CHECK(processed("ev-issue-down"));
}

CAF_TEST(a token stored before an smtp failure is voided by the retry) {
  box->fail = true;
  auto ev = reset_event("ev-smtp-fails");
  CAF_REQUIRE(!handle(ev));
  CAF_REQUIRE_EQUAL(store->resets.size(), 1u);
  auto unsent = store->resets.begin()->first;
  box->fail = false;
  CAF_REQUIRE(handle(ev));
  CAF_REQUIRE_EQUAL(box->sent.size(), 1u);
  CAF_CHECK(store->resets.at(unsent).voided);
  CAF_CHECK(check_link(token_in(box->sent[0])));
}

CAF_TEST(an old event with a token gets a fresh token and its own is voided) {
  auto legacy = make_reset_token();
  auto ev = legacy_reset_event("ev-legacy", legacy);
  CAF_REQUIRE(check_link(legacy));
  CAF_REQUIRE(handle(ev));
  CAF_REQUIRE_EQUAL(box->sent.size(), 1u);
  auto& m = box->sent[0];
  CAF_CHECK(m.text.find(legacy) == std::string::npos);
  CAF_CHECK(m.html.find(legacy) == std::string::npos);
  auto fresh = token_in(m);
  CAF_REQUIRE(!check_reset_token(fresh));
  CAF_CHECK(fresh != legacy);
  CAF_CHECK(check_link(fresh));
  auto old = check_link(legacy);
  CAF_REQUIRE(!old);
  CAF_CHECK_EQUAL(code_of(old.error()), ec::revoked);
  // The old token was never stored in clear: only hashes are keys.
  CAF_CHECK(store->resets.count(legacy) == 0);
  CAF_CHECK(store->resets.count(fresh) == 0);
  // A redelivery of it now finds the request its token's row became.
  store->processed.clear();
  auto other = sys.spawn(mailer, [&] {
    mailer_settings settings;
    settings.templates = *load_templates(shipped_templates());
    settings.public_base_url = "https://accounts.example.org";
    return settings;
  }(), storage, smtp);
  CAF_REQUIRE(call<caf::ok_atom>(other, atom::handle_v, ev));
  CAF_REQUIRE_EQUAL(box->sent.size(), 2u);
  CAF_CHECK(!check_link(fresh));
  CAF_CHECK(check_link(token_in(box->sent[1])));
}

CAF_TEST(a reset event without its request gets no mail) {
  // Not written by storage (or its request gone): nothing to issue for, so
  // no link, and no token either for a token the event brings along.
  auto forged = reset_event("ev-forged");
  store->reset_requested.clear();
  CAF_CHECK(handle(forged));
  auto token = make_reset_token();
  auto unknown = make_event("ev-forged-2", topic_reset_requested,
                            {{"user_id", 7},
                             {"token", token},
                             {"expires_at", unix_now() + 900}});
  CAF_CHECK(handle(unknown));
  CAF_CHECK_EQUAL(box->attempts, 0u);
  CAF_CHECK(store->resets.empty());
  CAF_CHECK_EQUAL(store->issues, 2u);
}

CAF_TEST(a request voided by a completed reset gets no mail) {
  auto ev = reset_event("ev-superseded");
  store->reset_requested["ev-superseded"].voided = true;
  CAF_CHECK(handle(ev));
  CAF_CHECK_EQUAL(box->attempts, 0u);
  CAF_CHECK(store->resets.empty());
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

CAF_TEST(at most in_flight events are worked on at once and the rest follow) {
  // The default: two events claimed at a time. A crash leaves at most those
  // in doubt; the others wait unclaimed, free for another mailer.
  box->hold = true;
  std::vector<event> evs;
  auto handles = send_events("ev-gate-", 5, evs);
  sched.run();
  CAF_CHECK_EQUAL(box->attempts, 2u);
  CAF_CHECK_EQUAL(store->event_claims.size(), 2u);
  // A second delivery of a waiting event joins it: no claim, no send.
  handles.push_back(
      self->request(handler, caf::infinite, atom::handle_v, evs[4]));
  sched.run();
  CAF_CHECK_EQUAL(box->attempts, 2u);
  CAF_CHECK_EQUAL(store->event_claims.size(), 2u);
  release(); // the first two recorded, the next two claimed and held
  CAF_CHECK_EQUAL(box->sent.size(), 2u);
  CAF_CHECK_EQUAL(box->held.size(), 2u);
  CAF_CHECK_EQUAL(store->event_claims.size(), 2u);
  release();
  CAF_CHECK_EQUAL(box->sent.size(), 4u);
  CAF_CHECK_EQUAL(box->held.size(), 1u);
  CAF_CHECK_EQUAL(store->event_claims.size(), 1u);
  release();
  CAF_CHECK_EQUAL(box->attempts, 5u);
  CAF_REQUIRE_EQUAL(box->sent.size(), 5u);
  for (size_t i = 0; i < evs.size(); ++i) {
    CAF_CHECK_EQUAL(box->sent[i].message_id, evs[i].id);
    CAF_CHECK(processed(evs[i].id));
  }
  size_t oks = 0;
  for (auto& h : handles)
    h.receive([&](caf::ok_atom) { ++oks; },
              [&](caf::error& err) { CAF_FAIL("error: " << render(err)); });
  CAF_CHECK_EQUAL(oks, 6u);
  CAF_CHECK(store->event_claims.empty());
}

CAF_TEST(an orderly stop finishes the events under way and answers the rest) {
  box->hold = true;
  std::vector<event> evs;
  auto handles = send_events("ev-stop-", 5, evs);
  sched.run();
  CAF_REQUIRE_EQUAL(box->held.size(), 2u);
  self->send_exit(handler, caf::exit_reason::user_shutdown);
  sched.run();
  // The three waiting events are answered at once, unclaimed and unsent;
  // a new event is refused; a second delivery of one under way joins it.
  for (size_t i = 2; i < handles.size(); ++i)
    handles[i].receive([](caf::ok_atom) { CAF_FAIL("expected an error"); },
                       [](caf::error& err) {
                         CAF_CHECK_EQUAL(code_of(err), ec::unavailable);
                       });
  CAF_CHECK_EQUAL(store->event_claims.size(), 2u);
  auto late = self->request(handler, caf::infinite, atom::handle_v,
                            make_event("ev-stop-late", topic_user_created));
  auto again = self->request(handler, caf::infinite, atom::handle_v, evs[0]);
  sched.run();
  late.receive([](caf::ok_atom) { CAF_FAIL("expected an error"); },
               [](caf::error& err) {
                 CAF_CHECK_EQUAL(code_of(err), ec::unavailable);
               });
  CAF_CHECK_EQUAL(box->attempts, 2u);
  // The two under way are sent and recorded: nothing is left in doubt.
  release();
  for (size_t i = 0; i < 2; ++i)
    handles[i].receive([](caf::ok_atom) {},
                       [](caf::error& err) { CAF_FAIL(render(err)); });
  again.receive([](caf::ok_atom) {},
                [](caf::error& err) { CAF_FAIL(render(err)); });
  CAF_CHECK_EQUAL(box->sent.size(), 2u);
  CAF_CHECK_EQUAL(box->attempts, 2u);
  CAF_CHECK(processed(evs[0].id));
  CAF_CHECK(processed(evs[1].id));
  CAF_CHECK(!processed(evs[2].id));
  CAF_CHECK(store->event_claims.empty());
}

CAF_TEST(a failed event frees its place for the next) {
  box->fail = true;
  std::vector<std::string> ids{"ev-free-0", "ev-free-1", "ev-free-2",
                               "ev-free-3"};
  using handle_t = decltype(self->request(
      handler, caf::infinite, atom::handle_v, make_event("x", "y")));
  std::vector<handle_t> handles;
  for (auto& id : ids)
    handles.push_back(self->request(handler, caf::infinite, atom::handle_v,
                                    make_event(id, topic_user_created)));
  sched.run();
  CAF_CHECK_EQUAL(box->attempts, 4u);
  for (auto& h : handles)
    h.receive([](caf::ok_atom) { CAF_FAIL("expected an error"); },
              [](caf::error& err) {
                CAF_CHECK_EQUAL(code_of(err), ec::unavailable);
              });
  CAF_CHECK(store->event_claims.empty());
  // Storage down before any claim: the places are freed as well.
  box->fail = false;
  store->down = true;
  for (auto& id : ids)
    CAF_CHECK(!handle(make_event(id + "-down", topic_user_created)));
  store->down = false;
  CAF_CHECK(handle(make_event("ev-free-after", topic_user_created)));
  CAF_CHECK_EQUAL(box->sent.size(), 1u);
}

CAF_TEST(two mailers that get one event at once send one mail) {
  // A second mailer node on the same storage.
  auto templates = load_templates(shipped_templates());
  mailer_settings settings;
  settings.templates = std::move(*templates);
  settings.public_base_url = "https://accounts.example.org";
  auto other = sys.spawn(mailer, std::move(settings), storage, smtp);
  box->hold = true;
  auto ev = make_event("ev-two-nodes", topic_user_created);
  auto first = self->request(handler, caf::infinite, atom::handle_v, ev);
  auto second = self->request(other, caf::infinite, atom::handle_v, ev);
  sched.run();
  // One claimed it and is sending; the other is told to come back later.
  CAF_CHECK_EQUAL(box->attempts, 1u);
  size_t deferred = 0;
  second.receive([](caf::ok_atom) { CAF_FAIL("expected deferred"); },
                 [&](caf::error& err) {
                   if (code_of(err) == ec::deferred)
                     ++deferred;
                 });
  CAF_CHECK_EQUAL(deferred, 1u);
  release();
  first.receive([](caf::ok_atom) {},
                [](caf::error& err) { CAF_FAIL(render(err)); });
  // The retry finds the event finished.
  CAF_CHECK(call<caf::ok_atom>(other, atom::handle_v, ev));
  CAF_CHECK_EQUAL(box->sent.size(), 1u);
  CAF_CHECK(store->event_claims.empty());
}

CAF_TEST(a claim of a mailer that died is taken over after the timeout) {
  auto ev = make_event("ev-orphan", topic_user_created);
  store->event_claims[{"mailer", ev.id}] = {"dead-mailer", store->now * 1000};
  auto res = handle(ev);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(code_of(res.error()), ec::deferred);
  CAF_CHECK_EQUAL(box->attempts, 0u);
  store->now += 301; // the default claim timeout is 300 s
  CAF_CHECK(handle(ev));
  CAF_CHECK_EQUAL(box->sent.size(), 1u);
  CAF_CHECK(processed(ev.id));
}

CAF_TEST(a failed send releases the claim so that any mailer may retry) {
  box->fail = true;
  auto ev = make_event("ev-release", topic_user_created);
  CAF_REQUIRE(!handle(ev));
  CAF_CHECK(store->event_claims.empty());
  CAF_CHECK(!processed(ev.id));
  box->fail = false;
  CAF_CHECK(handle(ev));
  CAF_CHECK_EQUAL(box->sent.size(), 1u);
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
  json reset = {{"user_id", 7}, {"expires_at", 1}};
  auto r = reset_event("ev-bad-reset");
  for (json expires : {json("soon"), json(1.5), json()}) {
    auto data = reset;
    if (expires.is_null())
      data.erase("expires_at");
    else
      data["expires_at"] = expires;
    r.data = data.dump();
    refused(r);
  }
  auto no_id = make_event("", topic_user_created);
  refused(no_id);
  refused(make_event("id with spaces", topic_user_created));
  CAF_CHECK_EQUAL(box->attempts, 0u);
}

CAF_TEST(a token field of any form is never mailed) {
  for (auto& bad : std::vector<json>{"a/b", "a&next=https://evil.example", "",
                                     5, std::string(43, 'A') + "#x"}) {
    auto ev = reset_event("ev-token-field");
    auto data = json::parse(ev.data);
    data["token"] = bad;
    ev.data = data.dump();
    store->processed.clear();
    CAF_REQUIRE(handle(ev));
  }
  CAF_REQUIRE_EQUAL(box->sent.size(), 5u);
  for (auto& m : box->sent) {
    CAF_CHECK(!check_reset_token(token_in(m)));
    CAF_CHECK(m.text.find("evil") == std::string::npos);
    CAF_CHECK(m.text.find("a/b") == std::string::npos);
  }
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
