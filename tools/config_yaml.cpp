#include "tools/config_yaml.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "core/error.h"

namespace fs = std::filesystem;

namespace attend::config {

// --- helpers -------------------------------------------------------------------------

size_t edit_distance(const std::string& a, const std::string& b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "; did you mean 'x'?" for the nearest candidate within a third of the length;
// "; valid <what>: a, b, c" before it when always_list or when none is near.
std::string suggest(const std::string& word, const std::vector<std::string>& candidates, const char* what,
                    bool always_list = false) {
  const std::string* best = nullptr;
  size_t best_d = 0;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(lower(word), lower(c));
    bool near = d <= std::max<size_t>(1, std::max(word.size(), c.size()) / 3) && d < std::min(word.size(), c.size());
    if (near && (!best || d < best_d)) {
      best = &c;
      best_d = d;
    }
  }
  std::string list = candidates.empty() ? fmt::format("; this section takes no {}", what)
                                        : fmt::format("; valid {}: {}", what, fmt::join(candidates, ", "));
  if (!best) return list;
  return (always_list ? list : "") + fmt::format("; did you mean '{}'?", *best);
}

std::string at_mark(const YAML::Mark& m) {
  return m.is_null() ? "" : fmt::format(" at line {}, column {}", m.line + 1, m.column + 1);
}

// How a node reads in "got ..." messages.
std::string describe_value(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  return "'" + n.Scalar() + "'";
}

std::string join_key(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

// Expands ${NAME}; on an unset variable returns false with its name in `missing`.
bool try_expand(const std::string& text, const std::map<std::string, std::string>& defaults, std::string& out,
                std::string& missing) {
  out.clear();
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    size_t end = text.find('}', i + 2);
    CHECK(end != std::string::npos, "unterminated '${{' in '{}'", text);
    std::string name = text.substr(i + 2, end - i - 2);
    if (const char* v = std::getenv(name.c_str())) {
      out += v;
    } else if (auto it = defaults.find(name); it != defaults.end()) {
      out += it->second;
    } else {
      missing = name;
      return false;
    }
    i = end + 1;
  }
  return true;
}

// --- reading -------------------------------------------------------------------------

struct Context {
  const std::string& source;
  const fs::path& base_dir;
  const std::vector<std::pair<std::string, std::string>>& overrides;
  const std::map<std::string, std::string>& env_defaults;

  [[noreturn]] void fail(const std::string& message) const {
    if (source.empty()) ATTEND_ERROR("{}", message);
    ATTEND_ERROR("{}: {}", source, message);
  }
  // The --set that wrote `path` or a section holding it.
  const std::string* override_of(const std::string& path) const {
    for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
      const std::string& q = it->first;
      if (path == q || (path.size() > q.size() && path.compare(0, q.size(), q) == 0 &&
                        (path[q.size()] == '.' || path[q.size()] == '[')))
        return &it->second;
    }
    return nullptr;
  }
  // The --set that created section `path` on its way to a deeper key.
  const std::string* override_below(const std::string& path) const {
    for (auto it = overrides.rbegin(); it != overrides.rend(); ++it)
      if (it->first.compare(0, path.size() + 1, path + ".") == 0) return &it->second;
    return nullptr;
  }
  // Where the value at `path` came from: " (in --set ...)" or " at line L, column C".
  std::string where(const std::string& path, const YAML::Node& node) const {
    if (const std::string* s = override_of(path)) return fmt::format(" (in --set {})", *s);
    return node.IsDefined() ? at_mark(node.Mark()) : "";
  }
};

// Records the keys a describe() function binds, without touching any value.
class KeyCollector final : public Fields {
 public:
  std::vector<std::string> keys;
  void field(const char* k, bool&, Need) override { keys.push_back(k); }
  void field(const char* k, int&, Need) override { keys.push_back(k); }
  void field(const char* k, int64_t&, Need) override { keys.push_back(k); }
  void field(const char* k, float&, Need) override { keys.push_back(k); }
  void field(const char* k, double&, Need) override { keys.push_back(k); }
  void field(const char* k, std::string&, Need) override { keys.push_back(k); }
  void field(const char* k, std::vector<float>&, Need) override { keys.push_back(k); }
  void path(const char* k, std::string&, Need) override { keys.push_back(k); }
  void choice(const char* k, std::string&, const std::vector<std::string>&, Need) override { keys.push_back(k); }
  void check(bool, const char*, const std::string&) override {}

 protected:
  void nested(const char* k, const std::function<void(Fields&)>&, Need) override { keys.push_back(k); }
};

class Reader final : public Fields {
 public:
  // node: the section's map (or null/undefined when absent); path: its key path.
  Reader(const Context& ctx, const YAML::Node& node, std::string path) : ctx_(ctx), node_(node), path_(std::move(path)) {}

  void run(const std::function<void(Fields&)>& body) {
    KeyCollector collector;
    body(collector);
    index_entries(collector.keys);
    body(*this);
  }

  void field(const char* key, bool& value, Need need) override {
    if (const YAML::Node* n = scalar(key, "a bool (true or false)", need)) {
      std::string s = lower(n->Scalar());
      if (s == "true" || s == "yes" || s == "on") value = true;
      else if (s == "false" || s == "no" || s == "off") value = false;
      else type_error(key, *n, "a bool (true or false)");
    }
  }
  void field(const char* key, int& value, Need need) override {
    int64_t v = value;
    field(key, v, need);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      type_error(key, *find(key), "an integer in [-2147483648, 2147483647]");
    value = int(v);
  }
  void field(const char* key, int64_t& value, Need need) override {
    if (const YAML::Node* n = scalar(key, "an integer", need)) {
      std::string s = n->Scalar();
      const char* b = s.data() + (s.starts_with('+') ? 1 : 0);
      auto [end, ec] = std::from_chars(b, s.data() + s.size(), value);
      if (ec != std::errc() || end != s.data() + s.size() || b == end) type_error(key, *n, "an integer");
    }
  }
  void field(const char* key, float& value, Need need) override {
    double v = value;
    field(key, v, need);
    if (std::isfinite(v) && std::abs(v) > double(std::numeric_limits<float>::max()))
      type_error(key, *find(key), "a float (within float range)");
    value = float(v);
  }
  void field(const char* key, double& value, Need need) override {
    if (const YAML::Node* n = scalar(key, "a float", need)) {
      if (!parse_float(n->Scalar(), value)) type_error(key, *n, "a float");
    }
  }
  void field(const char* key, std::string& value, Need need) override {
    if (const YAML::Node* n = scalar(key, "a string", need)) value = expand(key, *n);
  }
  void field(const char* key, std::vector<float>& value, Need need) override {
    const YAML::Node* n = find(key);
    if (!n) return missing(key, need);
    if (!n->IsSequence()) type_error(key, *n, "a list of floats");
    std::vector<float> out;
    for (size_t i = 0; i < n->size(); ++i) {
      YAML::Node e = (*n)[i];
      double v = 0;
      if (!e.IsScalar() || !parse_float(e.Scalar(), v) || (std::isfinite(v) && std::abs(v) > double(std::numeric_limits<float>::max())))
        ctx_.fail(fmt::format("{}[{}]: expected a float, got {}{}", join_key(path_, key), i, describe_value(e),
                              ctx_.where(join_key(path_, key), e)));
      out.push_back(float(v));
    }
    value = std::move(out);
  }
  void path(const char* key, std::string& value, Need need) override {
    if (const YAML::Node* n = scalar(key, "a path", need)) value = resolve_path(expand(key, *n), ctx_.base_dir);
  }
  void choice(const char* key, std::string& value, const std::vector<std::string>& valid, Need need) override {
    const YAML::Node* n = scalar(key, "one of: " + fmt::format("{}", fmt::join(valid, ", ")), need);
    if (!n) return;
    const std::string& s = n->Scalar();
    if (std::find(valid.begin(), valid.end(), s) == valid.end())
      ctx_.fail(fmt::format("{}: unknown value '{}'{}{}", join_key(path_, key), s, ctx_.where(join_key(path_, key), *n),
                            suggest(s, valid, "values", true)));
    value = s;
  }
  void check(bool ok, const char* key, const std::string& message) override {
    if (ok) return;
    const YAML::Node* n = find(key);
    std::string path = join_key(path_, key);
    if (!n) ctx_.fail(fmt::format("{}: {} (the default)", path, message));
    ctx_.fail(fmt::format("{}: {}, got {}{}", path, message, describe_value(*n), ctx_.where(path, *n)));
  }

 protected:
  void nested(const char* key, const std::function<void(Fields&)>& body, Need need) override {
    const YAML::Node* n = find(key);
    if (!n && need == Need::required) missing(key, need);
    YAML::Node child = n ? *n : YAML::Node();
    if (n && !n->IsNull() && !n->IsMap()) type_error(key, *n, "a section (a map of keys)");
    Reader(ctx_, child, join_key(path_, key)).run(body);
  }

 private:
  // Checks every key of the section against the described ones, then indexes them.
  void index_entries(const std::vector<std::string>& valid) {
    if (!node_.IsDefined() || node_.IsNull()) return;
    std::map<std::string, YAML::Mark> first_seen;
    const std::string section = path_.empty() ? "at the top level" : "in " + path_;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: the iterator hands out a temporary pair
      if (!k.IsScalar())
        ctx_.fail(fmt::format("a key must be a name, got {}{} {}", describe_value(k), at_mark(k.Mark()), section));
      const std::string& name = k.Scalar();
      if (auto [seen, fresh] = first_seen.emplace(name, k.Mark()); !fresh)
        ctx_.fail(fmt::format("duplicate key '{}'{} {} (first{})", name, at_mark(k.Mark()), section,
                              at_mark(seen->second)));
      if (std::find(valid.begin(), valid.end(), name) == valid.end()) {
        // A key from the file has a position; one a --set wrote or created names the --set.
        std::string key_path = join_key(path_, name), where, via;
        const std::string* s = ctx_.override_of(key_path);
        if (!s && k.Mark().is_null()) s = ctx_.override_below(key_path);
        if (s) via = fmt::format(" (in --set {})", *s);
        else where = at_mark(k.Mark());
        ctx_.fail(fmt::format("unknown key '{}'{} {}{}{}", name, where, section, via, suggest(name, valid, "keys")));
      }
      entries_.emplace(name, it->second);
    }
  }

  const YAML::Node* find(const char* key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }

  // The scalar at key, or null when absent (an error when required).
  const YAML::Node* scalar(const char* key, const std::string& expected, Need need) {
    const YAML::Node* n = find(key);
    if (!n) {
      missing(key, need);
      return nullptr;
    }
    if (!n->IsScalar()) type_error(key, *n, expected);
    return n;
  }

  void missing(const char* key, Need need) const {
    if (need != Need::required) return;
    if (path_.empty()) ctx_.fail(fmt::format("missing required key '{}' at the top level", key));
    std::string where = node_.IsDefined() && !node_.IsNull() ? " (section" + at_mark(node_.Mark()) + ")" : "";
    ctx_.fail(fmt::format("missing required key '{}' in {}{}", key, path_, where));
  }

  [[noreturn]] void type_error(const char* key, const YAML::Node& n, const std::string& expected) const {
    std::string path = join_key(path_, key);
    ctx_.fail(fmt::format("{}: expected {}, got {}{}", path, expected, describe_value(n), ctx_.where(path, n)));
  }

  std::string expand(const char* key, const YAML::Node& n) const {
    std::string out, missing_var;
    if (!try_expand(n.Scalar(), ctx_.env_defaults, out, missing_var)) {
      std::string path = join_key(path_, key);
      ctx_.fail(fmt::format("{}: environment variable '{}' is not set (in '{}'{})", path, missing_var, n.Scalar(),
                            ctx_.where(path, n)));
    }
    return out;
  }

  static bool parse_float(std::string s, double& out) {
    if (s.starts_with('+')) s.erase(0, 1);
    std::string l = lower(s);
    if (l == ".inf" || l == "-.inf" || l == ".nan") {
      out = l == ".nan" ? std::numeric_limits<double>::quiet_NaN()
                        : (l[0] == '-' ? -1 : 1) * std::numeric_limits<double>::infinity();
      return true;
    }
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
  }

  const Context& ctx_;
  YAML::Node node_;
  std::string path_;
  std::map<std::string, YAML::Node> entries_;
};

}  // namespace

// --- documents -----------------------------------------------------------------------

Document Document::parse(const std::string& text, const std::string& source, const fs::path& base_dir) {
  Document doc;
  doc.source_ = source;
  doc.base_dir_ = base_dir;
  try {
    doc.root_ = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    ATTEND_ERROR("{}: YAML syntax error at line {}, column {}: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  return doc;
}

Document Document::load_file(const std::string& file) {
  std::ifstream in(file);
  CHECK(in, "cannot open config file '{}'", file);
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), file, fs::absolute(file).parent_path());
}

void Document::set(const std::string& assignment) {
  size_t eq = assignment.find('=');
  CHECK(eq != std::string::npos && eq > 0, "--set {}: expected key.path=value", assignment);
  std::string key_path = assignment.substr(0, eq);
  std::vector<std::string> keys;
  for (size_t start = 0;;) {
    size_t dot = key_path.find('.', start);
    keys.push_back(key_path.substr(start, dot - start));
    CHECK(!keys.back().empty(), "--set {}: empty key in '{}'", assignment, key_path);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::ParserException& e) {
    ATTEND_ERROR("--set {}: the value is not valid YAML: {}", assignment, e.msg);
  }
  if (!root_.IsMap()) {
    CHECK(!root_.IsDefined() || root_.IsNull(), "--set {}: the config is not a map of sections", assignment);
    root_ = YAML::Node(YAML::NodeType::Map);
  }
  YAML::Node cur = root_;
  std::string walked;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    walked = join_key(walked, keys[i]);
    const YAML::Node& ccur = cur;  // const lookup: does not insert
    if (!ccur[keys[i]].IsDefined() || ccur[keys[i]].IsNull()) cur[keys[i]] = YAML::Node(YAML::NodeType::Map);
    YAML::Node next = cur[keys[i]];
    CHECK(next.IsMap(), "--set {}: '{}' is a value ({}), not a section", assignment, walked, describe_value(next));
    cur.reset(next);
  }
  cur[keys.back()] = value;
  overrides_.emplace_back(key_path, assignment);
}

void Document::set_env_default(const std::string& name, const std::string& value) { env_defaults_[name] = value; }

void Document::read_root(const std::function<void(Fields&)>& body) const {
  Context ctx{source_, base_dir_, overrides_, env_defaults_};
  if (root_.IsDefined() && !root_.IsNull() && !root_.IsMap())
    ctx.fail(fmt::format("expected a map of sections at the top level, got {}{}", describe_value(root_),
                         at_mark(root_.Mark())));
  Reader(ctx, root_, "").run(body);
}

std::string expand_env(const std::string& text, const std::map<std::string, std::string>& defaults) {
  std::string out, missing;
  CHECK(try_expand(text, defaults, out, missing), "environment variable '{}' is not set (in '{}')", missing, text);
  return out;
}

std::string resolve_path(const std::string& path, const fs::path& base_dir) {
  if (path.empty()) return path;
  fs::path p(path);
  return (p.is_absolute() ? p : base_dir / p).lexically_normal().string();
}

}  // namespace attend::config
