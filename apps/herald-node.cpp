// herald-node: reads its configuration, applies migrations, spawns the
// services of its roles, publishes the node actor on the cluster port and
// runs until SIGINT or SIGTERM, then shuts down in order.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <openssl/rand.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/hasher.hpp"
#include "actors/jwt.hpp"
#include "actors/node.hpp"
#include "actors/token.hpp"
#include "actors/user.hpp"
#include "config/settings.hpp"
#include "messages/error.hpp"
#include "storage/migrations.hpp"
#include "storage/mysql_storage.hpp"

extern char** environ;

namespace {

int fail(const std::string& what) {
  std::cerr << "herald-node: error: " << what << std::endl;
  return 1;
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : sep) + x;
  return out;
}

bool has_role(const herald::node_settings& s, const char* role) {
  return std::find(s.roles.begin(), s.roles.end(), role) != s.roles.end();
}

/// A database that is still starting gets a few seconds; a wrong password or
/// a broken migration fails at once.
caf::error migrate_with_retry(const herald::storage::mysql_settings& db) {
  caf::error err;
  for (int attempt = 1; attempt <= 15; ++attempt) {
    err = herald::storage::migrate(db);
    if (!err || err != herald::ec::unavailable)
      return err;
    spdlog::warn("database not reachable yet ({}), retrying",
                 herald::render(err));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return err;
}

} // namespace

int main(int argc, char** argv) {
  using namespace herald;
  // Signals are taken by sigwait in main; every thread spawned later
  // inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  node_config cfg;
  if (auto err = parse_layered(cfg, argc, argv, environ, "herald.ini"))
    return fail("bad configuration: " + render(err));
  if (cfg.cli_helptext_printed)
    return 0;
  auto settings = read_settings(cfg);
  if (!settings)
    return fail(render(settings.error()));
  auto& s = *settings;
  spdlog::set_default_logger(spdlog::stderr_color_mt("herald"));
  spdlog::set_level(spdlog::level::from_str(s.log_level));
  token_settings tokens_cfg;
  if (auto ring = jwt::parse_key_ring(s.token_keys))
    tokens_cfg.keys = std::move(*ring);
  else
    return fail("token.keys: " + render(ring.error()));
  tokens_cfg.policy.issuer = s.token_issuer;
  tokens_cfg.policy.audience = s.token_audience;
  tokens_cfg.policy.ttl = s.token_ttl;
  tokens_cfg.policy.leeway = s.token_leeway;
  tokens_cfg.version_cache_ttl = s.version_cache_ttl;
  if (auto err = check(tokens_cfg))
    return fail("token: " + render(err));
  if (auto err = migrate_with_retry(s.mysql))
    return fail("migrations on " + storage::describe(s.mysql) + ": "
                + render(err));
  // Logins for unknown emails verify against this, at the same cost.
  unsigned char noise[32];
  RAND_bytes(noise, sizeof(noise));
  auto dummy = hash_password(
      std::string(reinterpret_cast<char*>(noise), sizeof(noise)), s.argon2);
  if (!dummy)
    return fail(render(dummy.error()));
  caf::actor_system sys{cfg};
  auto store = storage::spawn_mysql_storage(sys, s.mysql);
  hasher_actor hasher;
  token_actor tokens;
  user_actor users;
  if (has_role(s, "token"))
    tokens = sys.spawn(token, tokens_cfg, store);
  if (has_role(s, "user")) {
    hasher = spawn_hasher(sys, s.hasher_workers, s.argon2);
    user_settings us;
    us.passwords = s.passwords;
    us.dummy_hash = std::move(*dummy);
    users = sys.spawn(user_service, us, store, hasher, tokens);
  }
  node_status info;
  info.name = s.node_name;
  info.version = HERALD_VERSION;
  info.roles = s.roles;
  info.cluster_endpoint = s.cluster_host + ":" + std::to_string(s.cluster_port);
  info.storage = storage::describe(s.mysql);
  info.started_at = static_cast<int64_t>(std::time(nullptr));
  auto receptionist = sys.spawn(node, info, store, users, tokens);
  auto port = sys.middleman().publish(receptionist, s.cluster_port,
                                      s.cluster_host.c_str(), true);
  auto shutdown = [&] {
    for (auto& handle : {caf::actor_cast<caf::actor>(receptionist),
                         caf::actor_cast<caf::actor>(users),
                         caf::actor_cast<caf::actor>(tokens),
                         caf::actor_cast<caf::actor>(hasher),
                         caf::actor_cast<caf::actor>(store)})
      if (handle)
        caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  };
  if (!port) {
    shutdown();
    return fail("cannot publish on " + info.cluster_endpoint + ": "
                + render(port.error()));
  }
  std::cout << "herald-node " << s.node_name << " (v" << HERALD_VERSION
            << ") is up\n"
            << "  roles:   " << join(s.roles, ", ") << "\n"
            << "  cluster: " << s.cluster_host << ":" << *port
            << "  (heraldctl --node " << s.cluster_host << ":" << *port
            << " status)\n"
            << "  storage: " << info.storage
            << " (migrations: " << storage::migrations().size() << ")\n"
            << "  tokens:  iss=" << s.token_issuer
            << " aud=" << s.token_audience << " ttl=" << s.token_ttl.count()
            << "s keys="
            << join(
                   [&] {
                     std::vector<std::string> ids;
                     for (auto& k : tokens_cfg.keys.keys)
                       ids.push_back(k.id);
                     return ids;
                   }(),
                   ",")
            << "\n"
            << "  hasher:  argon2id m=" << s.argon2.memory_kib
            << " t=" << s.argon2.iterations << " p=" << s.argon2.parallelism
            << ", " << s.hasher_workers << " workers\n";
  if (s.dev_mode)
    std::cout << "  DEV MODE: development secrets are allowed; never run "
                 "like this in production\n";
  std::cout << std::flush;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, shutting down",
               sig == SIGINT ? "SIGINT" : "SIGTERM");
  sys.middleman().unpublish(receptionist, *port);
  shutdown();
  return 0;
}
