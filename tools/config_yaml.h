// Config binding: YAML <-> plain structs, each struct declared once by a
// describe(Fields&, T&) function that drives both reading and writing.
//
//   struct Schedule { std::string name = "inverse_sqrt"; int64_t warmup_steps = 4000; };
//   void describe(config::Fields& f, Schedule& s) {
//     f.choice("name", s.name, {"constant", "inverse_sqrt"});
//     f.field("warmup_steps", s.warmup_steps);
//     f.check(s.warmup_steps >= 0, "warmup_steps", "must be >= 0");
//   }
//   struct Train { Schedule schedule; std::string corpus; };
//   void describe(config::Fields& f, Train& t) { f.section("schedule", t.schedule); f.path("corpus", t.corpus, config::required); }
//
//   config::Document doc = config::Document::load_file("train.yaml");  // syntax errors: line, column
//   doc.set("schedule.warmup_steps=8000");                               // --set overrides
//   Train t;  doc.read(t);     // absent keys keep their defaults; unknown keys, wrong types, missing
//                              // required keys fail naming the key path, line and column
//   std::string text = config::to_yaml(t);  // every field with its value, in declaration order
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace attend::config {

enum class Need { optional, required };
inline constexpr Need optional = Need::optional;
inline constexpr Need required = Need::required;

// What a describe() function talks to: one call per key of a section. The
// reader fills the referenced members from YAML; the writer emits them.
class Fields {
 public:
  virtual ~Fields() = default;
  virtual void field(const char* key, bool& value, Need need = optional) = 0;
  virtual void field(const char* key, int& value, Need need = optional) = 0;
  virtual void field(const char* key, int64_t& value, Need need = optional) = 0;
  virtual void field(const char* key, float& value, Need need = optional) = 0;
  virtual void field(const char* key, double& value, Need need = optional) = 0;
  virtual void field(const char* key, std::string& value, Need need = optional) = 0;  // ${VAR} expanded
  virtual void field(const char* key, std::vector<float>& value, Need need = optional) = 0;
  // A file path: ${VAR} expanded, then resolved against the config file's folder.
  virtual void path(const char* key, std::string& value, Need need = optional) = 0;
  // A string from a fixed set; anything else is an error listing the set.
  virtual void choice(const char* key, std::string& value, const std::vector<std::string>& valid,
                      Need need = optional) = 0;
  // An enum spelled by name: f.enumeration("norm", m.norm, {{"pre", Norm::pre}, {"post", Norm::post}}).
  template <typename E>
  void enumeration(const char* key, E& value, const std::vector<std::pair<std::string, E>>& names,
                   Need need = optional);
  // A nested section, bound by describe(Fields&, T&) found next to T.
  template <typename T> void section(const char* key, T& value, Need need = optional) {
    nested(key, [&value](Fields& f) { describe(f, value); }, need);
  }
  // When reading and !ok: fails with "<key path>: <message>, got <value>" at the key's
  // position. Call after the field is bound. Ignored when writing.
  virtual void check(bool ok, const char* key, const std::string& message) = 0;

 protected:
  virtual void nested(const char* key, const std::function<void(Fields&)>& body, Need need) = 0;
};

// A parsed config file plus its --set overrides, ready to bind to structs.
class Document {
 public:
  // Reads and parses a file; relative paths in it resolve against its folder.
  static Document load_file(const std::string& file);
  // Parses text; `source` names it in messages, `base_dir` anchors relative paths.
  static Document parse(const std::string& text, const std::string& source = "<config>",
                        const std::filesystem::path& base_dir = std::filesystem::current_path());

  // Applies one "a.b.c=value" override (value parsed as YAML, so lists work).
  // Missing sections are created; a path the structs do not know fails at read()
  // with the unknown-key message, naming the --set.
  void set(const std::string& assignment);
  // The value ${name} takes when the environment has no such variable.
  void set_env_default(const std::string& name, const std::string& value);

  // Binds the whole document to `out` through describe(Fields&, T&).
  template <typename T> void read(T& out) const {
    read_root([&out](Fields& f) { describe(f, out); });
  }

  const YAML::Node& root() const { return root_; }
  const std::string& source() const { return source_; }
  const std::filesystem::path& base_dir() const { return base_dir_; }

 private:
  void read_root(const std::function<void(Fields&)>& body) const;

  YAML::Node root_;
  std::string source_;
  std::filesystem::path base_dir_;
  std::vector<std::pair<std::string, std::string>> overrides_;  // key path, "--set ..." as typed
  std::map<std::string, std::string> env_defaults_;
};

// The YAML text of `value`: every field described, in order, with its value.
template <typename T> std::string to_yaml(const T& value);

// "${NAME}" replaced by the environment variable NAME (else defaults[NAME]); an
// unset variable or an unterminated "${" is an error naming it.
std::string expand_env(const std::string& text, const std::map<std::string, std::string>& defaults = {});
// `path` when empty or absolute, else base_dir / path; normalised either way.
std::string resolve_path(const std::string& path, const std::filesystem::path& base_dir);
// Edit distance (insertions, deletions, substitutions, adjacent transpositions).
size_t edit_distance(const std::string& a, const std::string& b);

// --- implementation of the templates ------------------------------------------------

std::string write_yaml(const std::function<void(Fields&)>& body);

template <typename T> std::string to_yaml(const T& value) {
  T copy = value;
  return write_yaml([&copy](Fields& f) { describe(f, copy); });
}

template <typename E>
void Fields::enumeration(const char* key, E& value, const std::vector<std::pair<std::string, E>>& names, Need need) {
  std::vector<std::string> valid;
  std::string current;
  for (const auto& [name, e] : names) {
    valid.push_back(name);
    if (e == value && current.empty()) current = name;
  }
  choice(key, current, valid, need);
  for (const auto& [name, e] : names)
    if (name == current) value = e;
}

}  // namespace attend::config
