// The token component: [token], the validating and revoking token service.
// The session component signs with the same section's keys and policy. The
// token actor validates through a token_verifier that the spawn publishes
// in the component context, for validators outside actors (the HTTP
// gateway's I/O threads) to share its key ring and version cache.
#include <memory>
#include <sstream>

#include "actors/token.hpp"
#include "actors/token_verifier.hpp"
#include "node/catalogue.hpp"

namespace herald {

namespace {

/// [token] as configured.
struct token_options {
  std::string issuer = "herald";
  std::string audience = "herald";
  std::chrono::seconds ttl = jwt::policy{}.ttl;
  std::chrono::seconds leeway = jwt::policy{}.leeway;
  std::vector<std::string> keys;
  std::string keys_file;
  std::chrono::seconds version_cache_ttl{30};
};

const config::section<token_options>& token_section() {
  using std::chrono::seconds;
  static const auto s
      = config::section<token_options>{"token"}
            .add(&token_options::issuer, "issuer",
                 "iss of issued tokens, required on validation")
            .add(&token_options::audience, "audience",
                 "aud of issued tokens, required on validation")
            .add(&token_options::ttl, "ttl", "lifetime of issued tokens")
            .range(seconds{1}, seconds{86400})
            .add(&token_options::leeway, "leeway",
                 "clock skew tolerated for exp and nbf")
            .range(seconds{0}, seconds{60})
            .add(&token_options::keys, "keys",
                 "signing keys as kid:secret (secret: base64url of at least "
                 "32 random bytes); the first signs, all verify")
            .secret()
            .add(&token_options::keys_file, "keys-file",
                 "file with one kid:secret per line (used instead of keys)")
            .add(&token_options::version_cache_ttl, "version-cache-ttl",
                 "how long a user's token version is trusted from cache on "
                 "this node")
            .range(seconds{0}, seconds{3600});
  return s;
}

} // namespace

const char* development_key_secret
    = "ZGV2ZWxvcG1lbnQtb25seS1rZXktZG8tbm90LXVzZS1pbi1wcm9kdWN0aW9u";

caf::expected<token_settings>
read_token_settings(const config::configuration& cfg, bool dev_mode) {
  auto s = token_section().read(cfg);
  auto keys_from = std::string{"token.keys"};
  if (!s.keys_file.empty()) {
    auto content
        = config::read_secret_file(cfg, "token.keys-file", s.keys_file);
    if (!content)
      return std::move(content.error());
    s.keys.clear();
    std::istringstream lines{*content};
    for (std::string line; std::getline(lines, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.pop_back();
      if (!line.empty() && line[0] != '#')
        s.keys.push_back(line);
    }
    keys_from = "token.keys-file";
  }
  if (s.keys.empty())
    return cfg.invalid(keys_from, "no signing key configured");
  for (auto& spec : s.keys) {
    auto colon = spec.find(':');
    if (colon != std::string::npos
        && spec.substr(colon + 1) == development_key_secret && !dev_mode)
      return cfg.invalid(keys_from,
                         "key '" + spec.substr(0, colon)
                             + "' is the public development key; configure "
                               "a real key (HERALD_TOKEN_KEYS or "
                               "token.keys-file) or start with "
                               "--herald.dev-mode");
  }
  if (s.issuer.empty())
    return cfg.invalid("token.issuer", "must not be empty");
  if (s.audience.empty())
    return cfg.invalid("token.audience", "must not be empty");
  token_settings result;
  auto ring = jwt::parse_key_ring(s.keys);
  if (!ring)
    return cfg.invalid(keys_from, message_of(ring.error()));
  result.keys = std::move(*ring);
  result.policy.issuer = s.issuer;
  result.policy.audience = s.audience;
  result.policy.ttl = s.ttl;
  result.policy.leeway = s.leeway;
  result.version_cache_ttl = s.version_cache_ttl;
  if (auto err = check(result))
    return cfg.invalid(keys_from, message_of(err));
  return result;
}

const std::vector<config::option>& token_options_declared() {
  static const auto opts = options_of(token_section());
  return opts;
}

component token_component() {
  return checked_by(
      component{"token",
                {{"token"}, {}},
                {"storage"},
                token_options_declared(),
                [](component_context& ctx) -> caf::expected<caf::actor> {
                  auto s = read_token_settings(ctx.cfg, ctx.node.dev_mode);
                  if (!s)
                    return std::move(s.error());
                  s->drain_grace = ctx.node.stop_timeout;
                  auto verifier
                      = std::make_shared<token_verifier>(std::move(*s));
                  // Revocations made here reach the other members'
                  // token caches through the node's token router.
                  auto hdl = ctx.sys.spawn(
                      clustered_token_service, verifier,
                      ctx.get<storage_actor>("storage"),
                      ctx.routed.count("token") > 0
                          ? caf::actor_cast<token_actor>(ctx.routed.at("token"))
                          : token_actor{});
                  ctx.verifier = std::move(verifier);
                  return caf::actor_cast<caf::actor>(hdl);
                }},
      [](const component_context& ctx) {
        return read_token_settings(ctx.cfg, ctx.node.dev_mode);
      });
}

} // namespace herald
