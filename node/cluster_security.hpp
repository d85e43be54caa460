// Who may reach a node's cluster port: mutual TLS with certificates of a CA
// made only for the cluster (caf_openssl checks the chain, never a name),
// or plaintext on loopback. The checks here run before the actor system
// starts, so a bad file is a clear configuration error instead of CAF
// aborting in its multiplexer thread at the first connection (it loads the
// files again for every connection and raises on failure).
//
// No logging here: herald-node and heraldctl both use it and print the
// warnings their own way.
#pragma once

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace caf {
class actor_system_config;
} // namespace caf

namespace herald {

/// CAF's `openssl.*` options (heraldctl fills them from its own flags).
struct tls_files {
  std::string certificate;
  std::string key;
  std::string cafile;
  std::string passphrase;
  /// CAF also takes a folder of CA certificates; herald accepts it only
  /// beside a cafile.
  std::string capath;

  /// The names the messages use for each field ("openssl.certificate" for
  /// the node, "--tls-certificate" for heraldctl).
  std::string certificate_name = "openssl.certificate";
  std::string key_name = "openssl.key";
  std::string cafile_name = "openssl.cafile";
  std::string passphrase_name = "openssl.passphrase";
  std::string capath_name = "openssl.capath";

  /// Whether any of the fields is set.
  bool any() const;
};

/// The files a system config holds (what CAF will use).
tls_files tls_files_of(const caf::actor_system_config& cfg);

/// Whether TLS is configured: false if nothing is set, true if certificate,
/// key and cafile are; `invalid_argument` naming what is missing for a
/// partial set (CAF would abort or run an unauthenticated mode).
caf::expected<bool> tls_configured(const tls_files& files);

/// Which side of a connection a certificate must be good for.
enum class tls_role {
  /// A node: accepts connections and makes them (server and client use).
  node,
  /// heraldctl: only makes connections.
  client,
};

/// Loads the files as CAF will (certificate chain, key with the passphrase,
/// CA file), checks that the key belongs to the certificate, that the
/// certificate chains to the CA file for `role` and that every certificate
/// (own and CA) is valid at `now`. Answers the warnings: certificates that
/// expire within `warn_within`, a key file others may read. An error
/// (`invalid_argument`, naming the option) for a file that cannot be used,
/// an expired or not yet valid certificate.
caf::expected<std::vector<std::string>>
check_tls_files(const tls_files& files, tls_role role, std::time_t now,
                std::chrono::seconds warn_within = std::chrono::hours{24 * 30});

/// The guard rails of the cluster port: without TLS only a loopback
/// `cluster.host`, unless `cluster.allow-plaintext`, which needs dev mode.
caf::error check_cluster_exposure(const std::string& host, bool tls,
                                  bool allow_plaintext, bool dev_mode);

} // namespace herald
