// Mail templates: a plain-text and an HTML file per kind of mail under
// config/templates/, filled with `{{placeholder}}` values. Loaded and
// trial-rendered once at start, so a node with a broken template refuses to
// start instead of failing at its first mail.
//
//   <name>.txt   first line "Subject: ...", then (after an optional empty
//                line) the text body; values go in as they are
//   <name>.html  the HTML body; values go in HTML-escaped
#pragma once

#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace herald {

/// Template names, one per kind of mail.
constexpr const char* template_welcome = "welcome";
constexpr const char* template_reset = "reset";
constexpr const char* template_password_changed = "password_changed";

/// Placeholder name -> value.
using mail_values = std::map<std::string, std::string>;

/// One kind of mail, as loaded (placeholders not yet filled).
struct mail_template {
  std::string name;
  std::string subject;
  std::string text;
  std::string html;
};

/// Subject and bodies with every placeholder filled.
struct rendered_mail {
  std::string subject;
  std::string text;
  std::string html;
};

/// Every template herald sends, by name.
struct mail_templates {
  std::map<std::string, mail_template> by_name;

  /// The template called `name`, or nullptr.
  const mail_template* find(const std::string& name) const;
};

/// Placeholders the mailer fills for a template: name, email, link and
/// app_name for all; expires_in (e.g. "15 minutes") for reset only.
std::vector<std::string> placeholders_for(const std::string& template_name);

/// Sample values for a trial render of `template_name`.
mail_values sample_values(const std::string& template_name);

/// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(const std::string& text);

/// Builds a template from the contents of its two files. `internal` if the
/// text does not start with "Subject: " or the subject is empty.
caf::expected<mail_template> parse_template(const std::string& name,
                                            const std::string& txt,
                                            const std::string& html);

/// Fills `tpl`. The subject loses any CR and LF (a value may not start a
/// header line); text takes values as they are, HTML escaped. `internal`
/// naming the template, file and placeholder for a placeholder without a
/// value or a `{{` without a valid `name}}`.
caf::expected<rendered_mail> render(const mail_template& tpl,
                                    const mail_values& values);

/// Reads <dir>/<name>.txt and <dir>/<name>.html (at most 64 KiB each).
/// `internal` naming the file if one is missing or unreadable.
caf::expected<mail_template> load_template(const std::string& dir,
                                           const std::string& name);

/// Loads welcome, reset and password_changed from `dir` and trial-renders
/// each with sample_values(); the first problem is the error.
caf::expected<mail_templates> load_templates(const std::string& dir);

} // namespace herald
