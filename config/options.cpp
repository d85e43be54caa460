#include "config/options.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "config/layers.hpp"
#include "messages/error.hpp"

namespace herald::config {

namespace {

caf::error expected_but(const option& opt, const std::string& got) {
  std::string what = "expected " + describe(opt.type);
  if (opt.type == kind::number || opt.type == kind::duration) {
    auto lo = opt.type == kind::number
                  ? caf::config_value{opt.min}
                  : caf::config_value{caf::timespan{opt.min}};
    auto hi = opt.type == kind::number
                  ? caf::config_value{opt.max}
                  : caf::config_value{caf::timespan{opt.max}};
    bool bounded_lo = opt.min != std::numeric_limits<int64_t>::min()
                      && !(opt.type == kind::duration && opt.min == 0);
    bool bounded_hi = opt.max != std::numeric_limits<int64_t>::max();
    if (bounded_lo && bounded_hi)
      what += " from " + to_text(lo) + " to " + to_text(hi);
    else if (bounded_hi)
      what += " of at most " + to_text(hi);
    else if (bounded_lo)
      what += " of at least " + to_text(lo);
  }
  if (!opt.secret)
    what += ", got " + got;
  return caf::make_error(ec::invalid_argument, std::move(what));
}

std::string quoted(const std::string& text) {
  return "'" + text + "'";
}

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

std::string trim(std::string text) {
  auto space
      = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && space(text.back()))
    text.pop_back();
  size_t i = 0;
  while (i < text.size() && space(text[i]))
    ++i;
  return text.substr(i);
}

/// Range check of a number or duration value.
caf::expected<caf::config_value>
bounded(const option& opt, caf::config_value value, const std::string& shown) {
  int64_t x = opt.type == kind::number ? caf::get<int64_t>(value)
                                       : caf::get<caf::timespan>(value).count();
  if (x < opt.min || x > opt.max)
    return expected_but(opt, shown);
  return value;
}

} // namespace

std::string describe(kind k) {
  switch (k) {
  case kind::text:
    return "a text";
  case kind::flag:
    return "true or false";
  case kind::number:
    return "a whole number";
  case kind::duration:
    return "a duration with its unit (such as 500ms, 30s, 15min or 1h)";
  case kind::list:
    return "a list such as [\"a\", \"b\"] (in a variable or flag also a,b)";
  }
  return "a value";
}

std::string option::name() const {
  return section + "." + key;
}

std::string option::flag() const {
  return "--" + name();
}

std::string option::variable() const {
  return variable_of(section, key);
}

std::string variable_of(const std::string& section, const std::string& key) {
  auto upper = [](std::string text) {
    for (auto& c : text)
      c = c == '-' || c == '.'
              ? '_'
              : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
  };
  if (section == "herald")
    return "HERALD_" + upper(key);
  return "HERALD_" + upper(section) + "_" + upper(key);
}

caf::expected<caf::config_value> parse_text(const option& opt,
                                            const std::string& text) {
  switch (opt.type) {
  case kind::text:
    return caf::config_value{text};
  case kind::flag:
    if (text == "true")
      return caf::config_value{true};
    if (text == "false")
      return caf::config_value{false};
    return expected_but(opt, quoted(text));
  case kind::number: {
    // Digits only: no sign, no spaces, no "1e3"; and no overflow.
    if (!all_digits(text) || text.size() > 18)
      return expected_but(opt, quoted(text));
    return bounded(opt, caf::config_value{std::stoll(text)}, quoted(text));
  }
  case kind::duration: {
    auto value = caf::config_value::parse(caf::string_view{text});
    if (!value || !caf::holds_alternative<caf::timespan>(*value))
      return expected_but(opt, quoted(text));
    return bounded(opt, std::move(*value), quoted(text));
  }
  case kind::list: {
    caf::config_value::list items;
    if (!text.empty() && text.front() == '[') {
      auto value = caf::config_value::parse(caf::string_view{text});
      if (!value || !caf::holds_alternative<caf::config_value::list>(*value))
        return expected_but(opt, quoted(text));
      return check_value(opt, std::move(*value));
    }
    size_t start = 0;
    while (start <= text.size()) {
      auto comma = text.find(',', start);
      auto item = trim(text.substr(start, comma - start));
      if (!item.empty())
        items.emplace_back(std::move(item));
      if (comma == std::string::npos)
        break;
      start = comma + 1;
    }
    return caf::config_value{std::move(items)};
  }
  }
  return expected_but(opt, quoted(text));
}

caf::expected<caf::config_value> check_value(const option& opt,
                                             caf::config_value value) {
  auto shown = opt.secret ? std::string{} : to_text(value);
  switch (opt.type) {
  case kind::text:
    if (!caf::holds_alternative<std::string>(value))
      return expected_but(opt, shown + " (texts are quoted in the file)");
    return value;
  case kind::flag:
    if (!caf::holds_alternative<bool>(value))
      return expected_but(opt, shown);
    return value;
  case kind::number:
    if (!caf::holds_alternative<int64_t>(value))
      return expected_but(opt, shown);
    return bounded(opt, std::move(value), shown);
  case kind::duration:
    if (!caf::holds_alternative<caf::timespan>(value))
      return expected_but(opt, shown);
    return bounded(opt, std::move(value), shown);
  case kind::list: {
    if (caf::holds_alternative<std::string>(value))
      return caf::config_value{caf::config_value::list{std::move(value)}};
    auto items = caf::get_if<caf::config_value::list>(&value);
    if (items == nullptr)
      return expected_but(opt, shown);
    for (auto& item : *items)
      if (!caf::holds_alternative<std::string>(item))
        return expected_but(opt, shown + " (list items are quoted texts)");
    return value;
  }
  }
  return expected_but(opt, shown);
}

std::string to_text(const caf::config_value& value) {
  auto span = caf::get_if<caf::timespan>(&value);
  if (span == nullptr)
    return caf::to_string(value);
  static const std::pair<int64_t, const char*> units[]
      = {{3600'000'000'000, "h"}, {60'000'000'000, "min"}, {1'000'000'000, "s"},
         {1'000'000, "ms"},       {1'000, "us"},           {1, "ns"}};
  auto ns = span->count();
  for (auto& [size, name] : units)
    if (ns % size == 0)
      return std::to_string(ns / size) + name;
  return std::to_string(ns) + "ns";
}

std::string show(const option& opt, const caf::config_value& value) {
  if (opt.secret)
    return "<hidden>";
  if (auto text = caf::get_if<std::string>(&value))
    return *text;
  return to_text(value);
}

// -- configuration ------------------------------------------------------------

void configuration::declare(const option& opt) {
  auto name = opt.name();
  options_[name] = opt;
  values_[name] = opt.fallback;
  origins_[name] = "default";
}

void configuration::set(const option& opt, caf::config_value value,
                        std::string origin) {
  auto name = opt.name();
  if (options_.count(name) == 0)
    options_[name] = opt;
  values_[name] = std::move(value);
  origins_[name] = std::move(origin);
}

const caf::config_value* configuration::find(const std::string& name) const {
  auto i = values_.find(name);
  return i == values_.end() ? nullptr : &i->second;
}

std::string configuration::origin(const std::string& name) const {
  auto i = origins_.find(name);
  return i == origins_.end() ? "default" : i->second;
}

caf::error configuration::invalid(const std::string& name,
                                  const std::string& what) const {
  std::string text = name;
  auto opt = options_.find(name);
  auto value = find(name);
  if (opt != options_.end() && value != nullptr && !opt->second.secret)
    text += " = " + show(opt->second, *value);
  text += " (from " + origin(name) + "): " + what;
  return caf::make_error(ec::invalid_argument, std::move(text));
}

std::string configuration::path(const std::string& name,
                                const std::string& value) const {
  if (value.empty() || value.front() == '/' || file.empty())
    return value;
  auto from = origin(name);
  if (from == "default" || from == file)
    return file_dir + "/" + value;
  return value;
}

caf::expected<std::string> read_secret_file(const configuration& cfg,
                                            const std::string& name,
                                            const std::string& given) {
  std::ifstream in{cfg.path(name, given)};
  if (!in)
    return cfg.invalid(name, "cannot read the file");
  std::stringstream buf;
  buf << in.rdbuf();
  return trim(buf.str());
}

// -- lists --------------------------------------------------------------------

namespace detail {

caf::config_value
field_traits<std::vector<std::string>>::to(const std::vector<std::string>& xs) {
  caf::config_value::list items;
  for (auto& x : xs)
    items.emplace_back(x);
  return caf::config_value{std::move(items)};
}

std::vector<std::string>
field_traits<std::vector<std::string>>::from(const caf::config_value& x) {
  std::vector<std::string> result;
  for (auto& item : caf::get<caf::config_value::list>(x))
    result.push_back(caf::get<std::string>(item));
  return result;
}

} // namespace detail

} // namespace herald::config
