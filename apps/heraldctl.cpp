// heraldctl: manages a herald node over CAF's middleman, through the node's
// typed interfaces. Human-readable output by default, --json for scripts.
// Exit codes: 0 success, 1 the node refused the request, 2 bad usage,
// 3 node unreachable, gone or not answering (the message says whether a
// change may have happened).
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/context.hpp"
#include "messages/error.hpp"
#include "messages/json.hpp"
#include "messages/node_actor.hpp"
#include "messages/type_ids.hpp"
#include "node/capped_multiplexer.hpp"
#include "node/cluster_security.hpp"

using namespace herald;
using json = nlohmann::json;

namespace {

constexpr int exit_refused = 1;
constexpr int exit_usage = 2;
constexpr int exit_unreachable = 3;

struct options {
  std::string node = "127.0.0.1:4710";
  bool as_json = false;
  /// Longer than the longest a node takes inside (hasher and storage get
  /// 30 s each).
  unsigned timeout_s = 75;
  /// Sent with every request; the node logs it and stores it with the
  /// events the request causes.
  std::string request_id;
  /// Mutual TLS towards a node with certificates (all three or none).
  tls_files tls;
  bool use_tls = false;
};

/// A failure that ends the program with a one-line message.
struct failure {
  int code;
  std::string message;
  caf::error err;
};

[[noreturn]] void fail(int code, std::string message, caf::error err = {}) {
  throw failure{code, std::move(message), std::move(err)};
}

/// Reads a password from stdin: without echo from a terminal, else the first
/// line of the input.
std::string read_password(const char* prompt) {
  std::string line;
  bool tty = isatty(STDIN_FILENO) == 1;
  termios old_attrs{};
  if (tty) {
    std::cerr << prompt << std::flush;
    tcgetattr(STDIN_FILENO, &old_attrs);
    auto attrs = old_attrs;
    attrs.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &attrs);
  }
  bool ok = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old_attrs);
    std::cerr << std::endl;
  }
  if (!ok)
    fail(exit_usage, "no password given (use --password or pass it on stdin)");
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  return line;
}

uint64_t parse_id(const std::string& text) {
  if (text.empty() || text.size() > 20
      || text.find_first_not_of("0123456789") != std::string::npos)
    fail(exit_usage, "'" + text + "' is not a user id (a positive number)");
  return std::stoull(text);
}

/// What became of a request.
template <class T>
struct outcome {
  std::optional<T> value;
  /// The node's (or CAF's) error answer.
  caf::error err;
  /// The connection was lost, or the node did not answer in time: nobody
  /// knows whether the request was carried out.
  std::string lost;
};

/// A connection to a node that checks that answers reach this process
/// before anything is sent, and that tells an answer, a refusal and a lost
/// connection apart.
///
/// Why the check: CAF 0.17.6 names a process by host and pid (and a count
/// of the actor systems the process made). A node that still routes this
/// name to an earlier process's connection (one with the same pid that
/// exited a moment ago, or whose host vanished without closing the socket)
/// sends our answers there. CAF usually moves the route to the newest
/// connection itself (the client's second handshake), but not always. The
/// ping goes over the same route as every later answer: once it comes back,
/// they will too. If it does not, this process closes its connection and
/// connects again from a new actor system, which CAF names differently.
/// Nothing but the ping is sent before that.
class client {
public:
  client(const options& opts) : opts_(opts) {
    auto colon = opts.node.rfind(':');
    if (colon == std::string::npos)
      fail(exit_usage, "--node must be host:port, not '" + opts.node + "'");
    host_ = opts.node.substr(0, colon);
    auto port_text = opts.node.substr(colon + 1);
    if (port_text.empty() || port_text.size() > 5
        || port_text.find_first_not_of("0123456789") != std::string::npos
        || std::stoul(port_text) > 65535)
      fail(exit_usage, "--node has a bad port: '" + port_text + "'");
    port_ = static_cast<uint16_t>(std::stoul(port_text));
    connect();
  }

  ~client() {
    // Proxies and connections go with the system.
    node_ = nullptr;
    sys_.reset();
    cfg_.reset();
  }

  /// Requests and waits for a reply of type T; an error reply, a lost
  /// connection or a timeout ends the program. `write` says whether the
  /// request changes state (then a lost answer leaves its outcome unknown).
  template <class T, class Handle, class... Ts>
  T call(bool write, const Handle& dest, Ts&&... xs) {
    auto res = ask<T>(dest, std::chrono::seconds(opts_.timeout_s),
                      std::forward<Ts>(xs)...);
    if (res.value)
      return std::move(*res.value);
    if (!res.lost.empty()) {
      auto text = res.lost;
      if (write)
        text += "; the outcome of this change is unknown: look before you "
                "repeat it (e.g. heraldctl user get)";
      else
        text += "; nothing was changed, it is safe to ask again";
      fail(exit_unreachable, text);
    }
    if (res.err == caf::sec::request_receiver_down)
      fail(exit_refused,
           "unavailable: the service stopped before it took the request "
           "(is the node shutting down?); nothing was done",
           caf::make_error(ec::unavailable,
                           std::string{"the service stopped before it took "
                                       "the request"}));
    fail(exit_refused, render(res.err), res.err);
  }

  user_actor users() {
    return call<user_actor>(false, node_, atom::get_v, atom::user_v);
  }

  session_actor sessions() {
    return call<session_actor>(false, node_, atom::get_v, atom::session_v);
  }

  token_actor tokens() {
    return call<token_actor>(false, node_, atom::get_v, atom::token_v);
  }

  password_reset_actor resets() {
    return call<password_reset_actor>(false, node_, atom::get_v, atom::reset_v);
  }

  amqp_bridge_actor bridge() {
    return call<amqp_bridge_actor>(false, node_, atom::get_v, atom::bridge_v);
  }

  const node_actor& node() const { return node_; }

private:
  /// Sends one request from a courier actor that also watches the node and
  /// the destination: an answer, an error, a lost connection or the
  /// timeout, whichever comes first, is the outcome.
  template <class T, class Handle, class... Ts>
  outcome<T> ask(const Handle& dest, caf::timespan timeout, Ts&&... xs) {
    auto done = std::make_shared<std::promise<outcome<T>>>();
    auto result = done->get_future();
    auto target = caf::actor_cast<caf::actor>(dest);
    auto node = caf::actor_cast<caf::actor>(node_);
    auto msg = caf::make_message(std::forward<Ts>(xs)...);
    auto where = opts_.node;
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    sys_->spawn([=](caf::event_based_actor* self) mutable {
      auto finish = [self, done](outcome<T> x) {
        done->set_value(std::move(x));
        self->quit();
      };
      self->monitor(node);
      if (target != node)
        self->monitor(target);
      self->set_down_handler([=](caf::down_msg& dm) {
        outcome<T> x;
        if (dm.reason == caf::exit_reason::user_shutdown
            || dm.reason == caf::exit_reason::unknown)
          // An orderly stop: a service answers every request it took before
          // it goes down, and the answer comes before this notice (one
          // ordered connection). `unknown` is CAF's reason for an actor
          // that had stopped before we watched it. Either way it never
          // took this request.
          x.err = caf::sec::request_receiver_down;
        else
          x.lost = "lost the connection to the node at " + where
                   + " before it answered (" + render(dm.reason) + ")";
        finish(std::move(x));
      });
      self->request(target, timeout, std::move(msg))
          .then(
              [=](T& value) {
                outcome<T> x;
                x.value = std::move(value);
                finish(std::move(x));
              },
              [=](caf::error& err) {
                outcome<T> x;
                if (err == caf::sec::request_timeout)
                  x.lost = "the node at " + where + " did not answer within "
                           + std::to_string(secs.count()) + "s";
                else
                  x.err = std::move(err);
                finish(std::move(x));
              });
    });
    return result.get();
  }

  /// Connects and pings until an answer comes back; at most about
  /// `connect_budget` long. Fails with exit 3 (nothing was sent).
  void connect() {
    using namespace std::chrono;
    auto deadline = steady_clock::now() + connect_budget;
    auto pause = milliseconds{250};
    std::string why;
    for (;;) {
      cfg_ = std::make_unique<caf::actor_system_config>();
      // The node's own bound on what a peer may announce applies here too
      // (node/capped_multiplexer.hpp).
      cfg_->load<caf::io::middleman, capped_multiplexer>();
      if (opts_.use_tls) {
        cfg_->load<caf::openssl::manager>();
        cfg_->set("openssl.certificate", opts_.tls.certificate);
        cfg_->set("openssl.key", opts_.tls.key);
        cfg_->set("openssl.cafile", opts_.tls.cafile);
        if (!opts_.tls.passphrase.empty())
          cfg_->set("openssl.passphrase", opts_.tls.passphrase);
      }
      add_message_types(*cfg_);
      cfg_->set("middleman.app-identifiers",
                std::vector<std::string>{"herald"});
      // The node drops connections that stay silent for its connection
      // timeout (5 s by default): heartbeats keep this one alive while a
      // slow request runs, and tell this side when the node is gone.
      cfg_->set("middleman.heartbeat-interval",
                caf::timespan{std::chrono::seconds(1)});
      cfg_->set("middleman.connection-timeout",
                caf::timespan{std::chrono::seconds(10)});
      cfg_->set("scheduler.max-threads", size_t{2});
      sys_ = std::make_unique<caf::actor_system>(*cfg_);
      auto res = opts_.use_tls
                     ? caf::openssl::remote_actor<node_actor>(*sys_, host_,
                                                              port_)
                     : sys_->middleman().remote_actor<node_actor>(host_,
                                                                  port_);
      if (!res)
        fail(exit_unreachable,
             "cannot reach the node at " + opts_.node + ": "
                 + render(res.error()) + "; nothing was sent"
                 + (opts_.use_tls
                        ? " (with TLS: does the node use TLS, with a "
                          "certificate of the same CA as --tls-cafile?)"
                        : " (a node with TLS refuses plaintext: give "
                          "--tls-certificate, --tls-key and --tls-cafile)"));
      node_ = std::move(*res);
      auto pong = ask<std::string>(node_, ping_timeout, atom::ping_v);
      if (pong.value)
        return;
      why = pong.lost.empty() ? render(pong.err) : pong.lost;
      node_ = nullptr;
      sys_.reset();
      if (steady_clock::now() + pause >= deadline)
        break;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, milliseconds{2000});
    }
    fail(exit_unreachable, "the node at " + opts_.node
                               + " took the connection but its answers do "
                                 "not reach this process ("
                               + why + "); nothing was sent");
  }

  static constexpr auto ping_timeout = std::chrono::seconds{3};
  static constexpr auto connect_budget = std::chrono::seconds{20};

  const options& opts_;
  std::string host_;
  uint16_t port_ = 0;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  node_actor node_;
};

// -- output ------------------------------------------------------------------

void print(const options& opts, const json& j,
           const std::vector<std::pair<std::string, std::string>>& rows) {
  if (opts.as_json) {
    std::cout << j.dump(2) << std::endl;
    return;
  }
  size_t width = 0;
  for (auto& row : rows)
    width = std::max(width, row.first.size());
  for (auto& [key, value] : rows)
    std::cout << key << ":" << std::string(width - key.size() + 2, ' ') << value
              << "\n";
  std::cout << std::flush;
}

void print_user(const options& opts, const user& u) {
  print(opts, u,
        {{"id", std::to_string(u.id)},
         {"name", u.name},
         {"email", u.email},
         {"role", u.role},
         {"token version", std::to_string(u.token_version)},
         {"created", format_time(u.created_at)},
         {"updated", format_time(u.updated_at)}});
}

/// Prints a page and, if there is more, the command that shows the next one.
/// JSON: {"items": [...], "next": id or null}.
void print_page(const options& opts, const user_page& p, uint32_t limit) {
  if (opts.as_json) {
    std::cout << json(p).dump(2) << std::endl;
    return;
  }
  std::printf("%-8s %-6s %-32s %s\n", "ID", "ROLE", "EMAIL", "NAME");
  for (auto& u : p.items)
    std::printf("%-8llu %-6s %-32s %s\n", static_cast<unsigned long long>(u.id),
                u.role.c_str(), u.email.c_str(), u.name.c_str());
  if (p.next == 0) {
    std::printf("%zu shown, no more\n", p.items.size());
    return;
  }
  std::string next = "heraldctl";
  if (opts.node != options{}.node)
    next += " --node " + opts.node;
  next += " user list --after " + std::to_string(p.next);
  if (limit != 20)
    next += " --limit " + std::to_string(limit);
  std::printf("%zu shown; next page: %s\n", p.items.size(), next.c_str());
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  CLI::App app{"heraldctl: manage a herald node"};
  app.require_subcommand(1);
  app.add_option("--node", opts.node, "node address host:port")
      ->capture_default_str();
  app.add_flag("--json", opts.as_json, "print JSON instead of text");
  app.add_option("--timeout", opts.timeout_s, "seconds to wait for a reply")
      ->capture_default_str();
  app.add_option("--request-id", opts.request_id,
                 "id the node logs this request under (default: a new one)");
  app.add_option("--tls-certificate", opts.tls.certificate,
                 "this client's certificate (PEM), from the cluster's CA")
      ->envname("HERALD_OPENSSL_CERTIFICATE");
  app.add_option("--tls-key", opts.tls.key,
                 "its private key (PEM; passphrase from "
                 "HERALD_OPENSSL_PASSPHRASE)")
      ->envname("HERALD_OPENSSL_KEY");
  app.add_option("--tls-cafile", opts.tls.cafile,
                 "the cluster's CA certificate (PEM)")
      ->envname("HERALD_OPENSSL_CAFILE");
  app.set_version_flag("--version", HERALD_VERSION);

  auto status = app.add_subcommand("status", "show the node's status");

  auto user_cmd = app.add_subcommand("user", "manage users");
  user_cmd->require_subcommand(1);
  std::string name, email, password, id_text;
  bool admin = false;
  auto create = user_cmd->add_subcommand("create", "create a user");
  create->add_option("--name", name, "display name (1-100 characters)")
      ->required();
  create->add_option("--email", email, "email address")->required();
  create->add_option("--password", password,
                     "password (default: read from stdin)");
  create->add_flag("--admin", admin, "make the user an admin");
  auto promote = user_cmd->add_subcommand("promote", "make a user an admin");
  promote->add_option("id", id_text, "user id")->required();
  auto get = user_cmd->add_subcommand("get", "show a user by id or email");
  get->add_option("id", id_text, "user id or email")->required();
  uint64_t after = 0;
  uint32_t limit = 20;
  auto list = user_cmd->add_subcommand("list", "list users by id, a page at a "
                                               "time");
  // Digits only: CLI11 reads "-1" into an unsigned number as its largest
  // value, which would list nothing instead of saying what is wrong.
  auto digits = CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty() || text.size() > 20
            || text.find_first_not_of("0123456789") != std::string::npos)
          return "expected a whole number of at least 0, got '" + text + "'";
        return {};
      },
      "NUMBER");
  list->add_option("--after", after,
                   "list users with an id above this one (the page before "
                   "prints it; 0 starts at the first)")
      ->check(digits)
      ->capture_default_str();
  list->add_option("--limit", limit, "users per page (1-100)")
      ->check(digits)
      ->capture_default_str();
  auto update = user_cmd->add_subcommand("update", "change a user");
  update->add_option("id", id_text, "user id")->required();
  auto upd_name = update->add_option("--name", name, "new name");
  auto upd_email = update->add_option("--email", email, "new email");
  auto upd_password = update->add_option(
      "--password", password, "new password ('-' reads it from stdin)");
  auto remove = user_cmd->add_subcommand("delete", "delete a user");
  remove->add_option("id", id_text, "user id")->required();

  auto login = app.add_subcommand("login", "log in and print a token");
  login->add_option("--email", email, "email address")->required();
  auto login_password = login->add_option(
      "--password", password, "password (default: read from stdin)");

  auto token_cmd = app.add_subcommand("token", "work with tokens");
  token_cmd->require_subcommand(1);
  std::string token_text;
  auto validate = token_cmd->add_subcommand("validate", "validate a token");
  validate->add_option("token", token_text, "the JWT")->required();

  auto reset_cmd = app.add_subcommand("reset", "password reset by mail");
  reset_cmd->require_subcommand(1);
  auto reset_request = reset_cmd->add_subcommand(
      "request", "mail a reset link (same answer for unknown emails)");
  reset_request->add_option("--email", email, "email address")->required();
  auto reset_confirm = reset_cmd->add_subcommand(
      "confirm", "set a new password with the token from a reset mail");
  reset_confirm->add_option("--token", token_text, "token from the link")
      ->required();
  auto confirm_password = reset_confirm->add_option(
      "--password", password, "new password (default: read from stdin)");

  auto outbox_cmd = app.add_subcommand("outbox", "the event outbox");
  outbox_cmd->require_subcommand(1);
  auto outbox_status_cmd = outbox_cmd->add_subcommand(
      "status", "pending events, oldest age, last error");

  auto bridge_cmd = app.add_subcommand("bridge", "the RabbitMQ bridge");
  bridge_cmd->require_subcommand(1);
  auto bridge_status_cmd = bridge_cmd->add_subcommand(
      "status", "connection state and counters per route");

  auto cluster_cmd = app.add_subcommand("cluster", "the cluster of the node");
  cluster_cmd->require_subcommand(1);
  auto cluster_status_cmd = cluster_cmd->add_subcommand(
      "status", "members (address, roles, state, last seen, instance) and "
                "where the node routes each service");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? 0 : exit_usage;
  }

  opts.tls.certificate_name = "--tls-certificate";
  opts.tls.key_name = "--tls-key";
  opts.tls.cafile_name = "--tls-cafile";
  opts.tls.passphrase_name = "HERALD_OPENSSL_PASSPHRASE";
  if (auto pass = std::getenv("HERALD_OPENSSL_PASSPHRASE"))
    opts.tls.passphrase = pass;
  if (auto tls = tls_configured(opts.tls); !tls) {
    std::cerr << "heraldctl: " << message_of(tls.error()) << std::endl;
    return exit_usage;
  } else if (*tls) {
    auto warnings = check_tls_files(opts.tls, tls_role::client,
                                    std::time(nullptr));
    if (!warnings) {
      std::cerr << "heraldctl: " << message_of(warnings.error()) << std::endl;
      return exit_usage;
    }
    for (auto& w : *warnings)
      std::cerr << "heraldctl: warning: " << w << std::endl;
    opts.use_tls = true;
  }
  if (opts.request_id.empty())
    opts.request_id = "ctl-" + new_request_id().substr(2);
  request_context ctx{opts.request_id, "operator:heraldctl"};
  if (auto err = admit(ctx)) {
    std::cerr << "heraldctl: --request-id: " << render(err) << std::endl;
    return exit_usage;
  }
  try {
    client cl{opts};
    if (*status) {
      auto s = cl.call<node_status>(false, cl.node(), atom::status_v, ctx);
      std::string components;
      for (auto& c : s.components)
        components += (components.empty() ? "" : ", ") + c.name + " " + c.state
                      + (c.restarts > 0
                             ? " (" + std::to_string(c.restarts) + " restarts)"
                             : "");
      print(opts, s,
            {{"node", s.name},
             {"version", s.version},
             {"roles",
              [&] {
                std::string out;
                for (auto& r : s.roles)
                  out += (out.empty() ? "" : ", ") + r;
                return out;
              }()},
             {"cluster", s.cluster_endpoint},
             {"storage", s.storage + " (" + s.storage_state + ")"},
             {"users (estimate)", std::to_string(s.users_estimate)},
             {"started", format_time(s.started_at)},
             {"instance", s.instance},
             {"components", components}});
    } else if (*create) {
      if (create->count("--password") == 0)
        password = read_password("Password: ");
      new_user x{name, email, password, admin ? role_admin : role_user};
      print_user(opts, cl.call<user>(true, cl.users(), atom::create_v, ctx, x));
    } else if (*promote) {
      print_user(opts,
                 cl.call<user>(true, cl.users(), atom::set_role_v, ctx,
                               parse_id(id_text), std::string{role_admin}));
    } else if (*get) {
      if (id_text.find('@') != std::string::npos)
        print_user(opts, cl.call<user>(false, cl.users(), atom::get_v, ctx,
                                       atom::by_email_v, id_text));
      else
        print_user(opts, cl.call<user>(false, cl.users(), atom::get_v, ctx,
                                       parse_id(id_text)));
    } else if (*list) {
      print_page(opts,
                 cl.call<user_page>(false, cl.users(), atom::list_v, ctx, after,
                                    limit),
                 limit);
    } else if (*update) {
      user_patch patch;
      patch.set_name = upd_name->count() > 0;
      patch.name = name;
      patch.set_email = upd_email->count() > 0;
      patch.email = email;
      patch.set_password = upd_password->count() > 0;
      if (patch.set_password)
        patch.password
            = password == "-" ? read_password("New password: ") : password;
      if (!patch.set_name && !patch.set_email && !patch.set_password)
        fail(exit_usage, "nothing to update: give --name, --email or "
                         "--password");
      print_user(opts, cl.call<user>(true, cl.users(), atom::update_v, ctx,
                                     parse_id(id_text), patch));
    } else if (*remove) {
      auto id = parse_id(id_text);
      cl.call<caf::ok_atom>(true, cl.users(), atom::remove_v, ctx, id);
      print(opts, json{{"deleted", id}},
            {{"deleted", "user " + std::to_string(id)}});
    } else if (*login) {
      if (login_password->count() == 0)
        password = read_password("Password: ");
      // The node checks the password and signs in one request.
      auto s = cl.call<session>(false, cl.sessions(), atom::login_v, ctx, email,
                                password);
      print(opts, json(s),
            {{"token", s.token.token},
             {"expires", format_time(s.token.expires_at)},
             {"user",
              std::to_string(s.profile.id) + " <" + s.profile.email + ">"}});
    } else if (*validate) {
      auto c = cl.call<claims>(false, cl.tokens(), atom::validate_v, ctx,
                               token_text);
      print(opts, c,
            {{"valid", "yes"},
             {"user", std::to_string(c.subject)},
             {"role", c.role},
             {"issuer", c.issuer},
             {"audience", c.audience},
             {"issued", format_time(c.issued_at)},
             {"expires", format_time(c.expires_at)},
             {"key id", c.key_id},
             {"token id", c.jwt_id}});
    } else if (*reset_request) {
      cl.call<caf::ok_atom>(true, cl.resets(), atom::reset_request_v, ctx,
                            email);
      print(opts, json{{"accepted", true}},
            {{"accepted", "if " + email
                              + " belongs to a user, a reset link "
                                "is on its way"}});
    } else if (*reset_confirm) {
      if (confirm_password->count() == 0)
        password = read_password("New password: ");
      cl.call<caf::ok_atom>(true, cl.resets(), atom::reset_confirm_v, ctx,
                            token_text, password);
      print(opts, json{{"password_changed", true}},
            {{"done", "password changed; all earlier sessions are revoked"}});
    } else if (*outbox_status_cmd) {
      auto st = cl.call<outbox_status>(false, cl.node(), atom::outbox_v,
                                       atom::status_v);
      print(opts, st,
            {{"pending", std::to_string(st.pending)},
             {"oldest", std::to_string(st.oldest_age_ms / 1000) + "s"},
             {"dead", std::to_string(st.dead)},
             {"delivered", std::to_string(st.delivered) + " since start"},
             {"last error", st.last_error.empty() ? "none" : st.last_error}});
      if (!opts.as_json && !st.dead_events.empty()) {
        std::cout << "\ndead events (newest first";
        if (st.dead > st.dead_events.size())
          std::cout << ", " << st.dead_events.size() << " of " << st.dead;
        std::cout << "):\n";
        for (auto& d : st.dead_events)
          std::cout << "  " << format_time(d.dead_at_ms / 1000) << "  "
                    << d.topic << " " << d.id << " after " << d.attempts
                    << " attempt" << (d.attempts == 1 ? "" : "s") << ": "
                    << d.error << "\n";
        std::cout << std::flush;
      }
    } else if (*bridge_status_cmd) {
      auto st = cl.call<bridge_status>(false, cl.bridge(), atom::bridge_v,
                                       atom::status_v);
      if (opts.as_json) {
        std::cout << json(st).dump(2) << std::endl;
      } else {
        std::cout << "broker:  " << st.broker << "\nstate:   " << st.state
                  << "\n";
        std::printf("%-48s %9s %9s %8s %6s %9s %9s %8s %6s\n", "ROUTE",
                    "PUBLISHED", "CONFIRMED", "RETURNED", "NACKED", "CONSUMED",
                    "ACKED", "RETRIED", "DEAD");
        for (auto& r : st.routes)
          std::printf("%-48s %9llu %9llu %8llu %6llu %9llu %9llu %8llu %6llu\n",
                      r.route.c_str(),
                      static_cast<unsigned long long>(r.published),
                      static_cast<unsigned long long>(r.confirmed),
                      static_cast<unsigned long long>(r.returned),
                      static_cast<unsigned long long>(r.nacked),
                      static_cast<unsigned long long>(r.consumed),
                      static_cast<unsigned long long>(r.acked),
                      static_cast<unsigned long long>(r.retried),
                      static_cast<unsigned long long>(r.dead_lettered));
      }
    }
    if (*cluster_status_cmd) {
      auto st = cl.call<cluster_status>(false, cl.node(), atom::cluster_v,
                                        atom::status_v, ctx);
      auto now = static_cast<int64_t>(std::time(nullptr));
      auto join_all = [](const std::vector<std::string>& xs) {
        std::string out;
        for (auto& x : xs)
          out += (out.empty() ? "" : ",") + x;
        return out;
      };
      if (opts.as_json) {
        auto members = json::array();
        for (auto& m : st.members)
          members.push_back({{"name", m.info.name},
                             {"address", m.info.address},
                             {"roles", m.info.roles},
                             {"state", m.state},
                             {"last_seen", m.last_seen},
                             {"instance", m.info.instance},
                             {"started_at", m.info.started_at}});
        auto routes = json::object();
        for (auto& r : st.routes)
          routes[r.service] = r.via;
        std::cout << json{{"members", members}, {"routes", routes}}.dump(2)
                  << std::endl;
      } else {
        std::printf("%-16s %-22s %-26s %-9s %-16s %s\n", "MEMBER", "ADDRESS",
                    "ROLES", "LAST SEEN", "INSTANCE", "STATE");
        for (auto& m : st.members) {
          auto seen = m.last_seen == 0
                          ? std::string{"never"}
                          : std::to_string(std::max<int64_t>(
                                0, now - m.last_seen))
                                + "s ago";
          std::printf("%-16s %-22s %-26s %-9s %-16s %s\n",
                      m.info.name.empty() ? "?" : m.info.name.c_str(),
                      m.info.address.c_str(), join_all(m.info.roles).c_str(),
                      seen.c_str(),
                      m.info.instance.empty() ? "-" : m.info.instance.c_str(),
                      m.state.c_str());
        }
        std::printf("\nroutes from this node:\n");
        for (auto& r : st.routes) {
          std::string via;
          if (r.via.empty())
            via = "none (unavailable)";
          else if (r.via.size() == 1)
            via = r.via.front();
          else
            via = join_all(r.via) + " (in turn)";
          std::printf("  %-8s %s\n", r.service.c_str(), via.c_str());
        }
        std::fflush(stdout);
      }
    }
  } catch (const failure& f) {
    if (opts.as_json && f.err) {
      auto j = error_to_json(f.err);
      j["error"]["request_id"] = opts.request_id;
      std::cout << j.dump(2) << std::endl;
    }
    std::cerr << "heraldctl: " << f.message << " (request " << opts.request_id
              << ")" << std::endl;
    return f.code;
  }
  return 0;
}
