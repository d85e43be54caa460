// The hasher component: [hasher], argon2id workers behind a pool.
#include "actors/hasher.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

/// [hasher] as configured: argon2id's costs and the number of workers.
struct hasher_options : argon2_params {
  size_t workers = 2;
};

const config::section<hasher_options>& hasher_section() {
  static const auto s
      = config::section<hasher_options>{"hasher"}
            .add(&hasher_options::workers, "workers",
                 "detached argon2id workers (threads)")
            .range(1, 256)
            .add(&hasher_options::memory_kib, "memory-kib",
                 "argon2id memory cost in KiB (OWASP minimum 19456)")
            .range(8, 4 * 1024 * 1024)
            .add(&hasher_options::iterations, "iterations",
                 "argon2id time cost (OWASP minimum 2)")
            .range(1, 100)
            .add(&hasher_options::parallelism, "parallelism", "argon2id lanes")
            .range(1, 64);
  return s;
}

caf::expected<caf::actor> spawn_hasher_component(component_context& ctx) {
  auto s = hasher_section().read(ctx.cfg);
  if (!ctx.node.dev_mode
      && (s.memory_kib < 19456 || s.iterations < 2 || s.parallelism < 1))
    return ctx.cfg.invalid("hasher.memory-kib",
                           "argon2id parameters below OWASP's minimum "
                           "(memory-kib 19456, iterations 2, parallelism 1) "
                           "need dev mode");
  argon2_params params = s;
  return caf::actor_cast<caf::actor>(spawn_hasher(ctx.sys, s.workers, params));
}

} // namespace

component hasher_component() {
  return {"hasher",
          {{"user", "reset"}, {}},
          {},
          options_of(hasher_section()),
          spawn_hasher_component,
          true};
}

} // namespace herald
