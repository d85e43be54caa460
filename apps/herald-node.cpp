// herald-node: loads its configuration, starts the components of its roles
// in dependency order, publishes the node actor on the cluster port and
// runs until SIGINT or SIGTERM (the node then stops its components in
// reverse order) or until a component fails (then it stops the rest the
// same way and exits with 1, for a process supervisor to restart it).
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <openssl/rand.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "config/node_config.hpp"
#include "messages/error.hpp"
#include "node/capped_multiplexer.hpp"
#include "node/catalogue.hpp"
#include "node/cluster_transport.hpp"
#include "node/cluster_security.hpp"
#include "node/membership.hpp"
#include "node/node.hpp"
#include "node/router.hpp"

extern char** environ;

// jemalloc's options, read at its start (MALLOC_CONF may add to them). Its
// default serves requests of 8 MiB and more from an arena that returns their
// pages at once; argon2id takes hasher.memory-kib (19 MiB) per hash, so every
// login would fault in and zero that memory anew (4x the CPU of a login,
// measured). In the regular arenas it is reused like any other block.
extern "C" {
const char* malloc_conf = "oversize_threshold:0";
}

namespace {

using namespace herald;

int fail(const std::string& what) {
  std::cerr << "herald-node: error: " << what << std::endl;
  return 1;
}

/// A refused setting speaks for itself ("mysql.port (from ...): ..."); any
/// other error keeps its code ("unavailable: ...").
std::string explain(const caf::error& err) {
  if (err == ec::invalid_argument)
    return message_of(err);
  return render(err);
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : sep) + x;
  return out;
}

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  RAND_bytes(raw.data(), static_cast<int>(raw.size()));
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto b : raw) {
    out += hex[b >> 4];
    out += hex[b & 0x0f];
  }
  return out;
}

/// Ends the process after `limit` unless it ended before (a deadline, run
/// in a thread of its own).
void exit_by(caf::timespan limit) {
  std::thread{[limit] {
    std::this_thread::sleep_for(limit);
    std::cerr << "herald-node: error: workers were still busy "
              << std::chrono::duration_cast<std::chrono::seconds>(limit).count()
              << "s after every component stopped; exiting without them"
              << std::endl;
    std::_Exit(1);
  }}.detach();
}

/// Waits until the node actor is down; answers its exit reason. A SIGINT or
/// SIGTERM meanwhile asks it to stop (a second one is ignored: the ordered
/// stop is bounded by stop-timeout per component).
caf::error run_until_down(caf::actor_system& sys, const caf::actor& node,
                          const sigset_t& stop_signals) {
  caf::scoped_actor self{sys};
  self->monitor(node);
  auto waiter = caf::actor{self};
  std::thread signals{[&stop_signals, waiter] {
    int sig = 0;
    if (sigwait(&stop_signals, &sig) == 0)
      caf::anon_send(waiter, atom::tick_v, sig);
  }};
  caf::error reason;
  bool down = false;
  while (!down)
    self->receive(
        [&](caf::down_msg& msg) {
          reason = msg.reason;
          down = true;
        },
        [&](atom::tick, int sig) {
          spdlog::info("received {}, shutting down",
                       sig == SIGINT ? "SIGINT" : "SIGTERM");
          caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
        });
  // The signal thread may still wait: wake it (the signal is blocked in
  // every thread, so only its sigwait takes it).
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  return reason;
}

} // namespace

int main(int argc, char** argv) {
  // Signals are taken by sigwait; every thread spawned later inherits the
  // blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  node_config cfg;
  config::sources src;
  src.args.assign(argv + 1, argv + argc);
  src.environment = config::environment_of(environ);
  src.default_file = "herald.ini";
  src.program = "herald-node";
  auto options = node_options();
  auto loaded = config::load(options, cfg.framework(), src, std::cout);
  if (!loaded)
    return fail("configuration: " + explain(loaded.error()));
  if (loaded->printed)
    return 0;
  auto& values = loaded->values;
  auto settings = read_node_settings(values);
  if (!settings)
    return fail("configuration: " + explain(settings.error()));
  auto& s = *settings;
  spdlog::set_default_logger(spdlog::stderr_color_mt("herald"));
  spdlog::set_level(spdlog::level::from_str(s.log_level));
  if (!loaded->unknown_variables.empty())
    spdlog::warn("ignoring environment variables that name no option: {} "
                 "(herald-node --help lists the options)",
                 join(loaded->unknown_variables, ", "));
  auto cluster = cluster_section().read(values);
  // Who may reach the cluster port: mutual TLS with all of certificate, key
  // and CA, or plaintext on loopback (node/cluster_security.hpp).
  auto tls_files = tls_files_of(cfg);
  auto tls = tls_configured(tls_files);
  if (!tls)
    return fail("configuration: " + explain(tls.error()));
  if (auto err = check_cluster_exposure(cluster.host, *tls,
                                        cluster.allow_plaintext, s.dev_mode))
    return fail("configuration: " + explain(err));
  if (*tls) {
    auto warnings = check_tls_files(tls_files, tls_role::node,
                                    std::time(nullptr));
    if (!warnings)
      return fail("configuration: " + explain(warnings.error()));
    for (auto& w : *warnings)
      spdlog::warn("{}", w);
  }
  set_max_message_size(cfg, cluster.max_message_size);
  capped_multiplexer::set_reporter(
      [](const std::string& line) { spdlog::warn("{}", line); });
  auto steps = plan(catalogue(), s.roles);
  if (!steps)
    return fail(
        "configuration: "
        + explain(values.invalid("herald.roles", message_of(steps.error()))));
  node_status info;
  info.name = s.node_name;
  info.version = HERALD_VERSION;
  info.roles = s.roles;
  info.started_at = static_cast<int64_t>(std::time(nullptr));
  info.instance = random_hex(8);
  info.cluster_endpoint = cluster.host + ":" + std::to_string(cluster.port);
  caf::actor_system sys{cfg};
  component_context ctx{sys, values, s, {}, nullptr, {}};
  // The cluster: a router per service (this node's callers reach a service
  // here or on a live member through it) and the membership that tells the
  // routers where services run. Both before any component: the user and
  // reset services tell every token cache of the cluster about revocations
  // through the token router.
  auto routes = spawn_routers(
      sys, std::chrono::duration_cast<caf::timespan>(cluster.request_timeout));
  for (auto& r : routes.all())
    ctx.routed.emplace(r.first, r.second);
  membership_settings mcfg;
  mcfg.seeds = cluster.seeds;
  mcfg.request_timeout
      = std::chrono::duration_cast<caf::timespan>(cluster.request_timeout);
  mcfg.retry_max = std::chrono::duration_cast<caf::timespan>(cluster.retry_max);
  auto members = sys.spawn(membership, mcfg, cluster_transport(sys),
                           routes.all());
  auto stop_cluster = [&] {
    caf::anon_send_exit(members, caf::exit_reason::user_shutdown);
    for (auto& r : routes.all())
      caf::anon_send_exit(r.second, caf::exit_reason::user_shutdown);
  };
  // Every setting of every component first: a bad one is reported as such,
  // before anything starts (and before storage waits for a database).
  for (auto c : *steps)
    if (c->check)
      if (auto err = c->check(ctx))
        return fail(c->name + ": " + explain(err));
  std::vector<registered_component> started;
  caf::error start_error;
  std::string start_error_in;
  for (auto c : *steps) {
    auto handle = c->spawn(ctx);
    if (!handle) {
      start_error = std::move(handle.error());
      start_error_in = c->name;
      break;
    }
    ctx.running.emplace(c->name, *handle);
    // This node's own instance: its router takes it first.
    if (auto r = ctx.routed.find(c->name); r != ctx.routed.end())
      caf::anon_send(r->second, atom::join_v, std::string{}, *handle);
    started.push_back({c->name, *handle, {c->name, "running", 0, 0}, c->pool});
  }
  auto node = caf::actor_cast<caf::actor>(
      sys.spawn(herald::node, info, std::move(started), s.stop_timeout,
                members));
  if (start_error) {
    // Stops what did start, in order, before reporting.
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    run_until_down(sys, node, stop_signals);
    stop_cluster();
    return fail(start_error_in + ": " + explain(start_error));
  }
  // The gateway asks the node for readiness and metrics.
  if (auto i = ctx.running.find("gateway"); i != ctx.running.end())
    caf::anon_send(i->second, caf::actor_cast<node_actor>(node));
  // With TLS, caf::openssl::publish: a plain publish would stay plaintext
  // even with certificates configured.
  auto port = *tls ? caf::openssl::publish(caf::actor_cast<node_actor>(node),
                                           cluster.port, cluster.host.c_str(),
                                           true)
                   : sys.middleman().publish(caf::actor_cast<node_actor>(node),
                                             cluster.port, cluster.host.c_str(),
                                             true);
  if (!port) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    run_until_down(sys, node, stop_signals);
    stop_cluster();
    return fail("cannot publish on " + cluster.host + ":"
                + std::to_string(cluster.port) + ": " + render(port.error()));
  }
  std::vector<std::string> names;
  std::vector<std::string> local_services;
  for (auto c : *steps) {
    names.push_back(c->name);
    if (ctx.routed.count(c->name) > 0)
      local_services.push_back(c->name);
  }
  // Published: peers may dial this node now, and it dials its seeds.
  member_info me{s.node_name, cluster.host + ":" + std::to_string(*port),
                 s.roles, info.instance, info.started_at};
  caf::anon_send(members, atom::start_v, std::move(me),
                 std::move(local_services));
  std::cout << "herald-node " << s.node_name << " (v" << HERALD_VERSION
            << ", instance " << info.instance << ") is up\n"
            << "  roles:      " << join(s.roles, ", ") << "\n"
            << "  components: " << join(names, ", ") << "\n"
            << "  cluster:    " << cluster.host << ":" << *port
            << "  (heraldctl --node " << cluster.host << ":" << *port
            << (*tls ? " --tls-certificate ... status)  [mutual TLS]\n"
                     : " status)  [plaintext]\n");
  if (s.dev_mode)
    std::cout << "  DEV MODE: development secrets are allowed; never run "
                 "like this in production\n";
  std::cout << std::flush;
  auto reason = run_until_down(sys, node, stop_signals);
  stop_cluster();
  // Every component is down; a detached worker may still be blocked in I/O
  // (a database that stalls) with requests queued whose callers were told
  // `unavailable` already. The actor system waits for such workers when it
  // goes; the process does not wait past this deadline.
  exit_by(stop_budget(s.stop_timeout));
  if (reason && reason != caf::exit_reason::user_shutdown)
    return fail(render(reason));
  spdlog::info("stopped");
  return 0;
}
