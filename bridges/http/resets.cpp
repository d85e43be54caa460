// Password resets over HTTP: the JSON routes for front ends and the page
// the reset mail links to. The page is plain HTML with one form: no
// JavaScript, no external assets, no cookie. The token in the form is the
// capability (so no CSRF token is needed, and `Origin: null`, which
// `no-referrer` makes browsers send, is fine); it travels only in the
// link and the form's POST body, never into another URL.
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>

#include "actors/mail_template.hpp"
#include "actors/password_reset.hpp"
#include "bridges/http/api.hpp"
#include "bridges/http/body.hpp"
#include "bridges/http/call.hpp"
#include "bridges/http/problem.hpp"

namespace herald::http {

namespace {

using nlohmann::json;

// -- the page ----------------------------------------------------------------

const char* page_style
    = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem "
      "auto;padding:0 1rem;color:#222}label{display:block;margin:.8rem 0 "
      ".2rem}input{width:100%;padding:.4rem;box-sizing:border-box}button{"
      "margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}.ok{color:#060}";

/// The CSP source of the one inline style: its SHA-256, base64.
const std::string& style_source() {
  static const std::string source = [] {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(page_style),
           std::strlen(page_style), digest);
    unsigned char b64[64] = {};
    EVP_EncodeBlock(b64, digest, SHA256_DIGEST_LENGTH);
    return "'sha256-" + std::string{reinterpret_cast<char*>(b64)} + "'";
  }();
  return source;
}

/// A page with `body` (already HTML).
response page(const exchange& ex, unsigned status, const std::string& title,
              const std::string& body) {
  response res{static_cast<bhttp::status>(status), ex.req.version()};
  res.set(bhttp::field::content_type, "text/html; charset=utf-8");
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src " + style_source()
              + "; form-action 'self'; base-uri 'none'; frame-ancestors "
                "'none'");
  res.set("X-Frame-Options", "DENY");
  res.body() = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
               "charset=\"utf-8\"><meta name=\"viewport\" "
               "content=\"width=device-width, initial-scale=1\"><meta "
               "name=\"referrer\" content=\"no-referrer\"><title>"
               + html_escape(title) + "</title><style>" + page_style
               + "</style></head><body><h1>" + html_escape(title) + "</h1>"
               + body + "</body></html>\n";
  res.prepare_payload();
  return res;
}

response form_page(const exchange& ex, unsigned status,
                   const std::string& token, const std::string& error) {
  std::string body;
  if (!error.empty())
    body += "<p class=\"error\" id=\"error\">" + html_escape(error) + "</p>";
  body += "<form method=\"post\" action=\"/reset-password\">"
          "<input type=\"hidden\" name=\"token\" value=\""
          + html_escape(token)
          + "\"><label for=\"password\">New password</label>"
            "<input type=\"password\" id=\"password\" name=\"password\" "
            "autocomplete=\"new-password\" required>"
            "<label for=\"password2\">New password, again</label>"
            "<input type=\"password\" id=\"password2\" name=\"password2\" "
            "autocomplete=\"new-password\" required>"
            "<button type=\"submit\" id=\"submit\">Set password</button>"
            "</form>";
  return page(ex, status, "Choose a new password", body);
}

response message_page(const exchange& ex, unsigned status,
                      const std::string& title, const std::string& text,
                      bool ok) {
  return page(ex, status, title,
              std::string{"<p class=\""} + (ok ? "ok" : "error")
                  + "\" id=\"result\">" + html_escape(text) + "</p>");
}

/// What a person reads for a token that cannot be used.
std::string explain_token(const caf::error& err) {
  if (err == ec::already_used)
    return "This link was already used. If you did not change your password "
           "yourself, request a new link.";
  if (err == ec::expired)
    return "This link has expired. Request a new one.";
  if (err == ec::revoked)
    return "This link was replaced by a newer one or by a password change. "
           "Use the latest mail, or request a new link.";
  return "This link is not valid. Check that you opened the whole link from "
         "the mail, or request a new one.";
}

bool token_problem(const caf::error& err) {
  return err == ec::already_used || err == ec::expired || err == ec::revoked
         || err == ec::not_found
         || (err == ec::invalid_argument
             && message_of(err).rfind("reset token", 0) == 0);
}

// -- the work both take --------------------------------------------------

/// Confirms a reset, throttled per client address; `done` gets none on
/// success or the error.
void confirm(const env_ptr& env, const exchange_ptr& ex,
             const std::string& token, const std::string& password,
             std::function<void(const caf::error&)> done,
             std::function<void(int64_t)> throttled) {
  auto key = "confirm:addr:" + ex->client;
  auto limit = rule(key, env->cfg.throttle.confirm_address);
  call<int64_t>(
      env->sys, env->store, env->timeout(),
      [env, ex, token, password, done, throttled, key](int64_t wait) {
        if (wait > 0)
          return throttled(wait);
        call<caf::ok_atom>(
            env->sys, env->resets, env->timeout(),
            [env, done, key](caf::ok_atom) {
              unthrottle(env, {key}, false);
              done(caf::none);
            },
            [env, done, key](const caf::error& err) {
              // Only a guessed or stale token counts against the address.
              if (!token_problem(err))
                unthrottle(env, {key}, false);
              done(err);
            },
            atom::reset_confirm_v, context_of(*ex), token, password);
      },
      [done](const caf::error& err) { done(err); }, atom::throttle_hit_v,
      std::vector<throttle_rule>{limit});
}

// -- handlers ----------------------------------------------------------------

void request_reset(const env_ptr& env, const exchange_ptr& ex) {
  json_body body;
  if (auto p = json_body::parse(ex->req.body(), {"email"}, body))
    return reply_problem(ex, *p);
  std::string email;
  if (auto p = body.text("email", email))
    return reply_problem(ex, *p);
  std::string lowered = email;
  for (auto& c : lowered)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto& t = env->cfg.throttle;
  throttle(env, ex,
           {rule("reset:addr:" + ex->client, t.reset_address),
            rule("reset:email-addr:" + lowered + "|" + ex->client,
                 t.reset_email_address)},
           [env, ex, email] {
             call<caf::ok_atom>(
                 env->sys, env->resets, env->timeout(),
                 [ex](caf::ok_atom) {
                   // The same answer for every address.
                   ex->reply(json_response(
                       *ex, 202,
                       json{{"status", "accepted"},
                            {"detail", "if the address belongs to an "
                                       "account, a reset link is on its "
                                       "way"}}));
                 },
                 [ex](const caf::error& err) { reply_error(ex, err); },
                 atom::reset_request_v, context_of(*ex), email);
           });
}

void confirm_reset(const env_ptr& env, const exchange_ptr& ex) {
  json_body body;
  if (auto p = json_body::parse(ex->req.body(), {"token", "password"}, body))
    return reply_problem(ex, *p);
  std::string token;
  std::string password;
  if (auto p = body.text("token", token))
    return reply_problem(ex, *p);
  if (auto p = body.text("password", password))
    return reply_problem(ex, *p);
  confirm(
      env, ex, token, password,
      [ex](const caf::error& err) {
        if (!err)
          return ex->reply(empty_response(*ex, 204));
        if (err == ec::not_found)
          return reply_problem(
              ex,
              make_problem(400, "not_found", "no such reset token", "token"));
        reply_error(ex, err);
      },
      [ex](int64_t wait) {
        auto p = make_problem(429, "rate_limited",
                              "too many attempts; try again in "
                                  + std::to_string(wait) + " s");
        p.retry_after = wait;
        reply_problem(ex, p);
      });
}

void show_page(const env_ptr& env, const exchange_ptr& ex) {
  std::map<std::string, std::string> q;
  auto i = q.end();
  if (parse_query(ex->query, q))
    i = q.find("token");
  if (i == q.end() || check_reset_token(i->second))
    return ex->reply(message_page(*ex, 400, "Reset link not valid",
                                  explain_token(ec::not_found), false));
  auto token = i->second;
  call<caf::ok_atom>(
      env->sys, env->store, env->timeout(),
      [ex, token](caf::ok_atom) { ex->reply(form_page(*ex, 200, token, "")); },
      [ex](const caf::error& err) {
        if (err == ec::unavailable || !token_problem(err))
          return ex->reply(message_page(*ex, 503, "Please try again later",
                                        "herald cannot check the link right "
                                        "now. Please try again in a few "
                                        "minutes.",
                                        false));
        ex->reply(message_page(*ex, 410, "Reset link not usable",
                               explain_token(err), false));
      },
      atom::reset_check_v, reset_token_hash(token));
}

void submit_page(const env_ptr& env, const exchange_ptr& ex) {
  std::map<std::string, std::string> form;
  if (!parse_form(ex->req.body(), form))
    return ex->reply(message_page(*ex, 400, "Something went wrong",
                                  "The form could not be read.", false));
  auto token = form["token"];
  auto password = form["password"];
  if (check_reset_token(token))
    return ex->reply(message_page(*ex, 400, "Reset link not valid",
                                  explain_token(ec::not_found), false));
  if (password != form["password2"])
    return ex->reply(form_page(*ex, 422, token,
                               "The two passwords differ. Type the same "
                               "new password twice."));
  confirm(
      env, ex, token, password,
      [ex, token](const caf::error& err) {
        if (!err)
          return ex->reply(message_page(*ex, 200, "Password changed",
                                        "Your password was changed. Sign in "
                                        "with the new one; every session "
                                        "signed in before has ended.",
                                        true));
        if (token_problem(err))
          return ex->reply(message_page(*ex, 410, "Reset link not usable",
                                        explain_token(err), false));
        if (err == ec::invalid_argument)
          return ex->reply(form_page(*ex, 422, token, message_of(err)));
        ex->reply(message_page(*ex, 503, "Please try again later",
                               "The password could not be changed right "
                               "now. Your link still works; please try "
                               "again in a few minutes.",
                               false));
      },
      [ex](int64_t wait) {
        auto res = message_page(*ex, 429, "Too many attempts",
                                "Too many attempts from your address. Try "
                                "again in "
                                    + std::to_string(wait) + " seconds.",
                                false);
        res.set(bhttp::field::retry_after, std::to_string(wait));
        ex->reply(std::move(res));
      });
}

} // namespace

void add_reset_routes(router& r, env_ptr env) {
  auto with = [env](void (*fn)(const env_ptr&, const exchange_ptr&)) {
    return [env, fn](const exchange_ptr& ex) { fn(env, ex); };
  };
  r.add({"POST", "/v1/password-resets", body_kind::json, with(request_reset)});
  r.add({"POST", "/v1/password-resets/confirm", body_kind::json,
         with(confirm_reset)});
  r.add({"GET", "/reset-password", body_kind::none, with(show_page)});
  r.add({"POST", "/reset-password", body_kind::form, with(submit_page)});
}

} // namespace herald::http
