// The mailer component: [mail], the templates, and the mailer subscribed to
// the local event bus for the topics it mails.
#include <algorithm>

#include <caf/scoped_actor.hpp>

#include "actors/mailer.hpp"
#include "config/addresses.hpp"
#include "messages/error.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

/// [mail] as configured.
struct mail_options {
  std::string templates = "templates";
  std::string public_base_url = "http://127.0.0.1:8080";
  std::string app_name = "herald";
  std::chrono::seconds claim_timeout{300};
  size_t in_flight = 0;
};

const config::section<mail_options>& mail_section() {
  static const auto s
      = config::section<mail_options>{"mail"}
            .add(&mail_options::templates, "templates",
                 "folder of the mail templates (welcome, reset, "
                 "password_changed; .txt and .html), relative to the config "
                 "file")
            .add(&mail_options::public_base_url, "public-base-url",
                 "start of every link in mails; never taken from a request")
            .add(&mail_options::app_name, "app-name",
                 "product name used in mails")
            .add(&mail_options::claim_timeout, "claim-timeout",
                 "a mailer's claim of an event older than this is taken "
                 "over by another (the claimer died); keep it above the "
                 "longest an event's mail may take")
            .range(std::chrono::seconds{1}, std::chrono::seconds{86400})
            .add(&mail_options::in_flight, "in-flight",
                 "events one mailer works on at once, from its claim to the "
                 "record that the mail went out (0: smtp.workers); a node "
                 "killed mid-send leaves at most this many mails in doubt, "
                 "which are sent again with the same Message-ID")
            .range(0, 256);
  return s;
}

/// [mail] as configured and checked, the templates loaded.
caf::expected<mailer_settings> read_mailer(const component_context& ctx) {
  auto s = mail_section().read(ctx.cfg);
  auto& base = s.public_base_url;
  if (base.rfind("https://", 0) != 0 && base.rfind("http://", 0) != 0)
    return ctx.cfg.invalid("mail.public-base-url",
                           "must start with https:// or http://");
  if (base.find_first_of("\r\n\"'<> ") != std::string::npos)
    return ctx.cfg.invalid("mail.public-base-url",
                           "contains characters not allowed in a URL");
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  // Reset links carry a token: over http:// it crosses the network in
  // clear. A TLS proxy in front serves https://, so the link says https.
  if (base.rfind("http://", 0) == 0 && !ctx.node.dev_mode
      && !config::is_loopback_host(config::url_host(base)))
    return ctx.cfg.invalid("mail.public-base-url",
                           "'" + base
                               + "' is http://: reset links would carry "
                                 "their token in clear; use https:// (the "
                                 "address of the TLS proxy or gateway), or "
                                 "start with --herald.dev-mode");
  auto templates = load_templates(ctx.cfg.path("mail.templates", s.templates));
  if (!templates)
    return ctx.cfg.invalid("mail.templates", message_of(templates.error()));
  mailer_settings settings;
  settings.templates = std::move(*templates);
  settings.public_base_url = base;
  settings.app_name = s.app_name;
  settings.claim_timeout = s.claim_timeout;
  settings.in_flight = s.in_flight;
  if (settings.in_flight == 0) {
    // As many as there are SMTP connections: each sends one mail at a time.
    settings.in_flight = 2;
    if (auto workers = ctx.cfg.find("smtp.workers"))
      if (auto n = caf::get_if<int64_t>(workers); n && *n > 0)
        settings.in_flight = static_cast<size_t>(*n);
  }
  // Up to in_flight sends may queue at one SMTP connection, each allowed
  // smtp.timeout: the mailer waits for all of them rather than give up on a
  // send that may still go out.
  std::chrono::seconds smtp_timeout{30};
  if (auto t = ctx.cfg.find("smtp.timeout"))
    if (auto x = caf::get_if<caf::timespan>(t))
      smtp_timeout = std::chrono::duration_cast<std::chrono::seconds>(*x);
  settings.send_timeout = std::max(
      settings.timeout,
      smtp_timeout * static_cast<int64_t>(settings.in_flight)
          + std::chrono::seconds{10});
  settings.drain_grace = ctx.node.stop_timeout;
  return settings;
}

caf::expected<caf::actor> spawn_mailer(component_context& ctx) {
  auto settings = read_mailer(ctx);
  if (!settings)
    return std::move(settings.error());
  auto mail = ctx.sys.spawn(mailer, std::move(*settings),
                            ctx.get<storage_actor>("storage"),
                            ctx.get<smtp_actor>("smtp"));
  // The mailer takes its topics from the local bus; a bridge that routes a
  // topic to it through RabbitMQ takes it off the bus again (see
  // bridges/amqp/spawn_bridge.cpp).
  auto bus = ctx.get<event_bus_actor>("event-bus");
  caf::scoped_actor self{ctx.sys};
  caf::error failed;
  for (auto topic :
       {topic_user_created, topic_reset_requested, topic_password_changed})
    self->request(bus, std::chrono::seconds{5}, atom::subscribe_v,
                  std::string{topic}, mail)
        .receive([](caf::ok_atom) {},
                 [&](caf::error& err) {
                   if (!failed)
                     failed = err;
                 });
  if (failed) {
    caf::anon_send_exit(mail, caf::exit_reason::user_shutdown);
    return annotate(failed, "subscribing the mailer to the event bus");
  }
  return caf::actor_cast<caf::actor>(mail);
}

} // namespace

component mailer_component() {
  return checked_by(component{"mailer",
                              {{"mailer"}, {}},
                              {"storage", "smtp", "event-bus"},
                              options_of(mail_section()),
                              spawn_mailer},
                    read_mailer);
}

} // namespace herald
