// herald-probe: a CAF client that tries what a stranger on the cluster port
// would try, and prints what the node answered as JSON for
// tests/integration/trust_boundary.py:
//
//   herald-probe HOST:PORT USER_ID EMAIL PASSWORD
//
// - asks the node for every service it hands out, and for components it
//   must not hand out (storage, hasher, mailer, event bus, smtp);
// - sends every handle it got the message that used to sign a token for any
//   user value, (issue, user) with role admin, and records the answer;
// - logs in with a wrong and with the right password;
// - sends the user service an exit message and an error message nobody
//   asked for, then checks it still answers.
#include <iostream>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "messages/error.hpp"
#include "messages/node_actor.hpp"
#include "messages/type_ids.hpp"

using namespace herald;
using json = nlohmann::json;

namespace {

constexpr auto timeout = std::chrono::seconds{10};

template <class T>
struct handle_of {
  using type = T;
};

/// Sends `msg` to `dest` as a request that would be answered with a T and
/// renders what comes back: "ANSWERED ..." for a T, else "error ...".
/// (CAF delivers a reply of another type as unexpected_response.)
template <class T>
std::string ask(caf::scoped_actor& self, const caf::actor& dest,
                caf::message msg) {
  std::string out;
  self->request(dest, timeout, std::move(msg))
      .receive([&](T& x) { out = "ANSWERED " + caf::deep_to_string(x); },
               [&](caf::error& err) { out = "error " + render(err); });
  return out;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: herald-probe HOST:PORT USER_ID EMAIL PASSWORD\n";
    return 2;
  }
  std::string where = argv[1];
  auto colon = where.rfind(':');
  auto host = where.substr(0, colon);
  auto port = static_cast<uint16_t>(std::stoi(where.substr(colon + 1)));
  auto id = std::stoull(argv[2]);
  std::string email = argv[3];
  std::string password = argv[4];
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  add_message_types(cfg);
  cfg.set("middleman.app-identifiers", std::vector<std::string>{"herald"});
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds(1)});
  caf::actor_system sys{cfg};
  auto node = sys.middleman().remote_actor<node_actor>(host, port);
  if (!node) {
    std::cerr << "cannot reach " << where << ": " << render(node.error())
              << "\n";
    return 3;
  }
  caf::scoped_actor self{sys};
  auto node_untyped = caf::actor_cast<caf::actor>(*node);
  json result;
  // -- what the node hands out --------------------------------------------
  std::map<std::string, caf::actor> handles;
  auto get = [&](const char* name, auto tag, auto handle_type) {
    using handle = typename decltype(handle_type)::type;
    self->request(*node, timeout, atom::get_v, tag)
        .receive(
            [&](handle& h) {
              handles[name] = caf::actor_cast<caf::actor>(h);
              result["services"][name] = "handed out";
            },
            [&](caf::error& err) {
              result["services"][name] = "error " + render(err);
            });
  };
  get("user", atom::user_v, handle_of<user_actor>{});
  get("session", atom::session_v, handle_of<session_actor>{});
  get("token", atom::token_v, handle_of<token_actor>{});
  get("reset", atom::reset_v, handle_of<password_reset_actor>{});
  get("bridge", atom::bridge_v, handle_of<amqp_bridge_actor>{});
  for (auto name : {"storage", "hasher", "mailer", "event-bus", "smtp", "store",
                    "bus", "outbox"})
    result["internal"][name] = ask<caf::actor>(
        self, node_untyped,
        caf::make_message(atom::get_v, caf::atom_from_string(name)));
  // -- the old way to a token: (issue, user) with any role -----------------
  user forged;
  forged.id = id;
  forged.email = email;
  forged.name = "forged";
  forged.role = role_admin;
  auto issue = caf::atom("issue");
  result["issue"]["node"]
      = ask<issued_token>(self, node_untyped, caf::make_message(issue, forged));
  for (auto& [name, handle] : handles)
    result["issue"][name]
        = ask<issued_token>(self, handle, caf::make_message(issue, forged));
  // -- login ----------------------------------------------------------------
  request_context ctx{"probe-1", "probe"};
  if (auto s = handles.find("session"); s != handles.end()) {
    result["login_wrong"] = ask<session>(
        self, s->second,
        caf::make_message(atom::login_v, ctx, email, password + "x"));
    self->request(caf::actor_cast<session_actor>(s->second), timeout,
                  atom::login_v, ctx, email, password)
        .receive(
            [&](session& x) {
              result["login"] = {{"token", x.token.token},
                                 {"role", x.profile.role},
                                 {"user", x.profile.id}};
            },
            [&](caf::error& err) { result["login"] = "error " + render(err); });
  }
  // -- stray system messages from this node ------------------------------
  if (auto u = handles.find("user"); u != handles.end()) {
    self->send(u->second, caf::make_error(ec::internal, "stray"));
    self->send(u->second,
               caf::exit_msg{self->address(), caf::exit_reason::user_shutdown});
    result["after_stray"] = ask<user>(
        self, u->second,
        caf::make_message(atom::get_v, ctx, static_cast<uint64_t>(id)));
  }
  std::cout << result.dump(2) << std::endl;
  return 0;
}
