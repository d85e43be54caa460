#include "actors/jwt.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <memory>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "messages/error.hpp"

namespace herald::jwt {

namespace {

using json = nlohmann::json;

constexpr size_t mac_size = 32;

constexpr size_t max_kid_size = 64;

// -- helpers ------------------------------------------------------------------

caf::error reject(std::string why) {
  return caf::make_error(ec::unauthenticated, std::move(why));
}

caf::error bad_config(std::string why) {
  return caf::make_error(ec::invalid_argument, std::move(why));
}

/// Makes attacker-chosen text safe to put into an error message: printable
/// ASCII only, at most 32 characters.
std::string printable(std::string_view text) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < 32; ++i) {
    auto c = text[i];
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > 32)
    out += "...";
  out += "'";
  return out;
}

/// Checks one key: a kid of 1..64 characters [A-Za-z0-9._-] and a secret
/// of at least 256 bits.
caf::error check_key(const key& k) {
  auto bad_char = [](char c) { return !is_base64url_char(c) && c != '.'; };
  if (k.id.empty() || k.id.size() > max_kid_size
      || std::any_of(k.id.begin(), k.id.end(), bad_char))
    return bad_config("token key id " + printable(k.id)
                      + " must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
  if (k.secret.size() < min_secret_size) {
    // A long "id" with a short secret is likely "secret:kid" the wrong way
    // round: then the id is the secret, and must not be printed.
    auto id = k.id.size() <= 16
                  ? "'" + k.id + "'"
                  : "with a " + std::to_string(k.id.size()) + "-character id";
    return bad_config("secret of token key " + id + " has "
                      + std::to_string(k.secret.size())
                      + " bytes, at least 32 (256 bits) are required");
  }
  return caf::none;
}

/// One top-level member of a JSON object as far as herald reads it.
struct member {
  enum kind_t : uint8_t {
    absent,
    literal, // null, true or false
    string,
    unsigned_int,
    signed_int,
    floating,
    array,
    object,
  };
  kind_t kind = absent;
  std::string text;
  uint64_t u = 0;
  int64_t i = 0;
  double d = 0;
};

/// Reads a JSON object strictly and without building a DOM (nlohmann SAX):
/// the root must be an object; no object, at any depth, may name a member
/// twice, since JSON parsers disagree on which duplicate wins (RFC 7515
/// section 5.2); the values of the top-level members named in `names` land
/// in `values` (same index), every other member is checked and skipped.
/// The lexer validates UTF-8 and numbers as nlohmann's DOM parser does. If
/// `match_index` names a member, `matched` tells whether that member is an
/// array with a direct string element equal to `match`.
class object_reader {
public:
  using json_string = json::string_t;

  static constexpr size_t none = static_cast<size_t>(-1);

  object_reader(const std::string_view* names, member* values, size_t count,
                size_t match_index = none, std::string_view match = {})
      : names_(names), values_(values), count_(count),
        match_index_(match_index), match_(match) {}

  bool read(std::string_view text) {
    return json::sax_parse(text.begin(), text.end(), this) && done_;
  }

  bool matched = false;

  // -- nlohmann SAX interface ---

  bool null() { return scalar(member::literal); }

  bool boolean(bool) { return scalar(member::literal); }

  bool number_integer(json::number_integer_t x) {
    if (auto m = target())
      m->i = x;
    return scalar(member::signed_int);
  }

  bool number_unsigned(json::number_unsigned_t x) {
    if (auto m = target())
      m->u = x;
    return scalar(member::unsigned_int);
  }

  bool number_float(json::number_float_t x, const json_string&) {
    if (auto m = target())
      m->d = x;
    return scalar(member::floating);
  }

  bool string(json_string& x) {
    if (depth_ == 0)
      return false;
    if (depth_ == match_depth_ && x == match_)
      matched = true;
    if (auto m = target())
      m->text = x;
    return scalar(member::string);
  }

  bool binary(json::binary_t&) { return false; }

  bool start_object(size_t) {
    if (depth_ == 0 && done_)
      return false;
    if (depth_ > 0 && !scalar(member::object))
      return false;
    // The root's frame is a member: most tokens nest no object at all.
    if (++depth_ > 1)
      frames_.push_back(frame{keys_.size(), nullptr});
    return true;
  }

  bool key(json_string& x) {
    current_ = none;
    if (depth_ == 1)
      for (size_t i = 0; i < count_; ++i)
        if (names_[i] == x) {
          // A named member: a bit notes it, no copy of its name is kept.
          if (seen_ & (uint64_t{1} << i))
            return false;
          seen_ |= uint64_t{1} << i;
          current_ = i;
          return true;
        }
    auto& f = depth_ == 1 ? root_ : frames_.back();
    if (f.many) {
      if (!f.many->insert(x).second)
        return false;
    } else {
      for (auto i = f.first; i < keys_.size(); ++i)
        if (keys_[i] == x)
          return false;
      if (keys_.size() - f.first < max_scanned) {
        keys_.push_back(x);
      } else {
        // Many members: a hash set keeps the check linear for large input.
        f.many = std::make_unique<std::unordered_set<std::string>>(
            std::make_move_iterator(keys_.begin() + f.first),
            std::make_move_iterator(keys_.end()));
        f.many->insert(x);
        keys_.resize(f.first);
      }
    }
    return true;
  }

  bool end_object() {
    if (depth_ > 1) {
      keys_.resize(frames_.back().first);
      frames_.pop_back();
    }
    return close();
  }

  bool start_array(size_t) {
    if (depth_ == 0)
      return false;
    bool match = depth_ == 1 && current_ == match_index_ && current_ != none;
    if (!scalar(member::array))
      return false;
    ++depth_;
    if (match)
      match_depth_ = depth_;
    return true;
  }

  bool end_array() {
    if (depth_ == match_depth_)
      match_depth_ = 0;
    return close();
  }

  bool parse_error(size_t, const std::string&,
                   const nlohmann::detail::exception&) {
    return false;
  }

private:
  /// Objects with more members switch from a linear scan to a hash set.
  static constexpr size_t max_scanned = 16;

  struct frame {
    size_t first;
    std::unique_ptr<std::unordered_set<std::string>> many;
  };

  /// The member that the value being read belongs to, or nullptr.
  member* target() {
    return depth_ == 1 && current_ != none ? &values_[current_] : nullptr;
  }

  /// Notes the kind of a value; only an object may stand at the root.
  bool scalar(member::kind_t kind) {
    if (depth_ == 0)
      return false;
    if (auto m = target()) {
      m->kind = kind;
      current_ = none;
    }
    return true;
  }

  bool close() {
    if (--depth_ == 0)
      done_ = true;
    return true;
  }

  const std::string_view* names_;
  member* values_;
  size_t count_;
  size_t match_index_;
  std::string_view match_;
  size_t depth_ = 0;
  size_t match_depth_ = 0;
  size_t current_ = none;
  bool done_ = false;
  /// Which of `names` (at most 64) the root object has named so far.
  uint64_t seen_ = 0;
  /// Names of the other members of every open object, innermost last.
  std::vector<std::string> keys_;
  frame root_{0, nullptr};
  /// The open objects below the root.
  std::vector<frame> frames_;
};

/// An HMAC-SHA256 context keyed once: initialising it again without a key
/// keeps the key, which skips fetching the algorithm and hashing the key.
struct prepared_mac {
  std::string secret;
  EVP_MAC_CTX* ctx = nullptr;

  prepared_mac() = default;
  prepared_mac(const prepared_mac&) = delete;
  prepared_mac& operator=(const prepared_mac&) = delete;

  ~prepared_mac() { reset(); }

  void reset() {
    EVP_MAC_CTX_free(ctx);
    ctx = nullptr;
    OPENSSL_cleanse(secret.data(), secret.size());
    secret.clear();
  }
};

/// Returns this thread's context keyed with `secret` (a few keys per thread,
/// the oldest replaced), or nullptr if OpenSSL fails.
EVP_MAC_CTX* mac_context(std::string_view secret) {
  constexpr size_t slots = 4;
  thread_local prepared_mac cache[slots];
  thread_local size_t next = 0;
  for (auto& p : cache)
    if (p.ctx != nullptr && p.secret == secret)
      return p.ctx;
  auto& p = cache[next];
  next = (next + 1) % slots;
  p.reset();
  auto mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr)
    return nullptr;
  p.ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  if (p.ctx == nullptr)
    return nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(p.ctx, reinterpret_cast<const unsigned char*>(secret.data()),
                   secret.size(), params)
      != 1) {
    p.reset();
    return nullptr;
  }
  p.secret = std::string{secret};
  return p.ctx;
}

bool hmac_sha256(std::string_view secret, std::string_view data,
                 unsigned char (&out)[mac_size]) {
  auto ctx = mac_context(secret);
  size_t len = 0;
  return ctx != nullptr && EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1
         && EVP_MAC_update(ctx,
                           reinterpret_cast<const unsigned char*>(data.data()),
                           data.size())
                == 1
         && EVP_MAC_final(ctx, out, &len, mac_size) == 1 && len == mac_size;
}

// The refusals of a token's times, the same from check_claims and
// check_times.
caf::error expired_error() {
  return caf::make_error(ec::expired, std::string{"token has expired"});
}

caf::error not_yet_error() {
  return reject("token is not valid yet (nbf)");
}

caf::error future_error() {
  return reject("token was issued in the future (iat)");
}

/// Reads a NumericDate: a JSON number, fractions rounded down.
bool numeric_date(const member& v, int64_t& out) {
  if (v.kind == member::unsigned_int) {
    if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return false;
    out = static_cast<int64_t>(v.u);
    return true;
  }
  if (v.kind == member::signed_int) {
    out = v.i;
    return true;
  }
  if (v.kind == member::floating) {
    auto x = std::floor(v.d);
    if (!std::isfinite(x) || x < -9.2e18 || x > 9.2e18)
      return false;
    out = static_cast<int64_t>(x);
    return true;
  }
  return false;
}

/// Reads a canonical decimal user id: digits only, no leading zero, > 0.
bool user_id(const member& v, uint64_t& out) {
  if (v.kind != member::string)
    return false;
  auto& s = v.text;
  if (s.empty() || s.size() > 20 || s[0] == '0')
    return false;
  uint64_t x = 0;
  for (auto c : s) {
    if (c < '0' || c > '9')
      return false;
    auto digit = static_cast<uint64_t>(c - '0');
    if (x > (std::numeric_limits<uint64_t>::max() - digit) / 10)
      return false;
    x = x * 10 + digit;
  }
  out = x;
  return true;
}

/// The parts of a compact JWS after the header checks that every key
/// selection shares.
struct parsed_token {
  std::string_view signing_input;
  std::string_view payload_b64;
  std::string_view signature_b64;
  /// Empty if the header has no kid.
  std::string kid;
};

caf::expected<parsed_token> parse(std::string_view token, size_t max_size) {
  if (token.size() > max_size)
    return reject("token is too large (" + std::to_string(token.size())
                  + " bytes, at most " + std::to_string(max_size) + ")");
  if (token.empty())
    return reject("token is empty");
  auto first = token.find('.');
  auto second
      = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos
      || token.find('.', second + 1) != std::string_view::npos) {
    auto dots = std::count(token.begin(), token.end(), '.');
    return reject("token is malformed: expected three segments, found "
                  + std::to_string(dots + 1));
  }
  parsed_token result;
  result.signing_input = token.substr(0, second);
  result.payload_b64 = token.substr(first + 1, second - first - 1);
  result.signature_b64 = token.substr(second + 1);
  // The header a thread accepted last: every token of one signing key has
  // the same one, and the checks below depend on its bytes only.
  struct accepted_header {
    std::string text;
    std::string kid;
  };
  thread_local accepted_header last;
  auto header_b64 = token.substr(0, first);
  if (!last.text.empty() && header_b64 == last.text) {
    result.kid = last.kid;
    return result;
  }
  std::string header_text;
  if (!base64url_decode(header_b64, header_text))
    return reject("token is malformed: header is not base64url");
  static constexpr std::string_view names[] = {"alg", "typ", "crit", "kid"};
  member header[std::size(names)];
  auto& [alg, typ, crit, kid] = header;
  if (!object_reader{names, header, std::size(names)}.read(header_text))
    return reject("token is malformed: header is not a JSON object with "
                  "unique members");
  if (alg.kind == member::absent)
    return reject("token header has no alg");
  if (alg.kind != member::string)
    return reject("token header alg is not a string");
  if (alg.text != "HS256")
    return reject("unsupported alg " + printable(alg.text)
                  + ", only HS256 is accepted");
  if (typ.kind != member::absent
      && (typ.kind != member::string || typ.text != "JWT"))
    return reject("unsupported typ, only JWT is accepted");
  if (crit.kind != member::absent)
    return reject("token header has crit extensions, none are supported");
  if (kid.kind != member::absent) {
    if (kid.kind != member::string)
      return reject("token header kid is not a string");
    result.kid = std::move(kid.text);
  }
  if (header_b64.size() <= 256) {
    last.text.assign(header_b64.data(), header_b64.size());
    last.kid = result.kid;
  }
  return result;
}

caf::expected<verified> check_mac(const parsed_token& t, const key& k) {
  // The length is public (always 32 for HS256): a signature of another
  // length fails without decoding more than fits.
  unsigned char received[mac_size];
  std::string other_size;
  bool right_size = t.signature_b64.size() % 4 != 1
                    && base64url_decoded_size(t.signature_b64) == mac_size;
  if (right_size ? !base64url_decode(t.signature_b64, received)
                 : !base64url_decode(t.signature_b64, other_size))
    return reject("token is malformed: signature is not base64url");
  unsigned char expected[mac_size];
  if (!hmac_sha256(k.secret, t.signing_input, expected))
    return caf::make_error(ec::internal, std::string{"HMAC-SHA256 failed"});
  // The bytes are compared in constant time so a forger learns nothing from
  // the timing.
  if (!right_size || CRYPTO_memcmp(received, expected, mac_size) != 0)
    return reject("token signature does not verify");
  verified result;
  if (!base64url_decode(t.payload_b64, result.payload))
    return reject("token is malformed: payload is not base64url");
  result.key_id = t.kid;
  return result;
}

} // namespace

// -- keys ---------------------------------------------------------------------

const key* key_ring::find(std::string_view id) const {
  for (auto& k : keys)
    if (k.id == id)
      return &k;
  return nullptr;
}

caf::expected<key> parse_key(std::string_view spec) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos)
    return bad_config("token key must be given as 'kid:base64url-secret'");
  key result;
  result.id = std::string{spec.substr(0, colon)};
  if (!base64url_decode(spec.substr(colon + 1), result.secret))
    return bad_config("secret of token key " + printable(result.id)
                      + " is not unpadded base64url");
  if (auto err = check_key(result))
    return err;
  return result;
}

caf::error check(const key_ring& ring) {
  if (ring.keys.empty())
    return bad_config("no token keys configured");
  std::set<std::string> ids;
  for (auto& k : ring.keys) {
    if (auto err = check_key(k))
      return err;
    if (!ids.insert(k.id).second)
      return bad_config("token key id '" + k.id + "' appears twice");
  }
  return caf::none;
}

caf::expected<key_ring> parse_key_ring(const std::vector<std::string>& specs) {
  key_ring ring;
  for (auto& spec : specs) {
    auto k = parse_key(spec);
    if (!k)
      return std::move(k.error());
    ring.keys.push_back(std::move(*k));
  }
  if (auto err = check(ring))
    return err;
  return ring;
}

// -- policy -------------------------------------------------------------------

caf::error check(const policy& p) {
  if (p.issuer.empty())
    return bad_config("token issuer must not be empty");
  if (p.audience.empty())
    return bad_config("token audience must not be empty");
  if (p.ttl.count() <= 0 || p.ttl > std::chrono::hours{24})
    return bad_config("token ttl must be between 1s and 24h");
  if (p.leeway.count() < 0 || p.leeway > max_leeway)
    return bad_config("token leeway must be between 0s and 60s");
  if (p.max_size < 256 || p.max_size > 65536)
    return bad_config("token max size must be between 256 and 65536 bytes");
  return caf::none;
}

// -- signing and verification -------------------------------------------------

std::string sign(std::string_view header_json, std::string_view payload_json,
                 const key& k) {
  if (k.secret.size() < min_secret_size)
    return {};
  auto input
      = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  unsigned char mac[mac_size];
  if (!hmac_sha256(k.secret, input, mac))
    return {};
  auto sig = base64url_encode(
      std::string_view{reinterpret_cast<const char*>(mac), mac_size});
  return input + "." + sig;
}

caf::expected<verified> verify_signature(std::string_view token,
                                         const key_ring& ring,
                                         size_t max_size) {
  auto t = parse(token, max_size);
  if (!t)
    return std::move(t.error());
  if (t->kid.empty())
    return reject("token header has no kid");
  auto k = ring.find(t->kid);
  if (k == nullptr)
    return reject("unknown key id " + printable(t->kid));
  return check_mac(*t, *k);
}

caf::expected<verified> verify_signature(std::string_view token, const key& k,
                                         size_t max_size) {
  if (k.secret.size() < min_secret_size)
    return bad_config("verification key is shorter than 32 bytes");
  auto t = parse(token, max_size);
  if (!t)
    return std::move(t.error());
  if (!t->kid.empty() && t->kid != k.id)
    return reject("unknown key id " + printable(t->kid));
  return check_mac(*t, k);
}

caf::expected<claims> check_claims(std::string_view payload_json,
                                   const policy& p, int64_t now) {
  static constexpr std::string_view names[]
      = {"exp", "nbf", "iss", "aud", "iat", "sub", "ver", "jti", "role"};
  member body[std::size(names)];
  auto& [exp, nbf, iss, aud, iat, sub, ver, jti, role] = body;
  object_reader reader{names, body, std::size(names), 3, p.audience};
  if (!reader.read(payload_json))
    return reject("token is malformed: payload is not a JSON object with "
                  "unique members");
  auto leeway = static_cast<int64_t>(p.leeway.count());
  claims result;
  // -- time ---
  if (exp.kind == member::absent)
    return reject("token has no exp");
  if (!numeric_date(exp, result.expires_at))
    return reject("token exp is not a number");
  if (result.expires_at <= now - leeway)
    return expired_error();
  if (nbf.kind != member::absent) {
    if (!numeric_date(nbf, result.not_before))
      return reject("token nbf is not a number");
    if (result.not_before > now + leeway)
      return not_yet_error();
  }
  // -- who issued it, for whom ---
  if (iss.kind != member::string || iss.text != p.issuer)
    return reject("token issuer is not " + printable(p.issuer));
  result.issuer = p.issuer;
  // `aud` is the audience or an array with it as a direct element.
  bool for_us = (aud.kind == member::string && aud.text == p.audience)
                || (aud.kind == member::array && reader.matched);
  if (!for_us)
    return reject("token audience does not include " + printable(p.audience));
  result.audience = p.audience;
  if (iat.kind == member::absent)
    return reject("token has no iat");
  if (!numeric_date(iat, result.issued_at))
    return reject("token iat is not a number");
  if (result.issued_at > now + leeway)
    return future_error();
  if (nbf.kind == member::absent)
    result.not_before = result.issued_at;
  // -- whom it is about ---
  if (!user_id(sub, result.subject))
    return reject("token sub is not a decimal user id");
  // The parser reports every non-negative integer as unsigned.
  if (ver.kind != member::unsigned_int
      || ver.u > std::numeric_limits<uint32_t>::max())
    return reject("token ver is not a token version (0 to 2^32-1)");
  result.token_version = static_cast<uint32_t>(ver.u);
  if (jti.kind != member::string || jti.text.empty())
    return reject("token has no jti");
  result.jwt_id = std::move(jti.text);
  if (role.kind != member::absent) {
    if (role.kind != member::string)
      return reject("token role is not a string");
    result.role = std::move(role.text);
  }
  return result;
}

caf::error check_times(const claims& c, const policy& p, int64_t now) {
  auto leeway = static_cast<int64_t>(p.leeway.count());
  if (c.expires_at <= now - leeway)
    return expired_error();
  if (c.not_before > now + leeway)
    return not_yet_error();
  if (c.issued_at > now + leeway)
    return future_error();
  return caf::none;
}

bool mac_matches(const key& k, std::string_view input,
                 const unsigned char* mac) {
  unsigned char expected[mac_size];
  return hmac_sha256(k.secret, input, expected)
         && CRYPTO_memcmp(mac, expected, mac_size) == 0;
}

caf::expected<claims> validate(std::string_view token, const key_ring& ring,
                               const policy& p, int64_t now) {
  auto v = verify_signature(token, ring, p.max_size);
  if (!v)
    return std::move(v.error());
  auto result = check_claims(v->payload, p, now);
  if (result)
    result->key_id = std::move(v->key_id);
  return result;
}

// -- issuing ------------------------------------------------------------------

std::string random_jti() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1)
    return {};
  return base64url_encode(
      std::string_view{reinterpret_cast<const char*>(bytes), sizeof(bytes)});
}

caf::expected<issued_token> issue(const user& u, const key_ring& ring,
                                  const policy& p, int64_t now,
                                  const std::string& jti) {
  if (u.id == 0)
    return bad_config("cannot issue a token for user id 0");
  if (ring.keys.empty())
    return caf::make_error(ec::internal, std::string{"no token signing key"});
  if (jti.empty())
    return caf::make_error(ec::internal, std::string{"no token id (jti)"});
  auto& k = ring.keys.front();
  auto exp = now + static_cast<int64_t>(p.ttl.count());
  json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", k.id}};
  json body = {{"iss", p.issuer},
               {"aud", p.audience},
               {"sub", std::to_string(u.id)},
               {"iat", now},
               {"nbf", now},
               {"exp", exp},
               {"jti", jti},
               {"ver", u.token_version},
               {"role", u.role}};
  // `replace` keeps dump() from throwing on invalid UTF-8 in a role.
  auto replace = json::error_handler_t::replace;
  auto token = sign(header.dump(-1, ' ', false, replace),
                    body.dump(-1, ' ', false, replace), k);
  if (token.empty())
    return caf::make_error(ec::internal, std::string{"signing failed"});
  return issued_token{std::move(token), exp};
}

} // namespace herald::jwt
