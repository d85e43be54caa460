#include "messages/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace herald {

namespace {

constexpr const char* names[] = {
    "none",
    "not_found",
    "conflict",
    "invalid_argument",
    "unauthenticated",
    "forbidden",
    "expired",
    "rate_limited",
    "unavailable",
    "internal",
    "already_used",
    "revoked",
    "rejected",
    "deferred",
};

std::string context_text(const caf::message& ctx) {
  std::string out;
  for (size_t i = 0; i < ctx.size(); ++i)
    if (ctx.match_element<std::string>(i)) {
      if (!out.empty())
        out += ": ";
      out += ctx.get_as<std::string>(i);
    }
  return out;
}

} // namespace

const char* to_string(ec code) {
  auto i = static_cast<size_t>(code);
  return i < sizeof(names) / sizeof(names[0]) ? names[i] : "unknown";
}

ec ec_from_string(const std::string& name) {
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i)
    if (name == names[i])
      return static_cast<ec>(i);
  return ec::none;
}

caf::error dependency_failure(const caf::error& err, const std::string& what) {
  if (err.category() == caf::atom("herald"))
    return err;
  return caf::make_error(ec::unavailable,
                         what + " did not answer (" + render(err) + ")");
}

std::string message_of(const caf::error& err) {
  auto text = context_text(err.context());
  return text.empty() ? render(err) : text;
}

std::string render(const caf::error& err) {
  if (!err)
    return "ok";
  std::string out;
  if (err.category() == caf::atom("herald")) {
    out = to_string(static_cast<ec>(err.code()));
  } else if (err.category() == caf::atom("system")) {
    out = caf::to_string(static_cast<caf::sec>(err.code()));
  } else if (err.category() == caf::atom("exit")) {
    out = caf::to_string(static_cast<caf::exit_reason>(err.code()));
  } else {
    out = caf::to_string(err.category());
    out += "#" + std::to_string(err.code());
  }
  auto ctx = context_text(err.context());
  if (!ctx.empty())
    out += ": " + ctx;
  return out;
}

caf::error annotate(const caf::error& err, const std::string& what) {
  if (err.category() != caf::atom("herald"))
    return caf::make_error(ec::internal, what + ": " + render(err));
  auto text = what;
  if (auto ctx = context_text(err.context()); !ctx.empty())
    text += ": " + ctx;
  return caf::make_error(static_cast<ec>(err.code()), std::move(text));
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(caf::atom("herald"),
                         [](uint8_t code, caf::atom_value,
                            const caf::message& ctx) -> std::string {
                           auto out = std::string{"herald::"}
                                      + to_string(static_cast<ec>(code));
                           auto text = context_text(ctx);
                           if (!text.empty())
                             out += ": " + text;
                           return out;
                         });
}

} // namespace herald
