// Accounts over HTTP: sign-up, login, the user resource, token validation.
#include "bridges/http/api.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/base64url.hpp"
#include "actors/token_verifier.hpp"
#include "bridges/http/body.hpp"
#include "bridges/http/call.hpp"
#include "bridges/http/problem.hpp"
#include "messages/json.hpp"

namespace herald::http {

namespace {

using nlohmann::json;

constexpr const char* bearer = "Bearer ";

/// The lower-cased, trimmed email, as the throttle counts it.
std::string email_key(std::string email) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  email.erase(email.begin(),
              std::find_if(email.begin(), email.end(), not_space));
  email.erase(std::find_if(email.rbegin(), email.rend(), not_space).base(),
              email.end());
  std::transform(email.begin(), email.end(), email.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return email;
}

/// A user id from the path: 1 to 20 digits, not 0.
bool parse_id(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 20
      || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  try {
    out = std::stoull(text);
  } catch (...) {
    return false;
  }
  return out != 0;
}

/// The opaque cursor of a listing: base64url of a version byte and the id.
std::string make_cursor(uint64_t id) {
  std::string raw(9, '\0');
  raw[0] = 1;
  for (int i = 0; i < 8; ++i)
    raw[1 + i] = static_cast<char>((id >> (56 - 8 * i)) & 0xff);
  return jwt::base64url_encode(raw);
}

bool read_cursor(const std::string& text, uint64_t& id) {
  std::string raw;
  if (text.size() > 16 || !jwt::base64url_decode(text, raw) || raw.size() != 9
      || raw[0] != 1)
    return false;
  id = 0;
  for (int i = 0; i < 8; ++i)
    id = (id << 8) | static_cast<unsigned char>(raw[1 + i]);
  return true;
}

json claims_json(const claims& c) {
  return json{{"sub", std::to_string(c.subject)},
              {"iss", c.issuer},
              {"aud", c.audience},
              {"jti", c.jwt_id},
              {"role", c.role},
              {"ver", c.token_version},
              {"iat", format_time(c.issued_at)},
              {"nbf", format_time(c.not_before)},
              {"exp", format_time(c.expires_at)},
              {"kid", c.key_id}};
}

/// Answers with `err` unless it is a token problem: those are 401.
void reply_token_error(const exchange_ptr& ex, const caf::error& err) {
  auto p = problem_of(err);
  if (p.status < 500) {
    // Malformed, expired, revoked, unknown key: the token proves nothing.
    p = make_problem(401, "unauthenticated",
                     "the token is not valid: " + message_of(err));
  }
  reply_problem(ex, p);
}

/// Validates `token` (inline when the node's verifier can, else by the
/// token service); `then` with the claims, `failed` with the error.
void validate(const env_ptr& env, const exchange_ptr& ex,
              const std::string& token, std::function<void(const claims&)> then,
              std::function<void(const caf::error&)> failed) {
  if (env->verifier) {
    if (auto quick = env->verifier->try_validate(token)) {
      if (*quick)
        then(**quick);
      else
        failed(quick->error());
      return;
    }
  }
  call<claims>(
      env->sys, env->tokens, env->timeout(), [then](claims& c) { then(c); },
      failed, atom::validate_v, context_of(*ex), token);
}

bool may_act_on(const claims& c, uint64_t id) {
  return c.subject == id || c.role == role_admin;
}

/// The user id of the path if the caller may `act` ("read", "delete",
/// "change") on it; else answers 404 (no such id) or 403 and answers
/// nullopt. Permission is checked before existence: a 403 tells nothing
/// about whether the id exists.
std::optional<uint64_t> target_of(const exchange_ptr& ex, const claims& c,
                                  const char* act) {
  uint64_t id = 0;
  if (!parse_id(ex->params["id"], id)) {
    reply_problem(ex, make_problem(404, "not_found", "no user with that id"));
    return std::nullopt;
  }
  if (!may_act_on(c, id)) {
    reply_problem(
        ex, make_problem(403, "forbidden",
                         std::string{"a user may "} + act + " only itself"));
    return std::nullopt;
  }
  return id;
}

// -- handlers ----------------------------------------------------------------

void create_user(const env_ptr& env, const exchange_ptr& ex) {
  json_body body;
  if (auto p
      = json_body::parse(ex->req.body(), {"name", "email", "password"}, body))
    return reply_problem(ex, *p);
  new_user x;
  for (auto [name, field] :
       {std::pair{"name", &x.name}, std::pair{"email", &x.email},
        std::pair{"password", &x.password}})
    if (auto p = body.text(name, *field))
      return reply_problem(ex, *p);
  call<user>(
      env->sys, env->users, env->timeout(),
      [ex](user& u) {
        auto res = json_response(*ex, 201, json(u));
        res.set(bhttp::field::location, "/v1/users/" + std::to_string(u.id));
        ex->reply(std::move(res));
      },
      [ex](const caf::error& err) { reply_error(ex, err); }, atom::create_v,
      context_of(*ex), x);
}

void login(const env_ptr& env, const exchange_ptr& ex) {
  json_body body;
  if (auto p = json_body::parse(ex->req.body(), {"email", "password"}, body))
    return reply_problem(ex, *p);
  std::string email;
  std::string password;
  if (auto p = body.text("email", email))
    return reply_problem(ex, *p);
  if (auto p = body.text("password", password))
    return reply_problem(ex, *p);
  auto by_email = "login:email:" + email_key(email);
  auto by_address = "login:addr:" + ex->client;
  auto& t = env->cfg.throttle;
  // The attempt counts as a failure until it succeeds: parallel guesses
  // cannot all slip in before the first failure is counted.
  throttle(
      env, ex,
      {rule(by_email, t.login_email), rule(by_address, t.login_address)},
      [env, ex, email, password, by_email, by_address] {
        call<session>(
            env->sys, env->sessions, env->timeout(),
            [env, ex, by_email, by_address](session& s) {
              unthrottle(env, {by_email}, true);
              unthrottle(env, {by_address}, false);
              if (env->stats)
                env->stats->login(login_outcome::success);
              auto now = static_cast<int64_t>(std::time(nullptr));
              json body{{"access_token", s.token.token},
                        {"token_type", "Bearer"},
                        {"expires_in",
                         std::max<int64_t>(0, s.token.expires_at - now)},
                        {"expires_at", format_time(s.token.expires_at)}};
              ex->reply(json_response(*ex, 200, body));
            },
            [env, ex, by_email, by_address](const caf::error& err) {
              if (err == ec::unauthenticated) {
                if (env->stats)
                  env->stats->login(login_outcome::failure);
                return reply_problem(ex, make_problem(401, "unauthenticated",
                                                      "email or password is "
                                                      "wrong"));
              }
              // Not a wrong password: an outage or a malformed email
              // counts against nobody.
              unthrottle(env, {by_email, by_address}, false);
              reply_error(ex, err);
            },
            atom::login_v, context_of(*ex), email, password);
      },
      [env] {
        if (env->stats)
          env->stats->login(login_outcome::throttled);
      });
}

void get_user(const env_ptr& env, const exchange_ptr& ex, bool me) {
  authenticate(env, ex, [env, ex, me](const claims& c) {
    uint64_t id = c.subject;
    if (!me) {
      auto target = target_of(ex, c, "read");
      if (!target)
        return;
      id = *target;
    }
    call<user>(
        env->sys, env->users, env->timeout(),
        [ex](user& u) { ex->reply(json_response(*ex, 200, json(u))); },
        [ex](const caf::error& err) { reply_error(ex, err); }, atom::get_v,
        context_of(*ex, c.subject), id);
  });
}

void delete_user(const env_ptr& env, const exchange_ptr& ex) {
  authenticate(env, ex, [env, ex](const claims& c) {
    auto target = target_of(ex, c, "delete");
    if (!target)
      return;
    auto id = *target;
    call<caf::ok_atom>(
        env->sys, env->users, env->timeout(),
        [ex](caf::ok_atom) { ex->reply(empty_response(*ex, 204)); },
        [ex](const caf::error& err) { reply_error(ex, err); }, atom::remove_v,
        context_of(*ex, c.subject), id);
  });
}

/// Applies `patch` (and then `role`, if set) and answers the user.
void apply_patch(const env_ptr& env, const exchange_ptr& ex, uint64_t caller,
                 uint64_t id, user_patch patch, std::string role) {
  auto ctx = context_of(*ex, caller);
  auto set_role = [env, ex, ctx, id, role](std::optional<user> changed) {
    if (role.empty()) {
      ex->reply(json_response(*ex, 200, json(*changed)));
      return;
    }
    call<user>(
        env->sys, env->users, env->timeout(),
        [ex](user& u) { ex->reply(json_response(*ex, 200, json(u))); },
        [ex](const caf::error& err) { reply_error(ex, err); }, atom::set_role_v,
        ctx, id, role);
  };
  if (!patch.set_name && !patch.set_email && !patch.set_password)
    return set_role(std::nullopt);
  call<user>(
      env->sys, env->users, env->timeout(),
      [set_role](user& u) { set_role(u); },
      [ex](const caf::error& err) { reply_error(ex, err); }, atom::update_v,
      ctx, id, patch);
}

void patch_user(const env_ptr& env, const exchange_ptr& ex) {
  authenticate(env, ex, [env, ex](const claims& c) {
    auto target = target_of(ex, c, "change");
    if (!target)
      return;
    auto id = *target;
    json_body body;
    if (auto p = json_body::parse(
            ex->req.body(),
            {"name", "email", "password", "current_password", "role"}, body))
      return reply_problem(ex, *p);
    user_patch patch;
    std::string current;
    std::string role;
    if (auto p = body.text("name", patch.name, false))
      return reply_problem(ex, *p);
    if (auto p = body.text("email", patch.email, false))
      return reply_problem(ex, *p);
    if (auto p = body.text("password", patch.password, false))
      return reply_problem(ex, *p);
    if (auto p = body.text("current_password", current, false))
      return reply_problem(ex, *p);
    if (auto p = body.text("role", role, false))
      return reply_problem(ex, *p);
    patch.set_name = body.has("name");
    patch.set_email = body.has("email");
    patch.set_password = body.has("password");
    bool admin = c.role == role_admin;
    if (body.has("role") && !admin)
      return reply_problem(ex,
                           make_problem(403, "forbidden",
                                        "only an admin changes roles", "role"));
    if (!patch.set_name && !patch.set_email && !patch.set_password
        && role.empty())
      return reply_problem(ex, make_problem(400, "bad_request",
                                            "nothing to change: give name, "
                                            "email, password or role"));
    // A stolen token alone must not take over the account: changing its
    // password or email (where reset links go) needs the password too.
    bool needs_proof = !admin && (patch.set_password || patch.set_email);
    if (!needs_proof)
      return apply_patch(env, ex, c.subject, id, std::move(patch),
                         std::move(role));
    if (!body.has("current_password"))
      return reply_problem(ex, make_problem(403, "forbidden",
                                            "changing the password or email "
                                            "needs current_password",
                                            "current_password"));
    auto subject = c.subject;
    call<user>(
        env->sys, env->users, env->timeout(),
        [env, ex, subject, id, patch, role, current](user& u) {
          auto by_email = "login:email:" + email_key(u.email);
          auto by_address = "login:addr:" + ex->client;
          auto& t = env->cfg.throttle;
          throttle(
              env, ex,
              {rule(by_email, t.login_email),
               rule(by_address, t.login_address)},
              [env, ex, subject, id, patch, role, current, u, by_email,
               by_address] {
                call<user>(
                    env->sys, env->users, env->timeout(),
                    [env, ex, subject, id, patch, role, by_email,
                     by_address](user&) {
                      unthrottle(env, {by_email}, true);
                      unthrottle(env, {by_address}, false);
                      apply_patch(env, ex, subject, id, patch, role);
                    },
                    [env, ex, by_email, by_address](const caf::error& err) {
                      if (err == ec::unauthenticated)
                        return reply_problem(
                            ex, make_problem(403, "forbidden",
                                             "current_password is wrong",
                                             "current_password"));
                      unthrottle(env, {by_email, by_address}, false);
                      reply_error(ex, err);
                    },
                    atom::authenticate_v, context_of(*ex, subject), u.email,
                    current);
              });
        },
        [ex](const caf::error& err) { reply_error(ex, err); }, atom::get_v,
        context_of(*ex, subject), id);
  });
}

void list_users(const env_ptr& env, const exchange_ptr& ex) {
  authenticate(env, ex, [env, ex](const claims& c) {
    if (c.role != role_admin)
      return reply_problem(
          ex, make_problem(403, "forbidden", "only an admin lists users"));
    std::map<std::string, std::string> q;
    if (!parse_query(ex->query, q))
      return reply_problem(
          ex, make_problem(400, "bad_request", "malformed query string"));
    for (auto& kv : q)
      if (kv.first != "limit" && kv.first != "after")
        return reply_problem(
            ex, make_problem(400, "bad_request",
                             "unknown parameter '" + kv.first + "'", kv.first));
    uint32_t limit = 20;
    if (auto i = q.find("limit"); i != q.end()) {
      auto& v = i->second;
      if (v.empty() || v.size() > 3
          || v.find_first_not_of("0123456789") != std::string::npos
          || std::stoul(v) < 1 || std::stoul(v) > 100)
        return reply_problem(ex,
                             make_problem(400, "bad_request",
                                          "limit must be 1 to 100", "limit"));
      limit = static_cast<uint32_t>(std::stoul(v));
    }
    uint64_t after = 0;
    if (auto i = q.find("after"); i != q.end())
      if (!read_cursor(i->second, after))
        return reply_problem(ex, make_problem(400, "bad_request",
                                              "after is no cursor of this "
                                              "API (take `next` of the page "
                                              "before)",
                                              "after"));
    call<user_page>(
        env->sys, env->users, env->timeout(),
        [ex](user_page& page) {
          json body{{"items", page.items}, {"next", nullptr}};
          if (page.next != 0)
            body["next"] = make_cursor(page.next);
          ex->reply(json_response(*ex, 200, body));
        },
        [ex](const caf::error& err) { reply_error(ex, err); }, atom::list_v,
        context_of(*ex, c.subject), after, limit);
  });
}

void validate_token(const env_ptr& env, const exchange_ptr& ex) {
  json_body body;
  if (auto p = json_body::parse(ex->req.body(), {"token"}, body))
    return reply_problem(ex, *p);
  std::string token;
  if (auto p = body.text("token", token))
    return reply_problem(ex, *p);
  validate(
      env, ex, token,
      [ex](const claims& c) {
        ex->reply(json_response(
            *ex, 200, json{{"active", true}, {"claims", claims_json(c)}}));
      },
      [ex](const caf::error& err) { reply_token_error(ex, err); });
}

} // namespace

request_context context_of(const exchange& ex, uint64_t user) {
  request_context ctx;
  ctx.id = ex.request_id;
  ctx.caller = user != 0 ? "user:" + std::to_string(user) + "@" + ex.client
                         : "http:" + ex.client;
  return ctx;
}

void authenticate(const env_ptr& env, const exchange_ptr& ex,
                  std::function<void(const claims&)> then) {
  auto header = std::string{ex->req[bhttp::field::authorization]};
  if (header.size() <= 7
      || !boost::beast::iequals(header.substr(0, 7), bearer)) {
    return reply_problem(ex, make_problem(401, "unauthenticated",
                                          "an Authorization: Bearer token is "
                                          "required"));
  }
  validate(env, ex, header.substr(7), std::move(then),
           [ex](const caf::error& err) { reply_token_error(ex, err); });
}

throttle_rule rule(std::string key, const throttle_limit& limit) {
  throttle_rule r;
  r.key = std::move(key);
  r.threshold = limit.threshold;
  r.increment = limit.increment.count();
  r.max_wait = limit.max_wait.count();
  r.window = limit.window.count();
  return r;
}

void throttle(const env_ptr& env, const exchange_ptr& ex,
              std::vector<throttle_rule> rules, std::function<void()> go,
              std::function<void()> throttled) {
  call<int64_t>(
      env->sys, env->store, env->timeout(),
      [ex, go, throttled](int64_t wait) {
        if (wait <= 0)
          return go();
        if (throttled)
          throttled();
        auto p = make_problem(429, "rate_limited",
                              "too many attempts; try again in "
                                  + std::to_string(wait) + " s");
        p.retry_after = wait;
        reply_problem(ex, p);
      },
      [ex](const caf::error& err) { reply_error(ex, err); },
      atom::throttle_hit_v, std::move(rules));
}

void unthrottle(const env_ptr& env, std::vector<std::string> keys, bool clear) {
  auto ignore = [](const caf::error& err) {
    spdlog::debug("http: throttle release failed: {}", render(err));
  };
  if (clear)
    call<caf::ok_atom>(
        env->sys, env->store, env->timeout(), [](caf::ok_atom) {}, ignore,
        atom::throttle_clear_v, std::move(keys));
  else
    call<caf::ok_atom>(
        env->sys, env->store, env->timeout(), [](caf::ok_atom) {}, ignore,
        atom::throttle_undo_v, std::move(keys));
}

void add_account_routes(router& r, env_ptr env) {
  auto with = [env](void (*fn)(const env_ptr&, const exchange_ptr&)) {
    return [env, fn](const exchange_ptr& ex) { fn(env, ex); };
  };
  r.add({"POST", "/v1/users", body_kind::json, with(create_user)});
  r.add({"GET", "/v1/users", body_kind::none, with(list_users)});
  r.add({"GET", "/v1/users/me", body_kind::none,
         [env](const exchange_ptr& ex) { get_user(env, ex, true); }});
  r.add({"GET", "/v1/users/{id}", body_kind::none,
         [env](const exchange_ptr& ex) { get_user(env, ex, false); }});
  r.add({"PATCH", "/v1/users/{id}", body_kind::json, with(patch_user)});
  r.add({"DELETE", "/v1/users/{id}", body_kind::none, with(delete_user)});
  r.add({"POST", "/v1/sessions", body_kind::json, with(login)});
  r.add({"POST", "/v1/tokens/validate", body_kind::json, with(validate_token)});
}

} // namespace herald::http
