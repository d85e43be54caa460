#define CAF_SUITE hasher

#include "actors/hasher.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/scoped_actor.hpp>

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
  auto ok
      = call<password_check>(hasher, atom::verify_v, std::string{"pw one"}, *a);
  CAF_REQUIRE(ok);
  CAF_CHECK(ok->valid);
  CAF_CHECK(!ok->needs_rehash);
  auto bad
      = call<password_check>(hasher, atom::verify_v, std::string{"pw two"}, *a);
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

// -- status -------------------------------------------------------------------

namespace {

/// The pool's status from a real system (its workers are detached).
hasher_status status_of(caf::scoped_actor& self, const hasher_actor& hasher) {
  hasher_status out{99, 99, 99};
  self->request(hasher, std::chrono::seconds{5}, atom::status_v)
      .receive([&](hasher_status& x) { out = x; },
               [&](caf::error& err) {
                 CAF_FAIL("no hasher status: " << render(err));
               });
  return out;
}

bool same(const hasher_status& x, uint32_t workers, uint32_t busy,
          uint32_t queued) {
  return x.workers == workers && x.busy == busy && x.queued == queued;
}

} // namespace

CAF_TEST(a lone worker reports itself idle) {
  herald::test::fixture f;
  auto worker = f.sys.spawn(hasher_worker, cheap);
  auto res = f.call<hasher_status>(worker, atom::status_v);
  CAF_REQUIRE(res);
  CAF_CHECK(same(*res, 1, 0, 0));
}

CAF_TEST(the pool answers its status at once while its workers hash) {
  herald::test::config cfg;
  caf::actor_system sys{cfg};
  // Costly enough that three hashes take a while on one worker.
  auto hasher = spawn_hasher(sys, 1, argon2_params{65536, 3, 1});
  caf::scoped_actor self{sys};
  CAF_CHECK(same(status_of(self, hasher), 1, 0, 0));
  auto started = std::chrono::steady_clock::now();
  using hash_handle = decltype(self->request(hasher, std::chrono::seconds{60},
                                             atom::hash_v, std::string{}));
  std::vector<hash_handle> hashes;
  for (int i = 0; i < 3; ++i)
    hashes.push_back(self->request(hasher, std::chrono::seconds{60},
                                   atom::hash_v, std::string{"pw"}));
  // While the first hash runs, two wait behind it; the status overtakes them.
  bool seen = false;
  hasher_status last;
  for (int i = 0; i < 200 && !seen; ++i) {
    last = status_of(self, hasher);
    seen = same(last, 1, 1, 2);
    if (!seen)
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  CAF_MESSAGE("last status: " << last.workers << " workers, " << last.busy
                              << " busy, " << last.queued << " queued");
  CAF_CHECK(seen);
  // The three hashes come back; then the pool is idle again.
  size_t answered = 0;
  for (auto& h : hashes)
    h.receive(
        [&](std::string&) { ++answered; },
        [&](caf::error& err) { CAF_FAIL("hash failed: " << render(err)); });
  CAF_CHECK_EQUAL(answered, 3u);
  CAF_MESSAGE("three hashes took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count()
              << " ms");
  CAF_CHECK(same(status_of(self, hasher), 1, 0, 0));
  self->send_exit(hasher, caf::exit_reason::user_shutdown);
}

namespace {

/// Thread id -> nice value of this process's threads (field 19 of
/// /proc/self/task/*/stat).
std::map<std::string, int> thread_nice_values() {
  std::map<std::string, int> out;
  for (auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in{entry.path() / "stat"};
    std::string text{std::istreambuf_iterator<char>{in}, {}};
    auto close = text.rfind(')');
    if (close == std::string::npos)
      continue;
    std::istringstream fields{text.substr(close + 2)};
    std::string field;
    // After "pid (comm) ": state is field 3, nice is field 19.
    for (int i = 3; i <= 19 && fields >> field; ++i)
      if (i == 19)
        out.emplace(entry.path().filename().string(), std::stoi(field));
  }
  return out;
}

} // namespace

CAF_TEST(pooled workers hash at a lower priority than the process) {
  auto base = getpriority(PRIO_PROCESS, 0);
  auto want = std::min(base + hashing_niceness, 19);
  CAF_REQUIRE_NOT_EQUAL(want, base);
  // Workers of an earlier test's pool may still be ending: only threads
  // that appear from here on count.
  auto before = thread_nice_values();
  auto lowered = [&] {
    size_t n = 0;
    for (auto& [tid, nice] : thread_nice_values())
      if (nice == want && before.count(tid) == 0)
        ++n;
    return n;
  };
  herald::test::config cfg;
  caf::actor_system sys{cfg};
  auto hasher = spawn_hasher(sys, 2, cheap);
  caf::scoped_actor self{sys};
  for (int i = 0; i < 2; ++i)
    self->request(hasher, std::chrono::seconds{30}, atom::hash_v,
                  std::string{"pw"})
        .receive([](std::string&) {},
                 [](caf::error& err) { CAF_FAIL(render(err)); });
  // Each worker lowers its own thread as it starts (asynchronously).
  for (int i = 0; i < 500 && lowered() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  CAF_CHECK_EQUAL(lowered(), 2u);
  // Nothing else in the process was lowered: the caller's thread is not.
  CAF_CHECK_EQUAL(getpriority(PRIO_PROCESS, 0), base);
  caf::anon_send_exit(hasher, caf::exit_reason::user_shutdown);
}
