// How the benchmarks report: herald against its raw baseline, as a ratio.
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace herald::bench {

inline double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  return xs[static_cast<size_t>(p * static_cast<double>(xs.size() - 1))];
}

/// Prints one figure of herald and the raw baseline, and their ratio.
inline void report(const char* what, double herald_value, double raw_value,
                   const char* unit) {
  std::printf("%-44s herald %12.1f %s   raw %12.1f %s   ratio %.3f\n", what,
              herald_value, unit, raw_value, unit,
              raw_value > 0 ? herald_value / raw_value : 0.0);
  std::fflush(stdout);
}

inline double median(const std::vector<double>& xs) {
  return percentile(xs, 0.5);
}

/// Throughput of herald and raw measured in the same rounds.
struct paired_rates {
  std::vector<double> herald;
  std::vector<double> raw;
};

/// Runs `rounds` rounds of `run_raw` and `run_herald` (each answers a rate),
/// the order alternating between rounds so that neither always runs on the
/// warmer (or more loaded) side.
/// With HERALD_BENCH_ROUNDS set, each round's figures go to stderr.
template <class Raw, class Herald>
paired_rates alternate(size_t rounds, Raw run_raw, Herald run_herald) {
  paired_rates result;
  auto verbose = std::getenv("HERALD_BENCH_ROUNDS") != nullptr;
  for (size_t round = 0; round < rounds; ++round) {
    if (round % 2 == 0) {
      result.raw.push_back(run_raw());
      result.herald.push_back(run_herald());
    } else {
      result.herald.push_back(run_herald());
      result.raw.push_back(run_raw());
    }
    if (verbose)
      std::fprintf(stderr,
                   "  round %zu (%s first): herald %.1f raw %.1f "
                   "ratio %.3f\n",
                   round + 1, round % 2 == 0 ? "raw" : "herald",
                   result.herald.back(), result.raw.back(),
                   result.herald.back() / result.raw.back());
  }
  return result;
}

/// Prints the medians of herald and raw, and the median of the per-round
/// ratios with their range: the machine's load drifts between rounds, a
/// round's two runs are next to each other in time.
inline void report(const char* what, const std::vector<double>& herald_values,
                   const std::vector<double>& raw_values, const char* unit) {
  std::vector<double> ratios;
  for (size_t i = 0; i < herald_values.size() && i < raw_values.size(); ++i)
    if (raw_values[i] > 0)
      ratios.push_back(herald_values[i] / raw_values[i]);
  auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
  std::printf("%-44s herald %12.1f %s   raw %12.1f %s   ratio %.3f"
              " (rounds %.2f-%.2f)\n",
              what, median(herald_values), unit, median(raw_values), unit,
              median(ratios), ratios.empty() ? 0.0 : *lo,
              ratios.empty() ? 0.0 : *hi);
  std::fflush(stdout);
}

/// CPU time of `clock` (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID)
/// in ns.
inline int64_t cpu_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

/// CPU time spent while `f` runs: by this thread, and by all other threads
/// of the process (herald's actors while this thread only waits and polls).
struct cpu_split {
  double this_thread_us = 0;
  double other_threads_us = 0;
};

template <class F>
cpu_split cpu_during(F f) {
  auto p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
  auto t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  f();
  auto t = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
  auto p = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - p0;
  return {static_cast<double>(t) / 1e3, static_cast<double>(p - t) / 1e3};
}

} // namespace herald::bench
