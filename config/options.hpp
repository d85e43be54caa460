// herald's options: each is declared once, in the component that reads it,
// as a field of that component's settings struct. Its INI key
// (`[section] key`), its flag (`--section.key=value`) and its environment
// variable (`HERALD_SECTION_KEY`; options of [herald] drop the section:
// `HERALD_ROLES`) are derived from that one declaration, and so are its
// default (the field's initial value), its help line and the checks of its
// type and range. config/layers.hpp merges file, environment and flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/config_value.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>

namespace herald::config {

/// What an option holds; decides its syntax in each layer.
enum class kind : uint8_t {
  /// Any text; quoted in the file, as is in a variable or flag.
  text,
  /// true or false (a bare flag means true).
  flag,
  /// A whole number in [min, max].
  number,
  /// A duration with its unit (500ms, 30s, 15min, 1h) in [min, max].
  duration,
  /// Texts: ["a", "b"] anywhere, or a,b in a variable or flag.
  list,
};

/// What `kind` expects, for error messages: "a duration such as 30s".
std::string describe(kind k);

/// One declared option.
struct option {
  std::string section;
  std::string key;
  std::string help;
  kind type = kind::text;
  /// The default, in CAF's config format.
  caf::config_value fallback;
  /// Bounds of a number, or of a duration in nanoseconds.
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
  /// Never printed: passwords, keys, URLs that may carry credentials.
  bool secret = false;

  /// "section.key"
  std::string name() const;
  /// "--section.key"
  std::string flag() const;
  /// "HERALD_SECTION_KEY" ("HERALD_KEY" in [herald]); dashes become '_'.
  std::string variable() const;
};

/// Turns text from a variable or a flag into the option's value, or says
/// what was expected (without repeating a secret).
caf::expected<caf::config_value> parse_text(const option& opt,
                                            const std::string& text);

/// Checks a value read from the config file (CAF's INI syntax) against the
/// option and returns it in the form readers expect (a single text given to
/// a list becomes a list of one).
caf::expected<caf::config_value> check_value(const option& opt,
                                             caf::config_value value);

/// A value in CAF's config syntax, as caf::to_string writes it, except
/// durations: CAF 0.17.6 prints 2h, 12h and 36h as "0d", "0d" and "1d";
/// here a duration is the largest of h, min, s, ms, us, ns that divides it
/// ("12h", "90s"), which reads back as the same value.
std::string to_text(const caf::config_value& value);

/// How a value is shown in messages: "<hidden>" for secrets.
std::string show(const option& opt, const caf::config_value& value);

/// The merged configuration a node starts from: every option's value and
/// where it came from.
class configuration {
public:
  /// Value of "section.key"; the option's default if nothing set it.
  const caf::config_value* find(const std::string& name) const;

  /// Where the value of "section.key" came from: "default", the config
  /// file's path, "HERALD_MYSQL_PORT" or "--mysql.port".
  std::string origin(const std::string& name) const;

  /// The error for a value that is well-formed but not acceptable:
  /// "mysql.pool-size = 0 (from HERALD_MYSQL_POOL_SIZE): must be 1 to 64".
  caf::error invalid(const std::string& name, const std::string& what) const;

  /// Sets a value (used by the layers; tests build configurations with it).
  void set(const option& opt, caf::config_value value, std::string origin);

  /// Declares an option with its default (done for every option first).
  void declare(const option& opt);

  const std::map<std::string, option>& options() const { return options_; }

  /// The config file read ("" if none) and its folder.
  std::string file;
  std::string file_dir;

  /// The path option `name` holds, resolved: a relative path written in the
  /// config file (or a default, when there is a file) is relative to the
  /// file's folder; one from a variable or flag to the working directory.
  std::string path(const std::string& name, const std::string& value) const;

private:
  std::map<std::string, option> options_;
  std::map<std::string, caf::config_value> values_;
  std::map<std::string, std::string> origins_;
};

/// The content of the file option `name` names, without surrounding white
/// space (for password files); `invalid_argument` naming the option if it
/// cannot be read. Relative paths: configuration::path.
caf::expected<std::string> read_secret_file(const configuration& cfg,
                                            const std::string& name,
                                            const std::string& path);

// -- typed access ----------------------------------------------------------

namespace detail {

template <class T>
struct is_duration : std::false_type {};

template <class Rep, class Period>
struct is_duration<std::chrono::duration<Rep, Period>> : std::true_type {};

/// The kind and value conversions of a field type.
template <class T, class = void>
struct field_traits;

template <>
struct field_traits<std::string> {
  static constexpr kind type = kind::text;
  static caf::config_value to(const std::string& x) {
    return caf::config_value{x};
  }
  static std::string from(const caf::config_value& x) {
    return caf::get<std::string>(x);
  }
};

template <>
struct field_traits<bool> {
  static constexpr kind type = kind::flag;
  static caf::config_value to(bool x) { return caf::config_value{x}; }
  static bool from(const caf::config_value& x) { return caf::get<bool>(x); }
};

template <class T>
struct field_traits<
    T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static constexpr kind type = kind::number;
  static caf::config_value to(T x) {
    return caf::config_value{static_cast<int64_t>(x)};
  }
  static T from(const caf::config_value& x) {
    return static_cast<T>(caf::get<int64_t>(x));
  }
  static constexpr int64_t min
      = static_cast<int64_t>(std::numeric_limits<T>::min());
  static constexpr int64_t max
      = sizeof(T) < sizeof(int64_t) || std::is_signed_v<T>
            ? static_cast<int64_t>(std::numeric_limits<T>::max())
            : std::numeric_limits<int64_t>::max();
};

template <class T>
struct field_traits<T, std::enable_if_t<is_duration<T>::value>> {
  static constexpr kind type = kind::duration;
  static caf::config_value to(T x) {
    return caf::config_value{std::chrono::duration_cast<caf::timespan>(x)};
  }
  static T from(const caf::config_value& x) {
    return std::chrono::duration_cast<T>(caf::get<caf::timespan>(x));
  }
};

template <>
struct field_traits<std::vector<std::string>> {
  static constexpr kind type = kind::list;
  static caf::config_value to(const std::vector<std::string>& xs);
  static std::vector<std::string> from(const caf::config_value& x);
};

} // namespace detail

/// The options of one INI section, bound to the fields of a settings
/// struct whose initial values are the defaults:
///
///     const config::section<smtp_settings>& smtp_section() {
///       static const auto s = config::section<smtp_settings>{"smtp"}
///         .add(&smtp_settings::url, "url", "smtp://host:port or smtps://...")
///         .add(&smtp_settings::workers, "workers", "parallel connections")
///         .range(1, 64);
///       return s;
///     }
template <class Settings>
class section {
public:
  explicit section(std::string name) : name_(std::move(name)) {}

  /// Declares `key` for `field` (a field of Settings or of a base of it:
  /// an options struct may extend the settings an actor takes with what
  /// only configuration needs, such as a password file).
  template <class T, class Owner>
  section&& add(T Owner::*owner_field, std::string key, std::string help) && {
    static_assert(std::is_base_of_v<Owner, Settings>);
    T Settings::*field = owner_field;
    using traits = detail::field_traits<T>;
    option opt;
    opt.section = name_;
    opt.key = std::move(key);
    opt.help = std::move(help);
    opt.type = traits::type;
    opt.fallback = traits::to(Settings{}.*field);
    if constexpr (traits::type == kind::number) {
      opt.min = traits::min;
      opt.max = traits::max;
    }
    if constexpr (traits::type == kind::duration)
      opt.min = 0;
    options_.push_back(std::move(opt));
    readers_.push_back([field](const caf::config_value& x, Settings& out) {
      out.*field = traits::from(x);
    });
    return std::move(*this);
  }

  /// Bounds the last option (a number).
  section&& range(int64_t min, int64_t max) && {
    options_.back().min = min;
    options_.back().max = max;
    return std::move(*this);
  }

  /// Bounds the last option (a duration).
  template <class R1, class P1, class R2, class P2>
  section&& range(std::chrono::duration<R1, P1> min,
                  std::chrono::duration<R2, P2> max) && {
    using std::chrono::duration_cast;
    options_.back().min = duration_cast<caf::timespan>(min).count();
    options_.back().max = duration_cast<caf::timespan>(max).count();
    return std::move(*this);
  }

  /// Marks the last option as secret: its value is never printed.
  section&& secret() && {
    options_.back().secret = true;
    return std::move(*this);
  }

  const std::string& name() const { return name_; }

  const std::vector<option>& options() const { return options_; }

  /// The settings as configured (defaults for what nobody set).
  Settings read(const configuration& cfg) const {
    Settings result;
    for (size_t i = 0; i < options_.size(); ++i)
      if (auto value = cfg.find(options_[i].name()))
        readers_[i](*value, result);
    return result;
  }

private:
  std::string name_;
  std::vector<option> options_;
  std::vector<std::function<void(const caf::config_value&, Settings&)>>
      readers_;
};

} // namespace herald::config
