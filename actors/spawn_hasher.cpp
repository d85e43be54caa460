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

caf::expected<hasher_options> read_hasher(const component_context& ctx) {
  auto s = hasher_section().read(ctx.cfg);
  // OWASP's minimum for argon2id: m=19456 KiB, t=2, p=1.
  auto below = [&](const char* key, const char* minimum) {
    return ctx.cfg.invalid(key, std::string{"is below OWASP's minimum for "
                                            "argon2id ("}
                                    + minimum + "); only dev mode allows it");
  };
  if (!ctx.node.dev_mode && s.memory_kib < 19456)
    return below("hasher.memory-kib", "19456");
  if (!ctx.node.dev_mode && s.iterations < 2)
    return below("hasher.iterations", "2");
  return s;
}

caf::expected<caf::actor> spawn_hasher_component(component_context& ctx) {
  auto s = read_hasher(ctx);
  if (!s)
    return std::move(s.error());
  argon2_params params = *s;
  return caf::actor_cast<caf::actor>(spawn_hasher(ctx.sys, s->workers, params));
}

} // namespace

component hasher_component() {
  component c{"hasher",
              {{"user", "reset"}, {}},
              {},
              options_of(hasher_section()),
              spawn_hasher_component,
              true};
  c.check
      = [](const component_context& ctx) { return error_of(read_hasher(ctx)); };
  return c;
}

} // namespace herald
