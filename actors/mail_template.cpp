#include "actors/mail_template.hpp"

#include <fstream>
#include <iterator>

#include "messages/error.hpp"

namespace herald {

namespace {

constexpr size_t max_file_size = 64 * 1024;

caf::error broken(const std::string& file, const std::string& what) {
  return caf::make_error(ec::internal, "template " + file + ": " + what);
}

bool is_placeholder_name(const std::string& name) {
  if (name.empty())
    return false;
  for (auto c : name)
    if (!((c >= 'a' && c <= 'z') || c == '_'))
      return false;
  return true;
}

enum class escaping { none, html };

/// Replaces every {{name}} in `in`; `file` names the source in errors.
caf::expected<std::string> fill(const std::string& in, const std::string& file,
                                const mail_values& values, escaping mode) {
  std::string out;
  out.reserve(in.size() + 256);
  size_t pos = 0;
  while (true) {
    auto open = in.find("{{", pos);
    if (open == std::string::npos) {
      out.append(in, pos, std::string::npos);
      return out;
    }
    out.append(in, pos, open - pos);
    auto close = in.find("}}", open + 2);
    auto name = close == std::string::npos
                    ? std::string{}
                    : in.substr(open + 2, close - open - 2);
    if (!is_placeholder_name(name))
      return broken(file, "'{{' without a placeholder name and '}}' near '"
                              + in.substr(open, 24) + "'");
    auto value = values.find(name);
    if (value == values.end())
      return broken(file, "unknown placeholder {{" + name + "}}");
    out += mode == escaping::html ? html_escape(value->second) : value->second;
    pos = close + 2;
  }
}

caf::expected<std::string> read_file(const std::string& path,
                                     const std::string& file) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return broken(file, "missing or unreadable: " + path);
  std::string content;
  content.resize(max_file_size + 1);
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > max_file_size)
    return broken(file, path + " is larger than 64 KiB");
  return content;
}

} // namespace

const mail_template* mail_templates::find(const std::string& name) const {
  auto i = by_name.find(name);
  return i == by_name.end() ? nullptr : &i->second;
}

std::vector<std::string> placeholders_for(const std::string& template_name) {
  std::vector<std::string> result{"name", "email", "link", "app_name"};
  if (template_name == template_reset)
    result.emplace_back("expires_in");
  return result;
}

mail_values sample_values(const std::string& template_name) {
  mail_values sample{{"name", "Sample <User> & \"Co\""},
                     {"email", "sample@example.org"},
                     {"link", "https://example.org/sample?a=1&b=2"},
                     {"app_name", "herald"}};
  if (template_name == template_reset)
    sample["expires_in"] = "15 minutes";
  return sample;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (auto c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

caf::expected<mail_template> parse_template(const std::string& name,
                                            const std::string& txt,
                                            const std::string& html) {
  static constexpr char prefix[] = "Subject:";
  auto file = name + ".txt";
  if (txt.compare(0, sizeof(prefix) - 1, prefix) != 0)
    return broken(file, "the first line must be 'Subject: ...'");
  auto eol = txt.find('\n');
  auto first = txt.substr(0, eol);
  if (!first.empty() && first.back() == '\r')
    first.pop_back();
  auto subject = first.substr(sizeof(prefix) - 1);
  auto start = subject.find_first_not_of(" \t");
  if (start == std::string::npos)
    return broken(file, "the subject is empty");
  mail_template result;
  result.name = name;
  result.subject = subject.substr(start);
  if (eol != std::string::npos) {
    auto body = txt.substr(eol + 1);
    // One empty line may separate the subject from the body.
    if (body.compare(0, 2, "\r\n") == 0)
      body.erase(0, 2);
    else if (body.compare(0, 1, "\n") == 0)
      body.erase(0, 1);
    result.text = std::move(body);
  }
  result.html = html;
  return result;
}

caf::expected<rendered_mail> render(const mail_template& tpl,
                                    const mail_values& values) {
  rendered_mail result;
  auto subject
      = fill(tpl.subject, tpl.name + ".txt (subject)", values, escaping::none);
  if (!subject)
    return std::move(subject.error());
  for (auto c : *subject)
    if (c != '\r' && c != '\n')
      result.subject += c;
  auto text = fill(tpl.text, tpl.name + ".txt", values, escaping::none);
  if (!text)
    return std::move(text.error());
  result.text = std::move(*text);
  auto html = fill(tpl.html, tpl.name + ".html", values, escaping::html);
  if (!html)
    return std::move(html.error());
  result.html = std::move(*html);
  return result;
}

caf::expected<mail_template> load_template(const std::string& dir,
                                           const std::string& name) {
  auto base = dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
  auto txt = read_file(base + ".txt", name + ".txt");
  if (!txt)
    return std::move(txt.error());
  auto html = read_file(base + ".html", name + ".html");
  if (!html)
    return std::move(html.error());
  return parse_template(name, *txt, *html);
}

caf::expected<mail_templates> load_templates(const std::string& dir) {
  mail_templates result;
  for (auto name :
       {template_welcome, template_reset, template_password_changed}) {
    auto tpl = load_template(dir, name);
    if (!tpl)
      return std::move(tpl.error());
    if (auto trial = render(*tpl, sample_values(name)); !trial)
      return std::move(trial.error());
    result.by_name.emplace(name, std::move(*tpl));
  }
  return result;
}

} // namespace herald
