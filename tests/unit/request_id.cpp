#define CAF_SUITE request_id

// Request ids (messages/context): well-formed, never repeated within a
// thread, and apart across threads.

#include "messages/context.hpp"

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/test.hpp"

using namespace herald;

CAF_TEST(request ids are well formed and unique within a thread) {
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) {
    auto id = new_request_id();
    CAF_REQUIRE_EQUAL(id.size(), 18u);
    CAF_REQUIRE_EQUAL(id.substr(0, 2), "r-");
    CAF_REQUIRE(is_request_id(id));
    CAF_REQUIRE(seen.insert(id).second);
  }
  // Every hex digit shows up in every position: the ids are not a plain
  // counter that leaves leading digits constant.
  for (size_t pos = 2; pos < 18; ++pos) {
    std::set<char> digits;
    for (auto& id : seen)
      digits.insert(id[pos]);
    CAF_CHECK_EQUAL(digits.size(), 16u);
  }
}

CAF_TEST(request ids of several threads do not collide) {
  constexpr int threads = 4;
  constexpr int per_thread = 25000;
  std::vector<std::vector<std::string>> ids(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&ids, t] {
      for (int i = 0; i < per_thread; ++i)
        ids[t].push_back(new_request_id());
    });
  for (auto& w : workers)
    w.join();
  std::set<std::string> all;
  for (auto& xs : ids)
    all.insert(xs.begin(), xs.end());
  CAF_CHECK_EQUAL(all.size(), static_cast<size_t>(threads * per_thread));
}
