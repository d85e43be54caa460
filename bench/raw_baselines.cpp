// herald-raw-baselines: the raw baselines of bench/http_bench.py that are not
// HTTP, each on N plain threads for a given time.
//
//   herald-raw-baselines select <seconds> <threads> <host> <port> <user>
//                        <database> <id>
//       each thread with its own MariaDB connection runs the point select of
//       GET /v1/users/me (a prepared statement, as herald's storage does)
//       for user <id>; the password comes from MYSQL_PWD.
//   herald-raw-baselines verify <seconds> <threads> [memory_kib iterations
//                        parallelism]
//       each thread checks a password against an argon2id hash with herald's
//       own verify_password (actors/hasher.hpp), as a login does; default
//       parameters are herald's (OWASP's minimum).
//
// Prints one line: "<mode> threads=N rate=<per second> p50_us=.. p99_us=..
// cpu_us_per_op=..", the last the process's CPU time per operation.
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <mysql.h>

#include "actors/hasher.hpp"

using clock_type = std::chrono::steady_clock;

namespace {

struct result {
  size_t done = 0;
  std::vector<double> latencies_us;
};

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  return xs[static_cast<size_t>(p * static_cast<double>(xs.size() - 1))];
}

/// Runs `make_op()` once per thread (setup, untimed), then the op it answers
/// in a loop on every thread until `seconds` passed; prints the rate and
/// latency percentiles.
template <class MakeOp>
int run(const char* mode, double seconds, int threads, MakeOp make_op) {
  std::vector<result> results(static_cast<size_t>(threads));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  clock_type::time_point start;
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&, i] {
      auto op = make_op();
      ++ready;
      while (!go)
        std::this_thread::yield();
      auto& r = results[static_cast<size_t>(i)];
      auto until = start + std::chrono::duration<double>(seconds);
      for (;;) {
        auto t0 = clock_type::now();
        if (t0 >= until)
          break;
        if (!op()) {
          failed = true;
          return;
        }
        ++r.done;
        r.latencies_us.push_back(
            std::chrono::duration<double, std::micro>(clock_type::now() - t0)
                .count());
      }
    });
  while (ready < threads)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  timespec cpu0{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
  start = clock_type::now();
  go = true;
  for (auto& t : pool)
    t.join();
  auto took = std::chrono::duration<double>(clock_type::now() - start).count();
  timespec cpu1{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
  auto cpu_us = static_cast<double>(cpu1.tv_sec - cpu0.tv_sec) * 1e6
                + static_cast<double>(cpu1.tv_nsec - cpu0.tv_nsec) / 1e3;
  if (failed) {
    std::fprintf(stderr, "%s: an operation failed\n", mode);
    return 1;
  }
  size_t done = 0;
  std::vector<double> all;
  for (auto& r : results) {
    done += r.done;
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
  }
  std::printf("%s threads=%d rate=%.1f p50_us=%.0f p99_us=%.0f "
              "cpu_us_per_op=%.1f\n",
              mode, threads, static_cast<double>(done) / took,
              percentile(all, 0.5), percentile(all, 0.99),
              done > 0 ? cpu_us / static_cast<double>(done) : 0.0);
  return 0;
}

/// One connection and the prepared point select, with its result bound.
class point_select {
public:
  point_select(const char* host, unsigned port, const char* user,
               const char* db, uint64_t id)
      : id_(id) {
    conn_ = mysql_init(nullptr);
    auto pwd = std::getenv("MYSQL_PWD");
    if (!mysql_real_connect(conn_, host, user, pwd ? pwd : "", db, port,
                            nullptr, 0))
      die(mysql_error(conn_));
    stmt_ = mysql_stmt_init(conn_);
    static const char sql[]
        = "SELECT id,name,email,role,token_version,created_at,updated_at "
          "FROM users WHERE id=?";
    if (mysql_stmt_prepare(stmt_, sql, sizeof(sql) - 1) != 0)
      die(mysql_stmt_error(stmt_));
    bind();
  }

  point_select(const point_select&) = delete;
  // Never moved (the binds point into the object): C++17 elides the copy
  // out of the factory lambda.
  point_select(point_select&&) = delete;

  ~point_select() {
    if (stmt_)
      mysql_stmt_close(stmt_);
    if (conn_)
      mysql_close(conn_);
  }

  bool operator()() {
    if (mysql_stmt_execute(stmt_) != 0)
      return false;
    auto rc = mysql_stmt_fetch(stmt_);
    if (rc != 0 && rc != MYSQL_DATA_TRUNCATED)
      return false;
    while (mysql_stmt_fetch(stmt_) == 0) {
    }
    mysql_stmt_free_result(stmt_);
    return static_cast<uint64_t>(ints_[0]) == id_;
  }

private:
  [[noreturn]] static void die(const char* what) {
    std::fprintf(stderr, "select: %s\n", what);
    std::exit(1);
  }

  void bind() {
    std::memset(&param_, 0, sizeof(param_));
    param_.buffer_type = MYSQL_TYPE_LONGLONG;
    param_.buffer = &id_;
    param_.is_unsigned = true;
    if (mysql_stmt_bind_param(stmt_, &param_) != 0)
      die(mysql_stmt_error(stmt_));
    std::memset(out_, 0, sizeof(out_));
    for (size_t i = 0; i < 7; ++i) {
      bool text = i >= 1 && i <= 3;
      out_[i].buffer_type = text ? MYSQL_TYPE_STRING : MYSQL_TYPE_LONGLONG;
      out_[i].buffer = text ? static_cast<void*>(texts_[i])
                            : static_cast<void*>(&ints_[i]);
      out_[i].buffer_length = text ? sizeof(texts_[i]) : sizeof(ints_[i]);
      out_[i].length = &lengths_[i];
      out_[i].is_null = &nulls_[i];
    }
    if (mysql_stmt_bind_result(stmt_, out_) != 0)
      die(mysql_stmt_error(stmt_));
  }

  MYSQL* conn_ = nullptr;
  MYSQL_STMT* stmt_ = nullptr;
  uint64_t id_;
  MYSQL_BIND param_;
  MYSQL_BIND out_[7];
  long long ints_[7] = {};
  char texts_[7][512] = {};
  unsigned long lengths_[7] = {};
  my_bool nulls_[7] = {};
};

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "select" && argc == 9) {
    double seconds = std::atof(argv[2]);
    int threads = std::atoi(argv[3]);
    mysql_library_init(0, nullptr, nullptr);
    auto rc = run("select", seconds, threads, [&] {
      mysql_thread_init();
      return point_select{argv[4], static_cast<unsigned>(std::atoi(argv[5])),
                          argv[6], argv[7],
                          std::strtoull(argv[8], nullptr, 10)};
    });
    return rc;
  }
  if (mode == "verify" && (argc == 4 || argc == 7)) {
    double seconds = std::atof(argv[2]);
    int threads = std::atoi(argv[3]);
    herald::argon2_params params;
    if (argc == 7) {
      params.memory_kib = static_cast<uint32_t>(std::atoi(argv[4]));
      params.iterations = static_cast<uint32_t>(std::atoi(argv[5]));
      params.parallelism = static_cast<uint32_t>(std::atoi(argv[6]));
    }
    const std::string password = "raw verify bench password, not a secret";
    auto hash = herald::hash_password(password, params);
    if (!hash) {
      std::fprintf(stderr, "verify: hashing failed\n");
      return 1;
    }
    return run("verify", seconds, threads, [&] {
      return [&] {
        auto check = herald::verify_password(password, *hash, params);
        return check.valid;
      };
    });
  }
  std::fprintf(stderr, "usage: herald-raw-baselines select <seconds> <threads> "
                       "<host> <port> <user> <database> <id>\n"
                       "       herald-raw-baselines verify <seconds> <threads> "
                       "[memory_kib iterations parallelism]\n");
  return 2;
}
