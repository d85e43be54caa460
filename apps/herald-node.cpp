// herald-node: reads its configuration, applies migrations, spawns the
// services of its roles, publishes the node actor on the cluster port and
// runs until SIGINT or SIGTERM, then shuts down in order.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <openssl/rand.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/event_bus.hpp"
#include "actors/hasher.hpp"
#include "actors/jwt.hpp"
#include "actors/mailer.hpp"
#include "actors/node.hpp"
#include "actors/outbox_relay.hpp"
#include "actors/password_reset.hpp"
#include "actors/token.hpp"
#include "actors/user.hpp"
#include "bridges/amqp/bridge.hpp"
#include "bridges/smtp/smtp.hpp"
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

/// Whether mail for `topic` comes back from the broker to the mailer (an
/// outbound route sends it out and an inbound route for the mailer binds
/// it): then the mailer must not also take it from the local bus.
bool mailed_via_broker(const herald::amqp::amqp_settings& cfg,
                       const std::string& topic) {
  using herald::amqp::topic_matches;
  auto out
      = std::any_of(cfg.outbound.begin(), cfg.outbound.end(), [&](auto& r) {
          return std::any_of(r.topics.begin(), r.topics.end(),
                             [&](auto& p) { return topic_matches(p, topic); });
        });
  auto in = std::any_of(cfg.inbound.begin(), cfg.inbound.end(), [&](auto& r) {
    return r.handler == "mailer"
           && std::any_of(r.bindings.begin(), r.bindings.end(),
                          [&](auto& b) { return topic_matches(b, topic); });
  });
  return out && in;
}

/// Subscribes `handler` to `topics` on the bus; the first error, if any.
caf::error subscribe(caf::actor_system& sys, const herald::event_bus_actor& bus,
                     const std::vector<std::string>& topics,
                     const herald::event_handler_actor& handler) {
  caf::scoped_actor self{sys};
  caf::error result;
  for (auto& topic : topics)
    self->request(bus, std::chrono::seconds(5), herald::atom::subscribe_v,
                  topic, handler)
        .receive([](caf::ok_atom) {},
                 [&](caf::error& err) {
                   if (!result)
                     result = err;
                 });
  return result;
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
  smtp_settings smtp_cfg;
  mailer_settings mail_cfg;
  if (has_role(s, "mailer")) {
    smtp_cfg.url = s.smtp_url;
    smtp_cfg.starttls = s.smtp_starttls;
    smtp_cfg.username = s.smtp_username;
    smtp_cfg.password = s.smtp_password;
    smtp_cfg.from = s.smtp_from;
    smtp_cfg.timeout = s.smtp_timeout;
    smtp_cfg.ca_file = s.smtp_ca_file;
    smtp_cfg.workers = s.smtp_workers;
    if (auto err = check_settings(smtp_cfg))
      return fail("smtp: " + render(err));
    auto templates = load_templates(s.mail_templates);
    if (!templates)
      return fail("mail.templates: " + render(templates.error()));
    mail_cfg.templates = std::move(*templates);
    mail_cfg.public_base_url = s.public_base_url;
    mail_cfg.app_name = s.app_name;
  }
  s.mysql.event_source = s.node_name;
  caf::actor_system sys{cfg};
  // Everything spawned, in order; shutdown stops it in reverse: the front
  // first (no new requests), storage last.
  std::vector<caf::actor> started;
  auto track = [&](auto handle) {
    started.push_back(caf::actor_cast<caf::actor>(handle));
    return handle;
  };
  auto shutdown = [&] {
    for (auto i = started.rbegin(); i != started.rend(); ++i)
      caf::anon_send_exit(*i, caf::exit_reason::user_shutdown);
  };
  auto store = track(storage::spawn_mysql_storage(sys, s.mysql));
  hasher_actor hasher;
  event_bus_actor bus;
  smtp_actor smtp;
  event_handler_actor mail;
  node_services services;
  if (has_role(s, "token"))
    services.tokens = track(sys.spawn(token, tokens_cfg, store));
  if (has_role(s, "user") || has_role(s, "reset"))
    hasher = track(spawn_hasher(sys, s.hasher_workers, s.argon2));
  // A node that delivers events (to its mailer, to the broker) runs the bus
  // and the outbox relay.
  bool delivers = has_role(s, "mailer") || has_role(s, "bridge");
  if (delivers)
    bus = track(sys.spawn(event_bus, s.outbox.delivery_timeout));
  if (has_role(s, "mailer")) {
    smtp = track(spawn_smtp(sys, smtp_cfg));
    mail = track(sys.spawn(mailer, mail_cfg, store, smtp));
    std::vector<std::string> topics;
    for (auto topic :
         {topic_user_created, topic_reset_requested, topic_password_changed})
      if (!has_role(s, "bridge") || !mailed_via_broker(s.amqp, topic))
        topics.emplace_back(topic);
    if (auto err = subscribe(sys, bus, topics, mail)) {
      shutdown();
      return fail("subscribing the mailer: " + render(err));
    }
  }
  if (has_role(s, "bridge")) {
    std::map<std::string, event_handler_actor> handlers;
    if (mail)
      handlers.emplace("mailer", mail);
    auto bridge = amqp::spawn_amqp_bridge(sys, s.amqp, bus, handlers);
    if (!bridge) {
      shutdown();
      return fail("amqp: " + render(bridge.error()));
    }
    services.bridge = track(std::move(*bridge));
  }
  if (delivers)
    services.relay = track(sys.spawn(outbox_relay, s.outbox, store, bus));
  if (has_role(s, "user")) {
    user_settings us;
    us.passwords = s.passwords;
    us.dummy_hash = std::move(*dummy);
    services.users = track(sys.spawn(user_service, us, store, hasher,
                                     services.tokens, services.relay));
  }
  if (has_role(s, "reset")) {
    reset_settings rs;
    rs.ttl = s.reset_ttl;
    rs.max_per_hour = s.reset_max_per_hour;
    rs.passwords = s.passwords;
    services.resets = track(sys.spawn(password_reset, rs, store, hasher,
                                      services.tokens, services.relay));
  }
  node_status info;
  info.name = s.node_name;
  info.version = HERALD_VERSION;
  info.roles = s.roles;
  info.cluster_endpoint = s.cluster_host + ":" + std::to_string(s.cluster_port);
  info.storage = storage::describe(s.mysql);
  info.started_at = static_cast<int64_t>(std::time(nullptr));
  auto receptionist = track(sys.spawn(node, info, store, services));
  auto port = sys.middleman().publish(receptionist, s.cluster_port,
                                      s.cluster_host.c_str(), true);
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
  if (has_role(s, "mailer"))
    std::cout << "  mail:    " << s.smtp_url << " from " << s.smtp_from
              << ", links " << s.public_base_url << "/reset-password\n";
  if (has_role(s, "bridge"))
    std::cout << "  amqp:    " << amqp::describe_broker(s.amqp.url) << ", "
              << s.amqp.outbound.size() << " outbound and "
              << s.amqp.inbound.size() << " inbound routes\n";
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
