#include "config/layers.hpp"

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <set>

#include <caf/actor_system_config.hpp>
#include <caf/config_option.hpp>
#include <caf/dictionary.hpp>
#include <caf/pec.hpp>

#include "messages/error.hpp"

namespace herald::config {

namespace {

std::string str(caf::string_view x) {
  return std::string{x.begin(), x.end()};
}

/// What a CAF option expects, in the words herald's options use.
std::string framework_type(const caf::config_option& opt) {
  auto name = str(opt.type_name());
  if (name == "timespan")
    return describe(kind::duration);
  if (name == "boolean")
    return describe(kind::flag);
  if (name == "string")
    return describe(kind::text);
  if (name.rfind("uint", 0) == 0 || name.rfind("int", 0) == 0)
    return describe(kind::number);
  if (name.rfind("list", 0) == 0)
    return describe(kind::list);
  return name;
}

caf::error invalid(std::string what) {
  return caf::make_error(ec::invalid_argument, std::move(what));
}

/// The options of every layer, found by name and by variable.
struct catalogue {
  std::map<std::string, const option*> herald;
  std::map<std::string, std::string> variables; // variable -> name
  const caf::config_option_set* framework = nullptr;

  /// CAF's option "section.key"; the "global" ones (help, config-file)
  /// are not options of a layer.
  const caf::config_option* caf_option(const std::string& name) const {
    if (framework == nullptr)
      return nullptr;
    auto opt = framework->qualified_name_lookup(name);
    if (opt == nullptr || opt->category() == "global")
      return nullptr;
    return opt;
  }

  /// The keys known in a section, for "no such option" messages.
  std::string keys_of(const std::string& section) const {
    std::string out;
    for (auto& [name, opt] : herald)
      if (opt->section == section)
        out += (out.empty() ? "" : ", ") + opt->key;
    if (out.empty() && framework != nullptr)
      for (auto& opt : *framework)
        if (str(opt.category()) == section)
          out += (out.empty() ? "" : ", ") + str(opt.long_name());
    return out;
  }

  std::string unknown(const std::string& section,
                      const std::string& key) const {
    auto known = keys_of(section);
    if (known.empty())
      return "[" + section + "] is not a section herald knows (try --help)";
    return "[" + section + "] has no option '" + key + "' (it has: " + known
           + ")";
  }
};

/// Applies one value of a layer: a herald option is checked and stored, a
/// CAF option checked by CAF and handed on.
struct layer {
  const catalogue& cat;
  const framework_options& framework;
  configuration& cfg;

  caf::error from_file(const std::string& path, const std::string& section,
                       const std::string& key, caf::config_value value) {
    auto name = section + "." + key;
    auto where = path + ": [" + section + "] " + key + ": ";
    if (auto i = cat.herald.find(name); i != cat.herald.end()) {
      auto checked = check_value(*i->second, std::move(value));
      if (!checked)
        return invalid(where + message_of(checked.error()));
      cfg.set(*i->second, std::move(*checked), path);
      return caf::none;
    }
    if (auto opt = cat.caf_option(name)) {
      if (auto err = opt->check(value))
        return invalid(where + "expected " + framework_type(*opt) + ", got "
                       + to_text(value));
      framework.apply(name, value);
      framework_origins[name] = path;
      return caf::none;
    }
    return invalid(path + ": " + cat.unknown(section, key));
  }

  /// A variable's or flag's text for option `name`; `origin` names it.
  caf::error from_text(const std::string& name, const std::string& text,
                       const std::string& origin) {
    if (auto i = cat.herald.find(name); i != cat.herald.end()) {
      auto value = parse_text(*i->second, text);
      if (!value)
        return invalid(origin + " (" + name
                       + "): " + message_of(value.error()));
      cfg.set(*i->second, std::move(*value), origin);
      return caf::none;
    }
    if (auto opt = cat.caf_option(name)) {
      auto value = opt->parse(caf::string_view{text});
      if (!value)
        return invalid(origin + " (" + name + "): expected "
                       + framework_type(*opt) + ", got '" + text + "'");
      framework.apply(name, *value);
      framework_origins[name] = origin;
      return caf::none;
    }
    return invalid("internal: no option " + name);
  }

  /// Where the framework options set by a layer came from.
  std::map<std::string, std::string> framework_origins;
};

std::string render_parse_error(const std::string& path, const caf::error& err) {
  std::string where = path;
  if (err.context().match_elements<caf::config_value::dictionary>()) {
    auto& pos = err.context().get_as<caf::config_value::dictionary>(0);
    auto line = pos.find("line");
    auto column = pos.find("column");
    if (line != pos.end())
      where += ":" + caf::to_string(line->second);
    if (column != pos.end())
      where += ":" + caf::to_string(column->second);
  }
  std::string what = err.category() == caf::atom("parser")
                         ? caf::to_string(static_cast<caf::pec>(err.code()))
                         : render(err);
  std::replace(what.begin(), what.end(), '_', ' ');
  return where + ": not valid config syntax (" + what
         + "; texts are quoted, durations have a unit, lists look like "
           "[\"a\", \"b\"])";
}

caf::error read_file(const std::string& path, layer& into) {
  std::ifstream in{path};
  if (!in)
    return invalid("config file " + path + ": cannot be opened");
  auto parsed = caf::actor_system_config::parse_config(in);
  if (!parsed)
    return invalid(render_parse_error(path, parsed.error()));
  for (auto& [section, content] : *parsed) {
    auto entries = caf::get_if<caf::config_value::dictionary>(&content);
    if (entries == nullptr)
      return invalid(path + ": '" + section + "' is outside of any [section]");
    for (auto& [key, value] : *entries)
      if (auto err = into.from_file(path, section, key, value))
        return err;
  }
  return caf::none;
}

/// An empty text or list: nothing to hide.
bool is_empty(const caf::config_value& x) {
  if (auto text = caf::get_if<std::string>(&x))
    return text->empty();
  if (auto items = caf::get_if<caf::config_value::list>(&x))
    return items->empty();
  return false;
}

void print_help(const std::vector<option>& options,
                const framework_options& framework, const sources& src,
                bool long_help, std::ostream& out) {
  out << "usage: " << src.program
      << " [--config-file=FILE] [--section.key=value ...]\n\n"
         "Every option can be set in the config file ([section] key = value),\n"
         "by the environment variable shown, or by its flag; later wins:\n"
         "default < file < environment < flag. HERALD_CONFIG_FILE names the\n"
         "file when --config-file does not (default: "
      << src.default_file
      << ", if it exists).\n"
         "  --help, -h      this text\n"
         "  --long-help     this text and the actor framework's options\n"
         "  --dump-config   print the merged configuration and exit\n";
  std::string section;
  for (auto& opt : options) {
    if (opt.section != section) {
      section = opt.section;
      out << "\n[" << section << "]\n";
    }
    out << "  " << opt.flag() << "  (" << opt.variable() << ")\n      "
        << opt.help << "; " << describe(opt.type) << "; default "
        << (opt.secret && !is_empty(opt.fallback) ? "<hidden>"
                                                  : to_text(opt.fallback))
        << "\n";
  }
  if (long_help && framework.declared != nullptr) {
    out << "\nOptions of the actor framework (CAF 0.17), same layers:\n";
    for (auto& opt : *framework.declared) {
      if (opt.category() == "global")
        continue;
      auto key = str(opt.long_name());
      auto cat = str(opt.category());
      out << "  --" << cat << "." << key << "  (" << variable_of(cat, key)
          << ")  " << str(opt.description()) << "\n";
    }
  }
  out << std::flush;
}

void print_config(const configuration& cfg, const framework_options& framework,
                  const std::map<std::string, std::string>& framework_origins,
                  std::ostream& out) {
  std::string section;
  for (auto& [name, opt] : cfg.options()) {
    if (opt.section != section) {
      section = opt.section;
      out << "\n[" << section << "]\n";
    }
    auto value = cfg.find(name);
    out << opt.key << " = " << (opt.secret ? "\"<hidden>\"" : to_text(*value))
        << "  ; " << cfg.origin(name) << "\n";
  }
  // The actor framework's options that have a value: herald's defaults for
  // them (node_config) and what a layer set.
  if (framework.declared != nullptr && framework.current) {
    section.clear();
    for (auto& opt : *framework.declared) {
      auto cat = str(opt.category());
      auto name = cat + "." + str(opt.long_name());
      auto value = cat == "global" ? nullptr : framework.current(name);
      if (value == nullptr)
        continue;
      if (cat != section) {
        section = cat;
        out << "\n[" << section << "]\n";
      }
      auto from = framework_origins.find(name);
      out << str(opt.long_name()) << " = "
          << (cat == "openssl" ? "\"<hidden>\"" : caf::to_string(*value))
          << "  ; "
          << (from == framework_origins.end() ? "default" : from->second)
          << "\n";
    }
  }
  out << std::flush;
}

} // namespace

std::vector<std::string> environment_of(char** env) {
  std::vector<std::string> result;
  for (auto p = env; p != nullptr && *p != nullptr; ++p)
    result.emplace_back(*p);
  return result;
}

caf::expected<loaded> load(const std::vector<option>& options,
                           const framework_options& framework,
                           const sources& src, std::ostream& out) {
  loaded result;
  catalogue cat;
  cat.framework = framework.declared;
  for (auto& opt : options) {
    if (cat.herald.count(opt.name()) > 0)
      return invalid("internal: option " + opt.name() + " declared twice");
    cat.herald.emplace(opt.name(), &opt);
    cat.variables.emplace(opt.variable(), opt.name());
    result.values.declare(opt);
  }
  if (framework.declared != nullptr)
    for (auto& opt : *framework.declared)
      if (opt.category() != "global") {
        auto cat_name = str(opt.category());
        auto key = str(opt.long_name());
        cat.variables.emplace(variable_of(cat_name, key), cat_name + "." + key);
      }
  // -- the command line, read first: it may name the file ------------------
  bool help = false;
  bool long_help = false;
  bool dump = false;
  std::string file;
  bool file_named = false;
  std::vector<std::pair<std::string, std::string>> flags;
  for (size_t i = 0; i < src.args.size(); ++i) {
    auto& arg = src.args[i];
    if (arg == "-h" || arg == "--help" || arg == "-?") {
      help = true;
      continue;
    }
    if (arg == "--long-help") {
      help = long_help = true;
      continue;
    }
    if (arg == "--dump-config") {
      dump = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0)
      return invalid("unexpected argument '" + arg
                     + "' (options look like --section.key=value; see --help)");
    auto eq = arg.find('=');
    auto name
        = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (name == "config-file") {
      if (eq == std::string::npos) {
        if (i + 1 >= src.args.size())
          return invalid("--config-file needs a file name");
        file = src.args[++i];
      } else {
        file = arg.substr(eq + 1);
      }
      file_named = true;
      continue;
    }
    auto dot = name.find('.');
    if (dot == std::string::npos)
      return invalid("--" + name
                     + ": not an option (options look like "
                       "--section.key=value; see --help)");
    auto known = cat.herald.count(name) > 0 || cat.caf_option(name) != nullptr;
    if (!known)
      return invalid("--" + name + ": "
                     + cat.unknown(name.substr(0, dot), name.substr(dot + 1)));
    if (eq == std::string::npos) {
      // A bare flag is true for a flag option, else it needs a value.
      auto i_opt = cat.herald.find(name);
      bool is_flag = i_opt != cat.herald.end()
                         ? i_opt->second->type == kind::flag
                         : cat.caf_option(name)->type_name() == "boolean";
      if (!is_flag)
        return invalid("--" + name + " needs a value: --" + name + "=...");
      flags.emplace_back(name, "true");
    } else {
      flags.emplace_back(name, arg.substr(eq + 1));
    }
  }
  // -- the file ---------------------------------------------------------------
  std::vector<std::pair<std::string, std::string>> variables;
  for (auto& entry : src.environment) {
    if (entry.rfind("HERALD_", 0) != 0)
      continue;
    auto eq = entry.find('=');
    if (eq == std::string::npos)
      continue;
    auto name = entry.substr(0, eq);
    auto value = entry.substr(eq + 1);
    if (name == "HERALD_CONFIG_FILE") {
      if (!file_named) {
        file = value;
        file_named = true;
      }
      continue;
    }
    variables.emplace_back(std::move(name), std::move(value));
  }
  if (!file_named && !src.default_file.empty()
      && std::ifstream{src.default_file}.good())
    file = src.default_file;
  layer apply{cat, framework, result.values};
  if (!file.empty()) {
    if (auto err = read_file(file, apply))
      return err;
    auto slash = file.rfind('/');
    result.values.file = file;
    result.values.file_dir
        = slash == std::string::npos ? "." : file.substr(0, slash);
  }
  // -- the environment, then the flags -------------------------------------
  for (auto& [variable, text] : variables) {
    auto i = cat.variables.find(variable);
    if (i == cat.variables.end()) {
      result.unknown_variables.push_back(variable);
      continue;
    }
    if (auto err = apply.from_text(i->second, text, variable))
      return err;
  }
  std::sort(result.unknown_variables.begin(), result.unknown_variables.end());
  for (auto& [name, text] : flags)
    if (auto err = apply.from_text(name, text, "--" + name))
      return err;
  if (help) {
    print_help(options, framework, src, long_help, out);
    result.printed = true;
  } else if (dump) {
    print_config(result.values, framework, apply.framework_origins, out);
    result.printed = true;
  }
  return result;
}

} // namespace herald::config
