#include "node/cluster_security.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <caf/actor_system_config.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>

#include "config/addresses.hpp"
#include "messages/error.hpp"

namespace herald {

namespace {

caf::error invalid(std::string what) {
  return caf::make_error(ec::invalid_argument, std::move(what));
}

/// OpenSSL's queued errors as one line (and the queue emptied).
std::string openssl_errors() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out += (out.empty() ? "" : "; ") + std::string{buf};
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

/// "" if `path` can be opened for reading, else why not.
std::string unreadable(const std::string& path) {
  auto f = std::fopen(path.c_str(), "r");
  if (f == nullptr)
    return std::strerror(errno);
  std::fclose(f);
  return {};
}

/// Answers the passphrase, or nothing (OpenSSL's own default would prompt
/// on the terminal, which a node under a supervisor does not have).
int passphrase_cb(char* buf, int size, int, void* user) {
  auto& text = *static_cast<const std::string*>(user);
  if (text.empty() || size <= 0 || text.size() >= static_cast<size_t>(size))
    return 0;
  std::memcpy(buf, text.data(), text.size());
  return static_cast<int>(text.size());
}

std::string subject_of(X509* cert) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  return buf;
}

/// Whole days from `now` to `t` (negative: in the past) and whether `t`
/// is after `now`.
struct distance {
  int days = 0;
  bool after = false;
};

distance distance_to(const ASN1_TIME* t, std::time_t now) {
  distance d;
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> at{
    ASN1_TIME_set(nullptr, now), ASN1_TIME_free};
  int days = 0;
  int secs = 0;
  if (at && ASN1_TIME_diff(&days, &secs, at.get(), t) == 1) {
    d.days = days;
    d.after = days > 0 || (days == 0 && secs > 0);
  }
  return d;
}

/// An error if `cert` is not valid at `now`; a warning if it expires
/// within `warn_within`.
caf::error check_validity(X509* cert, const std::string& what,
                          std::time_t now, std::chrono::seconds warn_within,
                          std::vector<std::string>& warnings) {
  auto name = subject_of(cert);
  auto not_before = distance_to(X509_get0_notBefore(cert), now);
  if (not_before.after)
    return invalid(what + " (" + name + ") is not valid yet (valid from "
                   + std::to_string(not_before.days)
                   + " day(s) from now): check the clock or the certificate");
  auto not_after = distance_to(X509_get0_notAfter(cert), now);
  if (!not_after.after)
    return invalid(what + " (" + name + ") has expired"
                   + (not_after.days < 0 ? " " + std::to_string(-not_after.days)
                                             + " day(s) ago"
                                         : "")
                   + ": make a new one (scripts/cluster-ca)");
  auto left = std::chrono::hours{24} * not_after.days;
  if (left <= warn_within)
    warnings.push_back(what + " (" + name + ") expires in "
                       + std::to_string(not_after.days)
                       + " day(s): renew it before then, peers refuse an "
                         "expired certificate");
  return caf::none;
}

using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
using store_ctx_ptr
  = std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)>;

} // namespace

bool tls_files::any() const {
  return !certificate.empty() || !key.empty() || !cafile.empty()
         || !passphrase.empty() || !capath.empty();
}

tls_files tls_files_of(const caf::actor_system_config& cfg) {
  tls_files f;
  f.certificate = cfg.openssl_certificate;
  f.key = cfg.openssl_key;
  f.cafile = cfg.openssl_cafile;
  f.passphrase = cfg.openssl_passphrase;
  f.capath = cfg.openssl_capath;
  return f;
}

caf::expected<bool> tls_configured(const tls_files& f) {
  if (!f.any())
    return false;
  std::string missing;
  auto need = [&](const std::string& value, const std::string& name) {
    if (value.empty())
      missing += (missing.empty() ? "" : ", ") + name;
  };
  need(f.certificate, f.certificate_name);
  need(f.key, f.key_name);
  need(f.cafile, f.cafile_name);
  if (missing.empty())
    return true;
  std::string set;
  auto have = [&](const std::string& value, const std::string& name) {
    if (!value.empty())
      set += (set.empty() ? "" : ", ") + name;
  };
  have(f.certificate, f.certificate_name);
  have(f.key, f.key_name);
  have(f.cafile, f.cafile_name);
  have(f.passphrase, f.passphrase_name);
  have(f.capath, f.capath_name);
  return invalid("TLS needs " + f.certificate_name + ", " + f.key_name
                 + " and " + f.cafile_name + " together (or none of them, "
                 + "for plaintext on loopback); " + set + " set but "
                 + missing + " missing");
}

caf::expected<std::vector<std::string>>
check_tls_files(const tls_files& f, tls_role role, std::time_t now,
                std::chrono::seconds warn_within) {
  std::vector<std::string> warnings;
  for (auto [path, name] : {std::pair{&f.certificate, &f.certificate_name},
                            std::pair{&f.key, &f.key_name},
                            std::pair{&f.cafile, &f.cafile_name}})
    if (auto why = unreadable(*path); !why.empty())
      return invalid(*name + " = " + *path + ": cannot be read (" + why
                     + ")");
  ERR_clear_error();
  ctx_ptr ctx{SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    return invalid("cannot create an OpenSSL context: " + openssl_errors());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), f.certificate.c_str())
      != 1)
    return invalid(f.certificate_name + " = " + f.certificate
                   + ": not a PEM certificate (chain): " + openssl_errors());
  // The key is read apart from the context so that a key of another
  // certificate is told apart from a key that cannot be read.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{
    BIO_new_file(f.key.c_str(), "r"), BIO_free};
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{
    bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, passphrase_cb,
                                  const_cast<std::string*>(&f.passphrase))
        : nullptr,
    EVP_PKEY_free};
  if (!pkey)
    return invalid(f.key_name + " = " + f.key
                   + ": cannot load the private key (a PEM key; if it is "
                     "encrypted, "
                   + f.passphrase_name
                   + " must hold its passphrase): " + openssl_errors());
  if (X509_check_private_key(SSL_CTX_get0_certificate(ctx.get()), pkey.get())
        != 1
      || SSL_CTX_use_PrivateKey(ctx.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return invalid(f.key_name + " = " + f.key + " does not belong to "
                   + f.certificate_name + " = " + f.certificate);
  }
  auto capath = f.capath.empty() ? nullptr : f.capath.c_str();
  if (SSL_CTX_load_verify_locations(ctx.get(), f.cafile.c_str(), capath) != 1)
    return invalid(f.cafile_name + " = " + f.cafile
                   + ": cannot load CA certificates: " + openssl_errors());
  auto leaf = SSL_CTX_get0_certificate(ctx.get());
  if (auto err = check_validity(leaf, f.certificate_name, now, warn_within,
                                warnings))
    return err;
  auto store = SSL_CTX_get_cert_store(ctx.get());
  auto objects = X509_STORE_get0_objects(store);
  int cas = 0;
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    auto cert = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
    if (cert == nullptr)
      continue;
    ++cas;
    if (auto err = check_validity(cert, "a CA certificate of " + f.cafile_name,
                                  now, warn_within, warnings))
      return err;
  }
  if (cas == 0 && capath == nullptr)
    return invalid(f.cafile_name + " = " + f.cafile
                   + " holds no certificate");
  // The same check a peer makes: our certificate must chain to the
  // cluster's CA, for each use this side makes of it.
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx.get(), &chain);
  std::vector<std::pair<int, const char*>> uses{
    {X509_PURPOSE_SSL_CLIENT, "making connections (TLS client)"}};
  if (role == tls_role::node)
    uses.emplace_back(X509_PURPOSE_SSL_SERVER,
                      "accepting connections (TLS server)");
  for (auto [purpose, use] : uses) {
    store_ctx_ptr sctx{X509_STORE_CTX_new(), X509_STORE_CTX_free};
    if (!sctx || X509_STORE_CTX_init(sctx.get(), store, leaf, chain) != 1)
      return invalid("cannot check the certificate chain: "
                     + openssl_errors());
    X509_STORE_CTX_set_purpose(sctx.get(), purpose);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(sctx.get()), now);
    if (X509_verify_cert(sctx.get()) != 1) {
      auto code = X509_STORE_CTX_get_error(sctx.get());
      return invalid(f.certificate_name + " = " + f.certificate
                     + " is not accepted by " + f.cafile_name + " = "
                     + f.cafile + " for " + use + ": "
                     + X509_verify_cert_error_string(code)
                     + " (peers check it against the same CA)");
    }
  }
  struct stat st {};
  if (::stat(f.key.c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o",
                  static_cast<unsigned>(st.st_mode & 07777));
    warnings.push_back(f.key_name + " = " + f.key
                       + " can be read by other users (mode " + mode
                       + "): chmod 600 it");
  }
  ERR_clear_error();
  return warnings;
}

caf::error check_cluster_exposure(const std::string& host, bool tls,
                                  bool allow_plaintext, bool dev_mode) {
  if (allow_plaintext && !dev_mode)
    return invalid("cluster.allow-plaintext is refused outside dev mode "
                   "(herald.dev-mode): between machines the cluster needs "
                   "mutual TLS (openssl.certificate, openssl.key, "
                   "openssl.cafile; see the README's Cluster security)");
  if (tls || allow_plaintext || config::is_loopback_host(host))
    return caf::none;
  auto shown = host.empty() ? std::string{"\"\" (every interface)"} : host;
  return invalid("cluster.host = " + shown
                 + " is not a loopback address and no TLS is configured: "
                   "anyone who reaches it could call every service of the "
                   "node. Configure openssl.certificate, openssl.key and "
                   "openssl.cafile (scripts/cluster-ca makes them), or keep "
                   "the cluster port on 127.0.0.1");
}

} // namespace herald
