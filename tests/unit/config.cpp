#define CAF_SUITE config

#include "config/layers.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "config/node_config.hpp"
#include "node/catalogue.hpp"
#include "tests/test.hpp"

using namespace herald;
using herald::test::code_of;

namespace {

/// A config file in /tmp, removed with the object.
struct temp_file {
  std::string path;
  explicit temp_file(const std::string& content) {
    char name[] = "/tmp/herald-config-XXXXXX";
    auto fd = mkstemp(name);
    CAF_REQUIRE(fd >= 0);
    close(fd);
    path = name;
    std::ofstream{path} << content;
  }
  ~temp_file() { std::remove(path.c_str()); }
};

struct fixture {
  node_config caf_cfg;
  std::vector<config::option> options = node_options();
  std::ostringstream out;

  caf::expected<config::loaded> load(std::vector<std::string> args,
                                     std::vector<std::string> env = {},
                                     std::string default_file = {}) {
    config::sources src;
    src.args = std::move(args);
    src.environment = std::move(env);
    src.default_file = std::move(default_file);
    return config::load(options, caf_cfg.framework(), src, out);
  }

  template <class T>
  T value(const config::loaded& x, const std::string& name) {
    auto v = x.values.find(name);
    CAF_REQUIRE(v != nullptr);
    return caf::get<T>(*v);
  }

  /// Loads and expects a refusal whose text contains every needle.
  void refused(std::vector<std::string> args, std::vector<std::string> env,
               std::vector<std::string> needles,
               std::string default_file = {}) {
    auto res = load(std::move(args), std::move(env), std::move(default_file));
    CAF_REQUIRE(!res);
    CAF_CHECK_EQUAL(code_of(res.error()), ec::invalid_argument);
    auto text = render(res.error());
    CAF_MESSAGE("refused: " << text);
    for (auto& needle : needles) {
      auto found = text.find(needle) != std::string::npos;
      CAF_CHECK(found);
      if (!found)
        CAF_MESSAGE("missing '" << needle << "'");
    }
    CAF_CHECK(text.find("parser#") == std::string::npos);
  }
};

std::string source_dir() {
  auto dir = std::getenv("HERALD_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}

std::string read_text(const std::string& path) {
  std::ifstream in{path};
  CAF_REQUIRE(in.good());
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(config_tests, fixture)

CAF_TEST(defaults file variables and flags layer in that order) {
  temp_file file{"[mysql]\nport = 3307\nhost = \"db.example\"\n"
                 "[token]\nttl = 20min\n[herald]\nroles = [\"user\"]\n"};
  auto res = load(
      {"--config-file=" + file.path, "--mysql.port=3309", "--herald.dev-mode"},
      {"HERALD_MYSQL_PORT=3308", "HERALD_TOKEN_TTL=2min",
       "HERALD_ROLES=user,token", "HERALD_SMTP_STARTTLS=true",
       "HERALD_MYSQL_POOL_SIZE=7"});
  CAF_REQUIRE(res);
  // number: the flag beats the variable beats the file.
  CAF_CHECK_EQUAL(value<int64_t>(*res, "mysql.port"), 3309);
  CAF_CHECK_EQUAL(res->values.origin("mysql.port"), "--mysql.port");
  CAF_CHECK_EQUAL(value<int64_t>(*res, "mysql.pool-size"), 7);
  CAF_CHECK_EQUAL(res->values.origin("mysql.pool-size"),
                  "HERALD_MYSQL_POOL_SIZE");
  // text: from the file, the rest defaults.
  CAF_CHECK_EQUAL(value<std::string>(*res, "mysql.host"), "db.example");
  CAF_CHECK_EQUAL(res->values.origin("mysql.host"), file.path);
  CAF_CHECK_EQUAL(value<std::string>(*res, "mysql.user"), "herald");
  CAF_CHECK_EQUAL(res->values.origin("mysql.user"), "default");
  // duration: the variable beats the file.
  CAF_CHECK_EQUAL(value<caf::timespan>(*res, "token.ttl"),
                  caf::timespan{std::chrono::minutes{2}});
  // list: a,b in a variable.
  auto roles = node_section().read(res->values).roles;
  CAF_CHECK_EQUAL(roles, (std::vector<std::string>{"user", "token"}));
  // flags: a bare flag and a variable.
  CAF_CHECK_EQUAL(value<bool>(*res, "herald.dev-mode"), true);
  CAF_CHECK_EQUAL(value<bool>(*res, "smtp.starttls"), true);
  CAF_CHECK(res->unknown_variables.empty());
}

CAF_TEST(a list in a variable or flag takes the bracket form too) {
  auto res = load({"--herald.roles=[\"mailer\", \"bridge\"]"},
                  {"HERALD_AMQP_INBOUND=[\"queue=q exchange=e bind=a,b "
                   "handler=mailer\"]"});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(node_section().read(res->values).roles,
                  (std::vector<std::string>{"mailer", "bridge"}));
  auto inbound
      = caf::get<caf::config_value::list>(*res->values.find("amqp.inbound"));
  CAF_REQUIRE_EQUAL(inbound.size(), 1u);
  CAF_CHECK_EQUAL(caf::get<std::string>(inbound[0]),
                  "queue=q exchange=e bind=a,b handler=mailer");
}

CAF_TEST(variables that name no option are collected and harm nothing) {
  auto res = load({}, {"HERALD_SMTP_PORT=2626", "HERALD_RUN_DIR=/x",
                       "HERALD_MYSQL_PORT=3310", "PATH=/bin",
                       "HERALD_BUILD_DIR=/y"});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(
      res->unknown_variables,
      (std::vector<std::string>{"HERALD_BUILD_DIR", "HERALD_RUN_DIR",
                                "HERALD_SMTP_PORT"}));
  CAF_CHECK_EQUAL(value<int64_t>(*res, "mysql.port"), 3310);
  // Nothing became an option of another section.
  CAF_CHECK(res->values.find("smtp.port") == nullptr);
}

CAF_TEST(the framework options take the same layers) {
  temp_file file{"[middleman]\nheartbeat-interval = 2s\n"};
  auto res = load(
      {"--config-file=" + file.path, "--middleman.connection-timeout=7s"},
      {"HERALD_SCHEDULER_MAX_THREADS=3"});
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(
      caf::get_or(caf_cfg, "middleman.heartbeat-interval", caf::timespan{0}),
      caf::timespan{std::chrono::seconds{2}});
  CAF_CHECK_EQUAL(
      caf::get_or(caf_cfg, "middleman.connection-timeout", caf::timespan{0}),
      caf::timespan{std::chrono::seconds{7}});
  CAF_CHECK_EQUAL(caf::get_or(caf_cfg, "scheduler.max-threads", size_t{0}), 3u);
  refused(
      {"--middleman.heartbeat-interval=soon"}, {},
      {"--middleman.heartbeat-interval", "duration with its unit", "'soon'"});
}

CAF_TEST(bad values name the key the source and what was expected) {
  refused({}, {"HERALD_MYSQL_PORT=abc"},
          {"HERALD_MYSQL_PORT", "mysql.port", "whole number", "'abc'"});
  refused({}, {"HERALD_MYSQL_PORT=70000"},
          {"HERALD_MYSQL_PORT", "from 0 to 65535", "'70000'"});
  refused({"--mysql.pool-size=0"}, {}, {"--mysql.pool-size", "from 1 to 64"});
  refused({"--token.ttl=15"}, {}, {"--token.ttl", "duration", "'15'"});
  refused({"--token.leeway=2min"}, {}, {"--token.leeway", "of at most 1min"});
  refused({}, {"HERALD_DEV_MODE=yes"},
          {"HERALD_DEV_MODE", "herald.dev-mode", "true or false", "'yes'"});
  refused({"--smtp.port=2626"}, {},
          {"--smtp.port", "[smtp] has no option 'port'", "url"});
  refused({"--nosuch.key=1"}, {}, {"[nosuch] is not a section"});
  refused({"--mysql.port"}, {}, {"--mysql.port needs a value"});
  refused({"stray"}, {}, {"unexpected argument 'stray'"});
  refused({"--config-file=/nonexistent/herald.ini"}, {},
          {"/nonexistent/herald.ini", "cannot be opened"});
}

CAF_TEST(bad files name the file the line and the key) {
  temp_file unquoted{"[mysql]\nhost = 127.0.0.1\n"};
  refused({"--config-file=" + unquoted.path}, {},
          {unquoted.path + ":2:", "not valid config syntax"});
  temp_file unknown{"[mysql]\nhost = \"h\"\nprot = 3306\n"};
  refused({"--config-file=" + unknown.path}, {},
          {unknown.path, "[mysql] has no option 'prot'", "port"});
  temp_file wrong_type{"[mysql]\nport = \"3306\"\n"};
  refused({"--config-file=" + wrong_type.path}, {},
          {wrong_type.path, "[mysql] port", "whole number", "\"3306\""});
  temp_file bad_list{"[herald]\nroles = [1, 2]\n"};
  refused({"--config-file=" + bad_list.path}, {},
          {bad_list.path, "[herald] roles", "quoted texts"});
  // HERALD_CONFIG_FILE names the file when no flag does.
  refused({}, {"HERALD_CONFIG_FILE=" + unknown.path}, {unknown.path});
}

CAF_TEST(secrets stay out of errors help and dumps) {
  auto res = load(
      {"--dump-config"},
      {"HERALD_MYSQL_PASSWORD=hunter2-secret-value",
       "HERALD_AMQP_URL=amqp://u:s3cr3t-pw@host/",
       "HERALD_TOKEN_KEYS=k:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"});
  CAF_REQUIRE(res);
  CAF_CHECK(res->printed);
  auto dump = out.str();
  CAF_CHECK(dump.find("hunter2") == std::string::npos);
  CAF_CHECK(dump.find("s3cr3t") == std::string::npos);
  CAF_CHECK(dump.find("c2VjcmV0") == std::string::npos);
  CAF_CHECK(dump.find("HERALD_MYSQL_PASSWORD") != std::string::npos);
  auto err = res->values.invalid("mysql.password", "is refused");
  CAF_CHECK(render(err).find("hunter2") == std::string::npos);
  CAF_CHECK(render(err).find("HERALD_MYSQL_PASSWORD") != std::string::npos);
  // A non-secret value is shown.
  auto shown = res->values.invalid("mysql.host", "is odd");
  CAF_CHECK(render(shown).find("mysql.host = 127.0.0.1 (from default)")
            != std::string::npos);
}

CAF_TEST(help names every option with its flag and variable) {
  auto res = load({"--help"});
  CAF_REQUIRE(res);
  CAF_CHECK(res->printed);
  auto help = out.str();
  for (auto& opt : options) {
    CAF_CHECK(help.find(opt.flag()) != std::string::npos);
    CAF_CHECK(help.find(opt.variable()) != std::string::npos);
  }
}

CAF_TEST(every option has its own variable) {
  std::set<std::string> seen;
  for (auto& opt : options) {
    CAF_CHECK(seen.insert(opt.variable()).second);
    CAF_CHECK(!opt.help.empty());
  }
  // ... also next to the actor framework's own options.
  auto framework = caf_cfg.framework();
  for (auto& opt : *framework.declared) {
    auto cat = std::string{opt.category().begin(), opt.category().end()};
    auto key = std::string{opt.long_name().begin(), opt.long_name().end()};
    if (cat != "global")
      CAF_CHECK(seen.count(config::variable_of(cat, key)) == 0);
  }
  // Components that read one section (token and session read [token]) see
  // one declaration: the same key, type, default and text.
  std::map<std::string, config::option> first;
  for (auto& c : catalogue())
    for (auto& opt : c.options) {
      auto [i, added] = first.emplace(opt.name(), opt);
      if (!added) {
        CAF_CHECK_EQUAL(i->second.help, opt.help);
        CAF_CHECK(i->second.type == opt.type);
        CAF_CHECK_EQUAL(i->second.fallback, opt.fallback);
      }
    }
  CAF_CHECK_EQUAL(config::variable_of("herald", "dev-mode"), "HERALD_DEV_MODE");
  CAF_CHECK_EQUAL(config::variable_of("token", "keys-file"),
                  "HERALD_TOKEN_KEYS_FILE");
  CAF_CHECK_EQUAL(config::variable_of("amqp", "url"), "HERALD_AMQP_URL");
}

CAF_TEST(the readme and herald ini list exactly the options of the code) {
  std::set<std::string> declared;
  for (auto& opt : options)
    declared.insert(opt.name());
  // README: the table rows "| `section.key` | `HERALD_...` | ...".
  std::set<std::string> readme;
  std::istringstream lines{read_text(source_dir() + "/README.md")};
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0)
      continue;
    auto end = line.find('`', 3);
    auto name = line.substr(3, end - 3);
    if (name.find('.') == std::string::npos)
      continue;
    readme.insert(name);
    // The variable in the row is the one the code derives.
    for (auto& opt : options)
      if (opt.name() == name)
        CAF_CHECK(line.find("`" + opt.variable() + "`") != std::string::npos);
  }
  // herald.ini: "key = value" or "; key = value" under [section].
  std::set<std::string> ini;
  std::set<std::string> framework;
  std::istringstream ini_lines{read_text(source_dir() + "/config/herald.ini")};
  std::string section;
  for (std::string line; std::getline(ini_lines, line);) {
    if (line.rfind("[", 0) == 0) {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    auto text = line.rfind("; ", 0) == 0 ? line.substr(2) : line;
    auto eq = text.find(" = ");
    if (eq == std::string::npos || text.find(' ') < eq)
      continue;
    auto name = section + "." + text.substr(0, eq);
    (declared.count(name) > 0 ? ini : framework).insert(name);
  }
  CAF_CHECK_EQUAL(readme, declared);
  CAF_CHECK_EQUAL(ini, declared);
  // What else the ini sets must be the framework's own options.
  CAF_CHECK_EQUAL(framework,
                  (std::set<std::string>{"middleman.app-identifiers",
                                         "middleman.connection-timeout",
                                         "middleman.heartbeat-interval"}));
  // And the shipped file loads.
  auto res = load({"--config-file=" + source_dir() + "/config/herald.ini"});
  CAF_CHECK(res);
}

CAF_TEST(component settings name their key and source) {
  auto res = load(
      {}, {"HERALD_TOKEN_KEYS=dev-1:" + std::string{development_key_secret}});
  CAF_REQUIRE(res);
  auto s = read_token_settings(res->values, false);
  CAF_REQUIRE(!s);
  auto text = render(s.error());
  CAF_MESSAGE(text);
  CAF_CHECK(text.find("token.keys (from HERALD_TOKEN_KEYS)")
            != std::string::npos);
  CAF_CHECK(text.find("development key") != std::string::npos);
  CAF_CHECK(text.find(development_key_secret) == std::string::npos);
  // In dev mode the same key is taken, and HERALD_TOKEN_KEYS is the ring.
  auto dev = read_token_settings(res->values, true);
  CAF_REQUIRE(dev);
  CAF_CHECK_EQUAL(dev->keys.keys.size(), 1u);
  CAF_CHECK_EQUAL(dev->keys.keys.front().id, "dev-1");
  auto roles = load({"--herald.roles=user,admin"});
  CAF_REQUIRE(roles);
  auto node = read_node_settings(roles->values);
  CAF_REQUIRE(!node);
  CAF_CHECK(render(node.error())
                .find("herald.roles = [\"user\", \"admin\"] "
                      "(from --herald.roles): unknown role "
                      "'admin'")
            != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
