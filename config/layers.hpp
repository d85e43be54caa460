// Loading a configuration in layers: each option's default, then the config
// file, then the environment, then the command line. Every value is checked
// where it enters, and every error names the key, where the value came from
// and what was expected.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <caf/config_option_set.hpp>
#include <caf/expected.hpp>

#include "config/options.hpp"

namespace herald::config {

/// CAF's own options (middleman, scheduler, openssl, ...): accepted in every
/// layer like herald's, checked by CAF's declarations and handed to CAF.
struct framework_options {
  const caf::config_option_set* declared = nullptr;
  /// Stores a checked value in the actor system's config.
  std::function<void(const std::string& name, const caf::config_value&)> apply;
  /// The value an option has in the actor system's config (nullptr if
  /// none), for --dump-config.
  std::function<const caf::config_value*(const std::string& name)> current;
};

/// What a program gets from load().
struct loaded {
  configuration values;
  /// HERALD_* variables that name no option, sorted: the caller warns about
  /// them once and otherwise ignores them.
  std::vector<std::string> unknown_variables;
  /// --help, --long-help or --dump-config printed what was asked: exit 0.
  bool printed = false;
};

/// Everything load() reads.
struct sources {
  /// argv[1..].
  std::vector<std::string> args;
  /// NAME=value entries (like `environ`).
  std::vector<std::string> environment;
  /// The file read when neither --config-file nor HERALD_CONFIG_FILE names
  /// one; skipped if it does not exist.
  std::string default_file;
  /// The program's name in --help.
  std::string program = "herald-node";
};

/// Loads `options` (and CAF's, through `framework`) from `src`. Prints
/// help or the merged configuration to `out` when asked to.
caf::expected<loaded> load(const std::vector<option>& options,
                           const framework_options& framework,
                           const sources& src, std::ostream& out);

/// The environment variable a CAF option would have ("HERALD_MIDDLEMAN_
/// HEARTBEAT_INTERVAL").
std::string variable_of(const std::string& section, const std::string& key);

/// NAME=value entries of a NULL-terminated array like `environ`.
std::vector<std::string> environment_of(char** env);

} // namespace herald::config
