// herald-bench: throughput and latency of herald's actors, each against a
// raw baseline measured in the same run, printed as a ratio.
//
//   herald-bench validate [seconds]   on 1, 2 and all threads: the token
//                                     verifier on plain threads and the token
//                                     actor, each vs raw HMAC-SHA256 verify
//                                     on as many threads
//   herald-bench login [seconds]      logins vs raw argon2id on as many
//                                     threads as hasher workers, plus token
//                                     validation latency during the logins
//   herald-bench remote [seconds]     remote validate round trips vs a raw
//                                     CAF remote echo (server: a child
//                                     process of this binary)
//
// Storage is the in-memory fake so that only herald's own work is measured.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <argon2.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <spdlog/spdlog.h>

#include "actors/hasher.hpp"
#include "actors/jwt.hpp"
#include "actors/session.hpp"
#include "actors/token.hpp"
#include "actors/token_verifier.hpp"
#include "actors/user.hpp"
#include "bench/report.hpp"
#include "messages/error.hpp"
#include "messages/type_ids.hpp"
#include "tests/support/fake_storage.hpp"

using namespace herald;
using herald::bench::alternate;
using herald::bench::percentile;
using herald::bench::report;
using clock_type = std::chrono::steady_clock;
using std::chrono::duration;

namespace {

/// CAF options from the command line after mode and seconds, e.g.
/// `--scheduler.max-threads=1`, so tuning can be measured.
std::vector<std::string> caf_arguments;

struct bench_config : caf::actor_system_config {
  bench_config() {
    load<caf::io::middleman>();
    herald::add_message_types(*this);
    set("middleman.app-identifiers", std::vector<std::string>{"herald"});
    // The node's scheduler defaults (see node_config).
    set("work-stealing.aggressive-poll-attempts", size_t{0});
    set("work-stealing.moderate-poll-attempts", size_t{0});
    if (auto err = parse(caf_arguments)) {
      std::cerr << "bad CAF option: " << to_string(err) << "\n";
      std::exit(2);
    }
  }
};

const char* bench_secret = "YmVuY2htYXJrLWtleS1iZW5jaG1hcmsta2V5LWJlbmNobWFyaw";

token_settings make_token_settings() {
  token_settings ts;
  ts.keys = *jwt::parse_key_ring({std::string{"bench:"} + bench_secret});
  ts.policy.issuer = "herald";
  ts.policy.audience = "herald";
  ts.version_cache_ttl = std::chrono::seconds(3600);
  return ts;
}

user bench_user();

/// The context every benchmark request carries.
const request_context bench_ctx{"bench", "bench"};

/// A token for the bench user, signed as the session service signs.
std::string bench_token() {
  auto s = make_token_settings();
  auto t = jwt::issue(bench_user(), s.keys, s.policy, unix_now(),
                      jwt::random_jti());
  if (!t)
    std::exit(1);
  return t->token;
}

/// A token actor over an in-memory store that holds the bench user.
std::pair<storage_actor, token_actor>
spawn_token_service(caf::actor_system& sys) {
  auto store = std::make_shared<test::fake_store>();
  store->accounts[1] = account{bench_user(), "x"};
  auto storage = sys.spawn(test::fake_storage, store);
  return {storage, sys.spawn(token, make_token_settings(), storage)};
}

double seconds_since(clock_type::time_point start) {
  return duration<double>(clock_type::now() - start).count();
}

/// Sends `window` requests at a time until `seconds` passed; answers the
/// completed requests per second. Fails loudly on any error reply.
template <class Handle, class Reply, class... Ts>
double pipelined(caf::actor_system& sys, const Handle& dest, double seconds,
                 size_t window, Ts... xs) {
  caf::scoped_actor self{sys};
  size_t done = 0;
  auto start = clock_type::now();
  while (seconds_since(start) < seconds) {
    for (size_t i = 0; i < window; ++i)
      self->request(dest, std::chrono::seconds(10), xs...)
          .receive([](Reply&) {},
                   [](caf::error& err) {
                     std::cerr << "error reply: " << render(err) << "\n";
                     std::exit(1);
                   });
    done += window;
  }
  return static_cast<double>(done) / seconds_since(start);
}

/// Keeps `window` requests in flight from an event-based driver actor (a
/// blocking receiver would cap the rate at its own wake-up cost) until
/// `seconds` passed; answers completed requests per second.
template <class Handle, class Reply, class... Ts>
double in_flight(caf::actor_system& sys, const Handle& dest, double seconds,
                 size_t window, Ts... xs) {
  struct state {
    size_t done = 0;
    size_t outstanding = 0;
    clock_type::time_point start;
    caf::response_promise rp;
  };
  auto driver = sys.spawn([=](caf::stateful_actor<state>* self) {
    auto fire = std::make_shared<std::function<void()>>();
    *fire = [self, dest, seconds, xs..., fire] {
      ++self->state.outstanding;
      self->request(dest, std::chrono::seconds(10), xs...)
          .then(
              [self, seconds, fire](Reply&) {
                auto& st = self->state;
                --st.outstanding;
                ++st.done;
                if (seconds_since(st.start) < seconds)
                  (*fire)();
                else if (st.outstanding == 0)
                  st.rp.deliver(static_cast<double>(st.done)
                                / seconds_since(st.start));
              },
              [](caf::error& err) {
                std::cerr << "error reply: " << render(err) << "\n";
                std::exit(1);
              });
    };
    return caf::behavior{[self, window, fire](caf::ok_atom) {
      self->state.rp = self->make_response_promise();
      self->state.start = clock_type::now();
      for (size_t i = 0; i < window; ++i)
        (*fire)();
      return self->state.rp;
    }};
  });
  caf::scoped_actor self{sys};
  double rate = 0;
  self->request(driver, caf::infinite, caf::ok_atom_v)
      .receive([&](double r) { rate = r; }, [](caf::error&) { std::exit(1); });
  caf::anon_send_exit(driver, caf::exit_reason::user_shutdown);
  return rate;
}

user bench_user() {
  user u;
  u.id = 1;
  u.name = "bench";
  u.email = "bench@example.org";
  u.role = role_user;
  return u;
}

/// Runs `op` (which answers false on a wrong result) in a loop on `threads`
/// plain threads for `seconds`; answers the completed calls per second.
template <class Op>
double on_threads(size_t threads, double seconds, Op op) {
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<size_t> total{0};
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      while (!go.load())
        std::this_thread::yield();
      size_t done = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 100; ++i)
          if (!op()) {
            std::cerr << "wrong result\n";
            std::exit(1);
          }
        done += 100;
      }
      total += done;
    });
  auto start = clock_type::now();
  go = true;
  std::this_thread::sleep_for(duration<double>(seconds));
  stop = true;
  for (auto& w : workers)
    w.join();
  return static_cast<double>(total.load()) / seconds_since(start);
}

/// Raw baseline: HMAC-SHA256 over header.payload of `token` and a
/// constant-time compare with its decoded signature, on `threads` threads.
double raw_hmac_rate(const std::string& token, size_t threads, double seconds) {
  std::string secret;
  jwt::base64url_decode(bench_secret, secret);
  auto dot = token.rfind('.');
  std::string signed_part = token.substr(0, dot);
  std::string sig;
  jwt::base64url_decode(token.substr(dot + 1), sig);
  // Like jwt.cpp, each thread keys one context once and re-initialises it
  // without the key per token (no algorithm fetch, no key hashing).
  struct keyed {
    EVP_MAC_CTX* ctx = nullptr;
    ~keyed() { EVP_MAC_CTX_free(ctx); }
  };
  return on_threads(threads, seconds, [&] {
    thread_local keyed k;
    if (k.ctx == nullptr) {
      auto mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
      k.ctx = EVP_MAC_CTX_new(mac);
      EVP_MAC_free(mac);
      char digest[] = "SHA256";
      OSSL_PARAM params[]
          = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
             OSSL_PARAM_construct_end()};
      EVP_MAC_init(k.ctx, reinterpret_cast<const unsigned char*>(secret.data()),
                   secret.size(), params);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t len = 0;
    EVP_MAC_init(k.ctx, nullptr, 0, nullptr);
    EVP_MAC_update(k.ctx,
                   reinterpret_cast<const unsigned char*>(signed_part.data()),
                   signed_part.size());
    EVP_MAC_final(k.ctx, mac, &len, sizeof(mac));
    return len == sig.size() && CRYPTO_memcmp(mac, sig.data(), len) == 0;
  });
}

/// Rounds of each paired measurement; each run takes seconds / rounds.
constexpr size_t validate_rounds = 5;

/// The validate figures with `threads` threads: the verifier on as many
/// plain threads, the token actor on an actor system with as many scheduler
/// threads, each against raw HMAC on as many threads.
void bench_validate_on(size_t threads, const std::string& tok, double seconds) {
  auto run = seconds / static_cast<double>(validate_rounds);
  auto raw = [&] { return raw_hmac_rate(tok, threads, run); };
  char label[80];
  // (b) The gateway's path: try_validate on plain threads, cache warm.
  token_verifier verifier{make_token_settings()};
  verifier.remember(1, 0, unix_now(), verifier.epoch(1));
  auto plain = alternate(validate_rounds, raw, [&] {
    return on_threads(threads, run, [&] {
      auto res = verifier.try_validate(tok);
      return res && *res;
    });
  });
  std::snprintf(label, sizeof(label), "verifier.try_validate, %zu thread%s",
                threads, threads == 1 ? "" : "s");
  report(label, plain.herald, plain.raw, "req/s");
  // (b') The same with 1,000 tokens of 1,000 users in turn: more than the
  // per-thread memo of verified tokens holds, so every JSON is read again.
  auto s = make_token_settings();
  std::vector<std::string> many_tokens;
  for (uint64_t id = 1; id <= 1000; ++id) {
    auto u = bench_user();
    u.id = id;
    auto t = jwt::issue(u, s.keys, s.policy, unix_now(), jwt::random_jti());
    if (!t)
      std::exit(1);
    many_tokens.push_back(t->token);
    verifier.remember(id, 0, unix_now(), verifier.epoch(id));
  }
  auto cold = alternate(validate_rounds, raw, [&] {
    return on_threads(threads, run, [&] {
      thread_local size_t next = 0;
      auto res = verifier.try_validate(many_tokens[next++ % 1000]);
      return res && *res;
    });
  });
  std::snprintf(label, sizeof(label), "  1,000 tokens in turn, %zu thread%s",
                threads, threads == 1 ? "" : "s");
  report(label, cold.herald, cold.raw, "req/s");
  // (c) The token actor, on `threads` scheduler threads.
  caf_arguments.push_back("--scheduler.max-threads=" + std::to_string(threads));
  {
    bench_config cfg;
    caf::actor_system sys{cfg};
    auto [storage, tokens] = spawn_token_service(sys);
    auto many = alternate(validate_rounds, raw, [&] {
      return in_flight<token_actor, claims>(sys, tokens, run, 100,
                                            atom::validate_v, bench_ctx, tok);
    });
    std::snprintf(label, sizeof(label),
                  "token actor, 100 in flight, %zu sched thr", threads);
    report(label, many.herald, many.raw, "req/s");
    auto one = alternate(validate_rounds, raw, [&] {
      return pipelined<token_actor, claims>(sys, tokens, run, 1,
                                            atom::validate_v, bench_ctx, tok);
    });
    std::snprintf(label, sizeof(label),
                  "token actor, one at a time, %zu sched thr", threads);
    report(label, one.herald, one.raw, "req/s");
    caf::anon_send_exit(tokens, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  }
  caf_arguments.pop_back();
}

/// Token validation on 1, 2 and all threads, each figure against raw
/// HMAC-SHA256 on as many threads (medians of alternating rounds).
int bench_validate(double seconds) {
  auto tok = bench_token();
  std::vector<size_t> counts{1, 2, std::thread::hardware_concurrency()};
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  std::printf("validate: medians of %zu rounds of %.2f s each, raw = "
              "HMAC-SHA256 (a context keyed once per thread) + "
              "CRYPTO_memcmp\n",
              validate_rounds, seconds / static_cast<double>(validate_rounds));
  for (auto n : counts)
    if (n > 0)
      bench_validate_on(n, tok, seconds);
  return 0;
}

/// Raw baseline: argon2id hashes on `threads` threads with the same
/// parameters, as many as fit in `seconds`.
double raw_argon2_rate(const argon2_params& p, size_t threads, double seconds) {
  std::atomic<size_t> done{0};
  auto start = clock_type::now();
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      const char pwd[] = "correct horse battery staple";
      unsigned char salt[16] = {1, 2, 3};
      unsigned char out[32];
      while (seconds_since(start) < seconds) {
        argon2id_hash_raw(p.iterations, p.memory_kib, p.parallelism, pwd,
                          sizeof(pwd) - 1, salt, sizeof(salt), out,
                          sizeof(out));
        ++done;
      }
    });
  for (auto& w : workers)
    w.join();
  return static_cast<double>(done.load()) / seconds_since(start);
}

int bench_login(double seconds) {
  argon2_params params; // OWASP minimum, as a production node
  size_t workers = std::max(2u, std::thread::hardware_concurrency());
  bench_config cfg;
  caf::actor_system sys{cfg};
  auto store = std::make_shared<test::fake_store>();
  user_settings us;
  us.dummy_hash = *hash_password("dummy password for the bench", params);
  auto storage = sys.spawn(test::fake_storage, store);
  auto hasher = spawn_hasher(sys, workers, params);
  auto tokens = sys.spawn(token, make_token_settings(), storage);
  auto users = sys.spawn(user_service, us, storage, hasher, tokens,
                         outbox_relay_actor{});
  auto sessions = sys.spawn(session_service, make_token_settings(), users);
  caf::scoped_actor self{sys};
  const std::string pw = "correct horse battery staple";
  self->request(users, caf::infinite, atom::create_v, bench_ctx,
                new_user{"bench", "bench@example.org", pw, role_user})
      .receive([](user&) {},
               [](caf::error& e) {
                 std::cerr << render(e) << "\n";
                 std::exit(1);
               });
  auto tok = bench_token();
  auto raw = raw_argon2_rate(params, workers, seconds);
  // Validation latency measured on another thread while logins run.
  std::atomic<bool> logins_running{true};
  std::vector<double> latencies_us;
  std::thread prober([&] {
    caf::scoped_actor probe{sys};
    while (logins_running) {
      auto t0 = clock_type::now();
      probe->request(tokens, caf::infinite, atom::validate_v, bench_ctx, tok)
          .receive([](claims&) {}, [](caf::error&) { std::exit(1); });
      latencies_us.push_back(
          duration<double, std::micro>(clock_type::now() - t0).count());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  // A login as a node does it: the password checked and a token signed.
  auto rate = in_flight<session_actor, session>(
      sys, sessions, seconds, 4 * workers, atom::login_v, bench_ctx,
      std::string{"bench@example.org"}, pw);
  logins_running = false;
  prober.join();
  char label[64];
  std::snprintf(label, sizeof(label), "login (argon2id m=%u t=%u p=%u, %zu w)",
                params.memory_kib, params.iterations, params.parallelism,
                workers);
  report(label, rate, raw, "/s");
  std::printf("%-44s p50 %.0f us   p99 %.0f us   max %.0f us   (%zu probes)\n",
              "token validation latency during logins",
              percentile(latencies_us, 0.5), percentile(latencies_us, 0.99),
              percentile(latencies_us, 1.0), latencies_us.size());
  for (auto h :
       {caf::actor_cast<caf::actor>(sessions),
        caf::actor_cast<caf::actor>(users), caf::actor_cast<caf::actor>(tokens),
        caf::actor_cast<caf::actor>(hasher),
        caf::actor_cast<caf::actor>(storage)})
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  return 0;
}

// -- remote
// --------------------------------------------------------------------

using echo_actor
    = caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;

echo_actor::behavior_type echo() {
  return {[](std::string& x) { return std::move(x); }};
}

int serve(uint16_t echo_port, uint16_t token_port) {
  bench_config cfg;
  caf::actor_system sys{cfg};
  auto [storage, tokens] = spawn_token_service(sys);
  auto e = sys.spawn(echo);
  if (!sys.middleman().publish(e, echo_port, "127.0.0.1", true)
      || !sys.middleman().publish(tokens, token_port, "127.0.0.1", true))
    return 1;
  std::cout << "ready" << std::endl;
  // Serves until stdin closes (the parent ends).
  std::string line;
  std::getline(std::cin, line);
  caf::anon_send_exit(tokens, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
  return 0;
}

int bench_remote(const char* self_path, double seconds) {
  uint16_t echo_port = 47901, token_port = 47902;
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0)
    return 1;
  auto pid = fork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    execl(self_path, self_path, "serve", std::to_string(echo_port).c_str(),
          std::to_string(token_port).c_str(), nullptr);
    std::_Exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  char buf[16] = {0};
  if (read(from_child[0], buf, 6) != 6) {
    std::cerr << "bench server did not start\n";
    return 1;
  }
  int rc = 0;
  {
    bench_config cfg;
    caf::actor_system sys{cfg};
    auto e = sys.middleman().remote_actor<echo_actor>("127.0.0.1", echo_port);
    auto t = sys.middleman().remote_actor<token_actor>("127.0.0.1", token_port);
    if (!e || !t) {
      std::cerr << "cannot connect to the bench server\n";
      rc = 1;
    } else {
      auto tok = bench_token();
      // Same payload size both ways: the echo carries the token too.
      auto raw = pipelined<echo_actor, std::string>(sys, *e, seconds, 1, tok);
      auto ours = pipelined<token_actor, claims>(
          sys, *t, seconds, 1, atom::validate_v, bench_ctx, tok);
      report("remote validate round trips (one at a time)", ours, raw, "rt/s");
      auto raw_w
          = in_flight<echo_actor, std::string>(sys, *e, seconds, 50, tok);
      auto ours_w = in_flight<token_actor, claims>(
          sys, *t, seconds, 50, atom::validate_v, bench_ctx, tok);
      report("remote validate (50 in flight)", ours_w, raw_w, "req/s");
    }
  }
  close(to_child[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  std::string mode = argc > 1 ? argv[1] : "all";
  if (mode == "serve" && argc == 4)
    return serve(static_cast<uint16_t>(std::atoi(argv[2])),
                 static_cast<uint16_t>(std::atoi(argv[3])));
  double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  for (int i = 3; i < argc; ++i)
    caf_arguments.emplace_back(argv[i]);
  if (seconds <= 0 || seconds > 60) {
    std::cerr << "seconds must be in (0, 60]\n";
    return 2;
  }
  if (mode == "validate")
    return bench_validate(seconds);
  if (mode == "login")
    return bench_login(seconds);
  if (mode == "remote")
    return bench_remote(argv[0], seconds);
  if (mode == "all")
    return bench_validate(seconds) || bench_login(seconds)
           || bench_remote(argv[0], seconds);
  std::cerr << "usage: herald-bench validate|login|remote|all [seconds]\n";
  return 2;
}
