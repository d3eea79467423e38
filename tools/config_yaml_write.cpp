// The writing half of the binder (tools/config_yaml.h): describe() driving a YAML::Emitter.
#include <cmath>

#include "core/error.h"
#include "tools/config_yaml.h"

namespace attend::config {
namespace {

// Shortest text that reads back to the same float (YAML spelling for inf and nan).
template <typename F> std::string format_float(F v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  return fmt::format("{}", v);
}

class Writer final : public Fields {
 public:
  explicit Writer(YAML::Emitter& out) : out_(out) {}
  void field(const char* k, bool& v, Need) override { key(k) << (v ? "true" : "false"); }
  void field(const char* k, int& v, Need) override { key(k) << fmt::format("{}", v); }
  void field(const char* k, int64_t& v, Need) override { key(k) << fmt::format("{}", v); }
  void field(const char* k, float& v, Need) override { key(k) << format_float(v); }
  void field(const char* k, double& v, Need) override { key(k) << format_float(v); }
  void field(const char* k, std::string& v, Need) override { string(k, v); }
  void field(const char* k, std::vector<float>& v, Need) override {
    key(k) << YAML::Flow << YAML::BeginSeq;
    for (float x : v) out_ << format_float(x);
    out_ << YAML::EndSeq;
  }
  void path(const char* k, std::string& v, Need) override { string(k, v); }
  void choice(const char* k, std::string& v, const std::vector<std::string>&, Need) override { string(k, v); }
  void check(bool, const char*, const std::string&) override {}

 protected:
  void nested(const char* k, const std::function<void(Fields&)>& body, Need) override {
    key(k) << YAML::BeginMap;
    body(*this);
    out_ << YAML::EndMap;
  }

 private:
  YAML::Emitter& key(const char* k) { return out_ << YAML::Key << k << YAML::Value; }
  void string(const char* k, const std::string& v) {
    // Quote what would read back as null.
    bool null_like = v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
    key(k);
    if (null_like) out_ << YAML::DoubleQuoted;
    out_ << v;
  }
  YAML::Emitter& out_;
};

}  // namespace

std::string write_yaml(const std::function<void(Fields&)>& body) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  Writer writer(out);
  body(writer);
  out << YAML::EndMap;
  CHECK(out.good(), "writing YAML: {}", out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace attend::config
