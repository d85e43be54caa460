// The SMTP component: [smtp], the workers that send mail.
#include "bridges/smtp/smtp.hpp"
#include "config/addresses.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

/// [smtp] as configured: the bridge's settings and a password file.
struct smtp_options : smtp_settings {
  std::string password_file;
};

const config::section<smtp_options>& smtp_section() {
  using std::chrono::seconds;
  static const auto s
      = config::section<smtp_options>{"smtp"}
            .add(&smtp_options::url, "url",
                 "smtp://host:port (STARTTLS if offered) or smtps://host:port "
                 "(implicit TLS); credentials go in username and password")
            .secret()
            .add(&smtp_options::starttls, "starttls",
                 "require STARTTLS on smtp://")
            .add(&smtp_options::username, "username",
                 "SMTP user (empty: no AUTH)")
            .add(&smtp_options::password, "password",
                 "SMTP password (prefer HERALD_SMTP_PASSWORD or "
                 "password-file)")
            .secret()
            .add(&smtp_options::password_file, "password-file",
                 "file holding the SMTP password")
            .add(&smtp_options::from, "from",
                 "From header, e.g. herald <noreply@example.org>")
            .add(&smtp_options::timeout, "timeout",
                 "time for connecting, for each reply and for one mail")
            .range(seconds{1}, seconds{600})
            .add(&smtp_options::workers, "workers", "parallel SMTP connections")
            .range(1, 64)
            .add(&smtp_options::ca_file, "ca-file",
                 "CA bundle for the server's certificate (empty: the "
                 "system's)");
  return s;
}

} // namespace

/// [smtp] as configured and checked, the password read from its file.
caf::expected<smtp_settings> read_smtp(const component_context& ctx) {
  auto s = smtp_section().read(ctx.cfg);
  if (!s.password_file.empty()) {
    auto password = config::read_secret_file(ctx.cfg, "smtp.password-file",
                                             s.password_file);
    if (!password)
      return std::move(password.error());
    s.password = std::move(*password);
  }
  smtp_settings settings = s;
  auto& cfg = ctx.cfg;
  // Mails carry reset links: beyond this machine, SMTP must be encrypted
  // (a relay on loopback sends on by its own rules).
  if (s.url.rfind("smtp://", 0) == 0 && !s.starttls && !ctx.node.dev_mode
      && !config::is_loopback_host(config::url_host(s.url)))
    return cfg.invalid("smtp.starttls",
                       "smtp:// to " + config::url_host(s.url)
                           + " without TLS: reset links would cross the "
                             "network in clear; set smtp.starttls = true, "
                             "use smtps://, relay through a local MTA on "
                             "loopback, or start with --herald.dev-mode");
  if (auto err
      = check_settings(settings, [&](const char* key, const std::string& what) {
          return cfg.invalid(std::string{"smtp."} + key, what);
        }))
    return err;
  return settings;
}

component smtp_component() {
  return checked_by(
      component{"smtp",
                {{"mailer"}, {}},
                {},
                options_of(smtp_section()),
                [](component_context& ctx) -> caf::expected<caf::actor> {
                  auto s = read_smtp(ctx);
                  if (!s)
                    return std::move(s.error());
                  return caf::actor_cast<caf::actor>(spawn_smtp(ctx.sys, *s));
                },
                true},
      read_smtp);
}

} // namespace herald
