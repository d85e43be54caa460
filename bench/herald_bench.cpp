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
//   herald-bench remote [seconds]     remote validate round trips through
//                                     the token router, one at a time and 50
//                                     in flight, plaintext and mutual TLS,
//                                     vs a raw CAF remote echo over the same
//                                     transport (server: a child process of
//                                     this binary; seconds per row)
//
// Storage is the in-memory fake so that only herald's own work is measured.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <argon2.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
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
#include "node/router.hpp"
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
//
// Two processes: this one (the calling node) and a child of this binary
// (the serving node). The child publishes one actor on one port: it echoes
// a string (the raw CAF baseline) and hands out its token service. One
// published actor, so that both figures share one connection: with TLS a
// second connection between the same two processes breaks the first in
// caf_openssl 0.17.6 (see README, "Cluster security").
//
// herald: a validate through this node's token router (node/router.hpp),
// which holds the peer's token service as a remote instance, joined the way
// membership joins it (`join`, member key, handle), to the token service on
// the other node and back. raw: a string of the token's size echoed by a
// CAF actor on the other node, over the same connection.

/// Where scripts/cluster-ca is (HERALD_CLUSTER_CA overrides).
std::string cluster_ca_script() {
  if (auto env = std::getenv("HERALD_CLUSTER_CA"))
    return env;
  return std::string{HERALD_SOURCE_DIR} + "/scripts/cluster-ca";
}

/// The serving node's config: TLS when `certs` is a directory made by
/// scripts/cluster-ca (node-b's certificate), plaintext when empty.
struct remote_config : bench_config {
  remote_config(const std::string& certs, const std::string& name) {
    if (certs.empty())
      return;
    load<caf::openssl::manager>();
    set("openssl.certificate", certs + "/" + name + ".pem");
    set("openssl.key", certs + "/" + name + ".key");
    set("openssl.cafile", certs + "/ca.pem");
  }
};

caf::behavior bench_front(caf::event_based_actor*, token_actor tokens) {
  return {
    [](std::string& x) { return std::move(x); },
    [tokens](caf::get_atom) { return caf::actor_cast<caf::actor>(tokens); },
  };
}

/// `herald-bench serve [CERTDIR]`: prints "ready PORT" and serves until its
/// stdin closes.
int serve(const std::string& certs) {
  remote_config cfg{certs, "node-b"};
  caf::actor_system sys{cfg};
  auto [storage, tokens] = spawn_token_service(sys);
  auto front = sys.spawn(bench_front, tokens);
  auto port = certs.empty()
                  ? sys.middleman().publish(front, 0, "127.0.0.1", true)
                  : caf::openssl::publish(front, 0, "127.0.0.1", true);
  if (!port) {
    std::cerr << "serve: cannot publish: " << to_string(port.error()) << "\n";
    return 1;
  }
  std::cout << "ready " << *port << std::endl;
  std::string line;
  std::getline(std::cin, line);
  caf::anon_send_exit(front, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(tokens, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  return 0;
}

/// The serving child: its pid, the pipe that keeps it alive, its port.
struct server_child {
  pid_t pid = -1;
  int to_child = -1;
  uint16_t port = 0;

  ~server_child() {
    if (to_child >= 0)
      close(to_child);
    if (pid > 0) {
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

bool start_server(const char* self_path, const std::string& certs,
                  server_child& child) {
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0 || pipe(from_child) != 0)
    return false;
  auto pid = fork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    if (certs.empty())
      execl(self_path, self_path, "serve", nullptr);
    else
      execl(self_path, self_path, "serve", certs.c_str(), nullptr);
    std::_Exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  child.pid = pid;
  child.to_child = to_child[1];
  std::string line;
  char c = 0;
  while (line.size() < 64 && read(from_child[0], &c, 1) == 1 && c != '\n')
    line += c;
  close(from_child[0]);
  if (line.rfind("ready ", 0) != 0)
    return false;
  child.port = static_cast<uint16_t>(std::atoi(line.c_str() + 6));
  return child.port != 0;
}

/// The four rows of one transport (plaintext when `certs` is empty).
int bench_remote_on(const char* self_path, const std::string& certs,
                    double seconds) {
  auto tls = !certs.empty();
  server_child child;
  if (!start_server(self_path, certs, child)) {
    std::cerr << "bench server did not start\n";
    return 1;
  }
  remote_config cfg{certs, "node-a"};
  caf::actor_system sys{cfg};
  auto front = tls ? caf::openssl::remote_actor<caf::actor>(sys, "127.0.0.1",
                                                            child.port)
                   : sys.middleman().remote_actor("127.0.0.1", child.port);
  if (!front) {
    std::cerr << "cannot connect to the bench server: "
              << to_string(front.error()) << "\n";
    return 1;
  }
  caf::actor peer_tokens;
  {
    caf::scoped_actor self{sys};
    self->request(*front, std::chrono::seconds(10), caf::get_atom_v)
        .receive([&](caf::actor& h) { peer_tokens = std::move(h); },
                 [](caf::error& err) {
                   std::cerr << "no token service: " << render(err) << "\n";
                 });
  }
  if (!peer_tokens)
    return 1;
  // The node's default cluster.request-timeout.
  auto router = sys.spawn(token_router, caf::timespan{std::chrono::seconds(5)});
  caf::anon_send(router, atom::join_v, std::string{"127.0.0.1:bench/peer"},
                 peer_tokens);
  auto tok = bench_token();
  // Warm up both paths (and make sure the router has its instance).
  in_flight<caf::actor, std::string>(sys, *front, 0.2, 1, tok);
  in_flight<token_router_actor, claims>(sys, router, 0.2, 1, atom::validate_v,
                                        bench_ctx, tok);
  auto run = seconds / static_cast<double>(validate_rounds);
  const char* t = tls ? "TLS" : "plain";
  char label[80];
  auto one = alternate(
      validate_rounds,
      [&] { return in_flight<caf::actor, std::string>(sys, *front, run, 1, tok); },
      [&] {
        return in_flight<token_router_actor, claims>(
            sys, router, run, 1, atom::validate_v, bench_ctx, tok);
      });
  std::snprintf(label, sizeof(label), "remote validate, one at a time, %s", t);
  report(label, one.herald, one.raw, "rt/s");
  auto many = alternate(
      validate_rounds,
      [&] {
        return in_flight<caf::actor, std::string>(sys, *front, run, 50, tok);
      },
      [&] {
        return in_flight<token_router_actor, claims>(
            sys, router, run, 50, atom::validate_v, bench_ctx, tok);
      });
  std::snprintf(label, sizeof(label), "remote validate, 50 in flight, %s", t);
  report(label, many.herald, many.raw, "req/s");
  caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  return 0;
}

/// Remote validate round trips, plaintext and TLS, each against a raw CAF
/// remote request/response between the same two processes.
int bench_remote(const char* self_path, double seconds) {
  std::printf(
      "remote: medians of %zu alternating rounds of %.2f s each; herald = "
      "validate through this node's token router to the token service of a "
      "second process (a remote instance joined to the router as membership "
      "joins it; the handle comes from the peer's published actor, not from "
      "membership's dial), raw = a CAF actor on the second process echoing "
      "a string of the token's size, same connection; TLS = caf_openssl "
      "mutual TLS, certificates of a throw-away scripts/cluster-ca CA\n",
      validate_rounds, seconds / static_cast<double>(validate_rounds));
  std::fflush(stdout);
  if (auto rc = bench_remote_on(self_path, "", seconds))
    return rc;
  char dir_template[] = "/tmp/herald-bench-ca.XXXXXX";
  auto dir = mkdtemp(dir_template);
  if (dir == nullptr)
    return 1;
  auto cmd = cluster_ca_script() + " init " + dir
             + " node-a node-b > /dev/null";
  auto rc = std::system(cmd.c_str());
  if (rc == 0)
    rc = bench_remote_on(self_path, dir, seconds);
  else
    std::cerr << "scripts/cluster-ca failed: " << cmd << "\n";
  std::filesystem::remove_all(dir);
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  std::string mode = argc > 1 ? argv[1] : "all";
  if (mode == "serve" && argc <= 3)
    return serve(argc == 3 ? argv[2] : "");
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
