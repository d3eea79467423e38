// YAML <-> struct binding, with a test-local config of nested sections. Line and
// column numbers in the messages are 1-based and refer to the YAML texts below.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "tools/config_yaml.h"
#include "common/error_of.h"

using namespace attend;
using namespace attend::config;

namespace {

enum class Norm { pre, post };

struct Schedule {
  std::string name = "inverse_sqrt";
  int64_t warmup_steps = 4000;
  double min_lr = 0;
  bool operator==(const Schedule&) const = default;
};
void describe(Fields& f, Schedule& s) {
  f.choice("name", s.name, {"constant", "inverse_sqrt", "linear", "cosine"});
  f.field("warmup_steps", s.warmup_steps);
  f.check(s.warmup_steps >= 0, "warmup_steps", "must be >= 0");
  f.field("min_lr", s.min_lr);
}

struct Optim {
  float lr = 5e-4f;
  std::vector<float> betas = {0.9f, 0.98f};
  float eps = 1e-9f;
  bool operator==(const Optim&) const = default;
};
void describe(Fields& f, Optim& o) {
  f.field("lr", o.lr, required);
  f.field("betas", o.betas);
  f.field("eps", o.eps);
}

struct Train {
  Optim optimizer;
  Schedule schedule;
  int max_tokens = 4096;
  bool shuffle = true;
  bool operator==(const Train&) const = default;
};
void describe(Fields& f, Train& t) {
  f.section("optimizer", t.optimizer);
  f.section("schedule", t.schedule);
  f.field("max_tokens", t.max_tokens);
  f.field("shuffle", t.shuffle);
}

struct Data {
  std::string source;
  std::string target;
  std::string note = "plain";
  bool operator==(const Data&) const = default;
};
void describe(Fields& f, Data& d) {
  f.path("source", d.source, required);
  f.path("target", d.target);
  f.field("note", d.note);
}

struct Model {
  Norm norm = Norm::post;
  int d_model = 512;
  float dropout = 0.1f;
  bool operator==(const Model&) const = default;
};
void describe(Fields& f, Model& m) {
  f.enumeration("norm", m.norm, {{"pre", Norm::pre}, {"post", Norm::post}});
  f.field("d_model", m.d_model);
  f.check(m.d_model > 0, "d_model", "must be > 0");
  f.field("dropout", m.dropout);
}

struct Config {
  Model model;
  Data data;
  Train train;
  bool operator==(const Config&) const = default;
};
void describe(Fields& f, Config& c) {
  f.section("model", c.model);
  f.section("data", c.data, required);
  f.section("train", c.train);
}

const char* kBase =
    "model:\n"                    // 1
    "  norm: pre\n"               // 2
    "  d_model: 256\n"            // 3
    "data:\n"                     // 4
    "  source: corpus/train.de\n" // 5
    "train:\n"                    // 6
    "  optimizer: {lr: 0.001}\n"  // 7
    "  schedule:\n"               // 8
    "    warmup_steps: 100\n";    // 9

Config read(const std::string& text, const std::vector<std::string>& sets = {}) {
  Document doc = Document::parse(text, "train.yaml", "/base");
  for (const std::string& s : sets) doc.set(s);
  Config c;
  doc.read(c);
  return c;
}

std::string read_error(const std::string& text, const std::vector<std::string>& sets = {}) {
  return error_of([&] { read(text, sets); });
}

#define EXPECT_CONTAINS(text, part)                                    \
  do {                                                                 \
    const std::string text_ = (text);                                  \
    EXPECT_NE(text_.find(part), std::string::npos) << "in: " << text_; \
  } while (0)

}  // namespace

TEST(ConfigYaml, ReadsNestedSectionsAndKeepsDefaults) {
  Config c = read(kBase);
  EXPECT_EQ(c.model.norm, Norm::pre);
  EXPECT_EQ(c.model.d_model, 256);
  EXPECT_FLOAT_EQ(c.model.dropout, 0.1f);  // default
  EXPECT_EQ(c.data.source, "/base/corpus/train.de");
  EXPECT_EQ(c.data.target, "");
  EXPECT_FLOAT_EQ(c.train.optimizer.lr, 0.001f);
  EXPECT_EQ(c.train.optimizer.betas, (std::vector<float>{0.9f, 0.98f}));
  EXPECT_EQ(c.train.schedule.warmup_steps, 100);
  EXPECT_EQ(c.train.schedule.name, "inverse_sqrt");
  EXPECT_TRUE(c.train.shuffle);
}

TEST(ConfigYaml, ReadsEveryScalarKind) {
  Config c = read(
      "data: {source: x}\n"
      "train:\n"
      "  shuffle: false\n"
      "  max_tokens: +8192\n"
      "  optimizer: {lr: 5e-4, betas: [0.8, .99], eps: 1e-9}\n"
      "  schedule: {min_lr: -.inf}\n");
  EXPECT_FALSE(c.train.shuffle);
  EXPECT_EQ(c.train.max_tokens, 8192);
  EXPECT_FLOAT_EQ(c.train.optimizer.lr, 5e-4f);
  EXPECT_EQ(c.train.optimizer.betas, (std::vector<float>{0.8f, 0.99f}));
  EXPECT_EQ(c.train.schedule.min_lr, -INFINITY);
}

TEST(ConfigYaml, UnknownKeyNamesLineColumnSectionAndNearestKey) {
  std::string text = kBase;
  text.replace(text.find("warmup_steps"), 12, "warmup_step");
  EXPECT_CONTAINS(read_error(text),
                  "train.yaml: unknown key 'warmup_step' at line 9, column 5 in train.schedule; "
                  "did you mean 'warmup_steps'?");
}

TEST(ConfigYaml, UnknownKeyWithoutANearOneListsTheValidKeys) {
  EXPECT_CONTAINS(read_error(std::string(kBase) + "  colour: red\n"),
                  "unknown key 'colour' at line 10, column 3 in train; "
                  "valid keys: optimizer, schedule, max_tokens, shuffle");
}

TEST(ConfigYaml, UnknownTopLevelKey) {
  EXPECT_CONTAINS(read_error(std::string(kBase) + "modle: {}\n"),
                  "unknown key 'modle' at line 10, column 1 at the top level; did you mean 'model'?");
}

TEST(ConfigYaml, DuplicateKeyNamesBothPlaces) {
  EXPECT_CONTAINS(read_error(std::string(kBase) + "  schedule: {}\n"),
                  "duplicate key 'schedule' at line 10, column 3 in train (first at line 8, column 3)");
}

TEST(ConfigYaml, WrongTypeNamesPathExpectedTypeAndValue) {
  EXPECT_CONTAINS(read_error(std::string(kBase) + "  max_tokens: lots\n"),
                  "train.yaml: train.max_tokens: expected an integer, got 'lots' at line 10, column 15");
  EXPECT_CONTAINS(read_error(std::string(kBase) + "  max_tokens: 4.5\n"), "expected an integer, got '4.5'");
  EXPECT_CONTAINS(read_error(std::string(kBase) + "  max_tokens: 9999999999\n"),
                  "train.max_tokens: expected an integer in [-2147483648, 2147483647], got '9999999999'");
  EXPECT_CONTAINS(read_error(std::string(kBase) + "  shuffle: maybe\n"),
                  "train.shuffle: expected a bool (true or false), got 'maybe' at line 10, column 12");
  EXPECT_CONTAINS(read_error(std::string(kBase) + "  shuffle: [1]\n"),
                  "train.shuffle: expected a bool (true or false), got a list at line 10, column 12");
  EXPECT_CONTAINS(read_error(std::string(kBase) + "  max_tokens:\n"),
                  "train.max_tokens: expected an integer, got nothing");
}

TEST(ConfigYaml, WrongTypeInAFloatAndAListElement) {
  std::string text = kBase;
  text.replace(text.find("{lr: 0.001}"), 11, "{lr: fast, betas: [0.9, x]}");
  EXPECT_CONTAINS(read_error(text), "train.optimizer.lr: expected a float, got 'fast' at line 7, column 19");
  text.replace(text.find("fast"), 4, "0.1");
  EXPECT_CONTAINS(read_error(text), "train.optimizer.betas[1]: expected a float, got 'x' at line 7, column 37");
  EXPECT_CONTAINS(read_error("data: {source: x}\ntrain: {optimizer: {lr: 1, betas: 0.9}}\n"),
                  "train.optimizer.betas: expected a list of floats, got '0.9'");
}

TEST(ConfigYaml, SectionGivenAValueIsATypeError) {
  std::string text = kBase;
  text.replace(text.find("schedule:"), 9, "schedule: fast");
  EXPECT_CONTAINS(read_error(text.substr(0, text.find("    warmup"))),
                  "train.schedule: expected a section (a map of keys), got 'fast' at line 8, column 13");
}

TEST(ConfigYaml, MissingRequiredKeyNamesIt) {
  EXPECT_CONTAINS(read_error("data: {target: x}\n"),
                  "train.yaml: missing required key 'source' in data (section at line 1, column 7)");
  EXPECT_CONTAINS(read_error("model: {}\n"), "train.yaml: missing required key 'data' at the top level");
  // lr is required inside train.optimizer even when the whole section is absent
  EXPECT_CONTAINS(read_error("data: {source: x}\ntrain: {}\n"), "missing required key 'lr' in train.optimizer");
}

TEST(ConfigYaml, EnumAndChoiceListTheValidValues) {
  std::string text = kBase;
  text.replace(text.find("norm: pre"), 9, "norm: pr");
  EXPECT_CONTAINS(read_error(text),
                  "model.norm: unknown value 'pr' at line 2, column 9; valid values: pre, post; did you mean 'pre'?");
  EXPECT_CONTAINS(read_error(std::string(kBase) + "    name: noam\n"),
                  "train.schedule.name: unknown value 'noam' at line 10, column 11; "
                  "valid values: constant, inverse_sqrt, linear, cosine");
}

TEST(ConfigYaml, CheckFailsAtTheKeyPosition) {
  std::string text = kBase;
  text.replace(text.find("d_model: 256"), 12, "d_model: -1");
  EXPECT_CONTAINS(read_error(text), "model.d_model: must be > 0, got '-1' at line 3, column 12");
}

TEST(ConfigYaml, SyntaxErrorKeepsYamlCppLineAndColumn) {
  EXPECT_CONTAINS(error_of([] { Document::parse("model:\n  d_model: [1, 2\n", "train.yaml"); }),
                  "train.yaml: YAML syntax error at line 3, column 1: end of sequence flow not found");
  EXPECT_CONTAINS(error_of([] { Document::parse("a: b: c\n", "train.yaml"); }),
                  "train.yaml: YAML syntax error at line 1, column 5: illegal map value");
}

TEST(ConfigYaml, SetOverridesAValueAndCreatesSections) {
  Config c = read(kBase, {"train.schedule.warmup_steps=8000", "model.dropout=0.3",
                          "train.optimizer.betas=[0.8, 0.9]", "data.target=corpus/train.en"});
  EXPECT_EQ(c.train.schedule.warmup_steps, 8000);
  EXPECT_FLOAT_EQ(c.model.dropout, 0.3f);
  EXPECT_EQ(c.train.optimizer.betas, (std::vector<float>{0.8f, 0.9f}));
  EXPECT_EQ(c.data.target, "/base/corpus/train.en");
  Config d = read("data: {source: x}\n", {"train.optimizer.lr=0.5"});  // train, train.optimizer created
  EXPECT_FLOAT_EQ(d.train.optimizer.lr, 0.5f);
}

TEST(ConfigYaml, SetOfAnUnknownPathGivesTheUnknownKeyError) {
  EXPECT_CONTAINS(read_error(kBase, {"train.schedule.warmup_step=10"}),
                  "unknown key 'warmup_step' in train.schedule (in --set train.schedule.warmup_step=10); "
                  "did you mean 'warmup_steps'?");
  EXPECT_CONTAINS(read_error(kBase, {"train.schedul.warmup_steps=10"}),
                  "unknown key 'schedul' in train (in --set train.schedul.warmup_steps=10); "
                  "did you mean 'schedule'?");
}

TEST(ConfigYaml, SetOfAWrongTypeNamesTheSet) {
  EXPECT_CONTAINS(read_error(kBase, {"train.schedule.warmup_steps=many"}),
                  "train.schedule.warmup_steps: expected an integer, got 'many' "
                  "(in --set train.schedule.warmup_steps=many)");
}

TEST(ConfigYaml, MalformedSetIsRejected) {
  Document doc = Document::parse(kBase, "train.yaml");
  EXPECT_CONTAINS(error_of([&] { doc.set("train.max_tokens"); }), "--set train.max_tokens: expected key.path=value");
  EXPECT_CONTAINS(error_of([&] { doc.set("train..max_tokens=1"); }), "empty key in 'train..max_tokens'");
  EXPECT_CONTAINS(error_of([&] { doc.set("model.d_model.x=1"); }),
                  "--set model.d_model.x=1: 'model.d_model' is a value ('256'), not a section");
}

TEST(ConfigYaml, ExpandsEnvironmentVariablesInStrings) {
  ::setenv("ATTEND_TEST_ROOT", "/data/root", 1);
  ::unsetenv("ATTEND_TEST_UNSET");
  Config c = read(
      "train: {optimizer: {lr: 1}}\n"
      "data: {source: '${ATTEND_TEST_ROOT}/train.de', note: 'at ${ATTEND_TEST_ROOT}'}\n");
  EXPECT_EQ(c.data.source, "/data/root/train.de");
  EXPECT_EQ(c.data.note, "at /data/root");
  EXPECT_CONTAINS(read_error("data:\n  source: ${ATTEND_TEST_UNSET}/x\ntrain: {optimizer: {lr: 1}}\n"),
                  "data.source: environment variable 'ATTEND_TEST_UNSET' is not set "
                  "(in '${ATTEND_TEST_UNSET}/x' at line 2, column 11)");
}

TEST(ConfigYaml, EnvironmentDefaultsApplyOnlyWhenUnset) {
  ::unsetenv("ATTEND_TEST_DATA");
  Document doc = Document::parse(
      "data: {source: '${ATTEND_TEST_DATA}/multi30k'}\ntrain: {optimizer: {lr: 1}}\n", "train.yaml", "/base");
  doc.set_env_default("ATTEND_TEST_DATA", "../shared/data");
  Config c;
  doc.read(c);
  EXPECT_EQ(c.data.source, "/shared/data/multi30k");  // default, then resolved against /base
  ::setenv("ATTEND_TEST_DATA", "/mnt/data", 1);
  doc.read(c);
  EXPECT_EQ(c.data.source, "/mnt/data/multi30k");
  ::unsetenv("ATTEND_TEST_DATA");
}

TEST(ConfigYaml, ExpandEnvHelper) {
  ::setenv("ATTEND_TEST_ROOT", "/r", 1);
  EXPECT_EQ(expand_env("${ATTEND_TEST_ROOT}/a/$HOME"), "/r/a/$HOME");  // only ${...} is expanded
  EXPECT_EQ(expand_env("${ATTEND_TEST_NOPE}", {{"ATTEND_TEST_NOPE", "d"}}), "d");
  EXPECT_CONTAINS(error_of([] { expand_env("${ATTEND_TEST_ROOT"); }), "unterminated '${' in '${ATTEND_TEST_ROOT'");
}

TEST(ConfigYaml, ResolvesRelativePathsAgainstTheConfigFolder) {
  EXPECT_EQ(resolve_path("corpus/a.de", "/cfg/dir"), "/cfg/dir/corpus/a.de");
  EXPECT_EQ(resolve_path("../data/a.de", "/cfg/dir"), "/cfg/data/a.de");
  EXPECT_EQ(resolve_path("/abs/a.de", "/cfg/dir"), "/abs/a.de");
  EXPECT_EQ(resolve_path("", "/cfg/dir"), "");

  std::filesystem::path dir = std::filesystem::temp_directory_path() / "attend_test_config_yaml";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "train.yaml") << "data: {source: corpus/train.de}\ntrain: {optimizer: {lr: 1}}\n";
  Document doc = Document::load_file((dir / "train.yaml").string());
  Config c;
  doc.read(c);
  EXPECT_EQ(c.data.source, (dir / "corpus/train.de").string());
  std::filesystem::remove_all(dir);
}

TEST(ConfigYaml, LoadFileNamesAMissingFile) {
  EXPECT_CONTAINS(error_of([] { Document::load_file("/nonexistent/train.yaml"); }),
                  "cannot open config file '/nonexistent/train.yaml'");
}

TEST(ConfigYaml, WritesEveryFieldInDeclarationOrder) {
  Train t;
  EXPECT_EQ(to_yaml(t),
            "optimizer:\n"
            "  lr: 0.0005\n"
            "  betas: [0.9, 0.98]\n"
            "  eps: 1e-09\n"
            "schedule:\n"
            "  name: inverse_sqrt\n"
            "  warmup_steps: 4000\n"
            "  min_lr: 0\n"
            "max_tokens: 4096\n"
            "shuffle: true\n");
}

TEST(ConfigYaml, WriteThenReadGivesAnEqualStruct) {
  Config c;
  c.model = {Norm::pre, 768, 0.123456789f};
  c.data = {"/abs/src.de", "", "has: colon, # hash and 'quotes'"};
  c.train.optimizer = {3e-4f, {0.9f, 0.999f}, 1e-8f};
  c.train.schedule = {"cosine", 0, 1.0 / 3.0};
  c.train.max_tokens = -1;
  c.train.shuffle = false;
  std::string text = to_yaml(c);
  Config back = read(text);
  EXPECT_EQ(back, c) << text;
  EXPECT_EQ(to_yaml(back), text);
}

TEST(ConfigYaml, WritesNullLikeStringsQuoted) {
  Config c;
  c.data = {"/abs/src", "", "null"};
  Config back = read(to_yaml(c));
  EXPECT_EQ(back.data.note, "null");
  EXPECT_EQ(back.data.target, "");
}
