// The run config (tools/config.h) as a user meets it: the shipped configs parse with
// the values they promise, and each kind of mistake is reported with what to fix.
// (The YAML binder itself is tested on a test-local struct in tests/tools_config.)
#include <cstdlib>

#include "train/train_fixtures.h"
#include "common/error_of.h"

using namespace attend;
using namespace attend::train_test;

namespace {

std::string parse_error(const std::string& text) {
  return error_of([&] { parse_config(text, "run.yaml", "/base"); });
}

#define EXPECT_CONTAINS(text, part)                                    \
  do {                                                                 \
    const std::string text_ = (text);                                  \
    EXPECT_NE(text_.find(part), std::string::npos) << "in: " << text_; \
  } while (0)

const char* kMinimal = "output: {dir: run}\n";

std::string configs_dir() { return std::string(ATTEND_SOURCE_DIR) + "/configs"; }

TEST(RunConfig, DefaultsAreDesignMdsBaseTransformer) {
  const Config c = parse_config(kMinimal, "run.yaml", "/base");
  EXPECT_EQ(c.model.type, "seq2seq");
  EXPECT_EQ(c.model.d_model, 512);
  EXPECT_EQ(c.model.encoder_layers, 6);
  EXPECT_EQ(c.train.optimizer.name, "adam");
  EXPECT_FLOAT_EQ(c.train.optimizer.lr, 5e-4f);
  EXPECT_DOUBLE_EQ(c.train.optimizer.beta2, double(0.98f));
  EXPECT_EQ(c.train.schedule.name, "inverse_sqrt");
  EXPECT_EQ(c.train.schedule.warmup_steps, 4000);
  EXPECT_EQ(c.train.max_tokens, 4096);
  EXPECT_FLOAT_EQ(c.train.label_smoothing, 0.1f);
  EXPECT_EQ(c.decode.beam, 4);
  EXPECT_EQ(c.output.dir, "/base/run");  // relative to the config's folder
}

TEST(RunConfig, UnknownKeyNamesItsLineColumnAndTheNearestKey) {
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain:\n  schedule: {name: inverse_sqrt, warmup_step: 100}\n"),
                  "run.yaml: unknown key 'warmup_step' at line 3, column 34 in train.schedule; "
                  "did you mean 'warmup_steps'?");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\nmodel:\n  dmodel: 256\n"),
                  "unknown key 'dmodel' at line 3, column 3 in model; did you mean 'd_model'?");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrian: {}\n"),
                  "unknown key 'trian' at line 2, column 1 at the top level; did you mean 'train'?");
}

TEST(RunConfig, UnknownKeyInASetNamesTheSet) {
  EXPECT_CONTAINS(error_of([] { load_config(tiny_yaml(), {"train.schedule.warmup_step=10"}); }),
                  "unknown key 'warmup_step' in train.schedule (in --set train.schedule.warmup_step=10); "
                  "did you mean 'warmup_steps'?");
}

TEST(RunConfig, WrongTypeNamesTheExpectedType) {
  EXPECT_CONTAINS(parse_error("output: {dir: run}\nmodel: {d_model: big}\n"),
                  "model.d_model: expected an integer, got 'big' at line 2, column 18");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: {optimizer: {lr: fast}}\n"),
                  "train.optimizer.lr: expected a float, got 'fast' at line 2, column 25");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ndata: {vocab: {shared: sometimes}}\n"),
                  "data.vocab.shared: expected a bool (true or false), got 'sometimes' at line 2, column 24");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: {optimizer: {betas: 0.9}}\n"),
                  "train.optimizer.betas: expected a list of floats, got '0.9'");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: 3\n"),
                  "train: expected a section (a map of keys), got '3' at line 2, column 8");
  EXPECT_CONTAINS(error_of([] { load_config(tiny_yaml(), {"train.max_steps=many"}); }),
                  "train.max_steps: expected an integer, got 'many' (in --set train.max_steps=many)");
}

TEST(RunConfig, MissingRequiredFieldSaysWhich) {
  EXPECT_CONTAINS(parse_error("model: {d_model: 256}\n"), "run.yaml: missing required key 'dir' in output");
  EXPECT_CONTAINS(parse_error("model: {d_model: 256}\noutput: {}\n"),
                  "missing required key 'dir' in output (section at line 2, column 9)");
}

TEST(RunConfig, YamlSyntaxErrorKeepsYamlCppLineAndColumn) {
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain:\n  optimizer: {lr: 1e-3\n"),
                  "run.yaml: YAML syntax error at line 4, column 1: end of map flow not found");
  EXPECT_CONTAINS(error_of([] { load_config(configs_dir() + "/does-not-exist.yaml"); }),
                  "cannot open config file '" + configs_dir() + "/does-not-exist.yaml'");
}

TEST(RunConfig, UnknownValueListsTheValidOnes) {
  EXPECT_CONTAINS(parse_error("output: {dir: run}\nmodel: {type: transformer}\n"),
                  "model.type: unknown value 'transformer' at line 2, column 15; valid values: classifier, seq2seq");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: {optimizer: {name: adamm}}\n"),
                  "did you mean 'adam'?");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\nmodel: {norm: pre_norm}\n"), "valid values: post, pre");
}

TEST(RunConfig, BrokenRulesNameTheKey) {
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: {accumulate: 0}\n"),
                  "train.accumulate: must be >= 1, got '0' at line 2, column 21");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: {max_minutes: -5}\n"),
                  "train.max_minutes: must be >= 0 (0 = no time limit), got '-5' at line 2, column 22");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: {label_smoothing: 1.5}\n"),
                  "train.label_smoothing: must be in [0, 1), got '1.5'");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: {schedule: {name: cosine, warmup_steps: 100}}\n"),
                  "train.schedule.total_steps: must be greater than warmup_steps for the cosine schedule "
                  "(the step where the decay ends) (the default)");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ntrain: {schedule: {warmup_steps: 0}}\n"),
                  "train.schedule.warmup_steps: must be >= 1 for the inverse_sqrt schedule, got '0'");
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ndata: {vocab: {size: 3}}\n"),
                  "data.vocab.size: must be more than the 4 special pieces, got '3'");
}

TEST(RunConfig, PathsResolveAgainstTheConfigFolderAndAttendDataExpands) {
  ::setenv("ATTEND_DATA", "/datasets", 1);
  const Config c = load_config(configs_dir() + "/multi30k-de-en.yaml");
  ::unsetenv("ATTEND_DATA");
  EXPECT_EQ(c.data.train.source, "/datasets/multi30k/train.de.gz");
  EXPECT_EQ(c.data.valid.target, "/datasets/multi30k/val.en.gz");
  EXPECT_EQ(c.output.dir, std::string(ATTEND_SOURCE_DIR) + "/runs/multi30k-de-en");
  // Without ATTEND_DATA the data root is ../shared/data beside the repository.
  const Config d = load_config(configs_dir() + "/multi30k-de-en.yaml");
  EXPECT_EQ(d.data.train.source, data_root_default() + "/multi30k/train.de.gz");
  const Config t = load_config(tiny_yaml());
  EXPECT_EQ(t.data.train.source, configs_dir() + "/train.src");
}

TEST(RunConfig, TableDelimiterIsOneCharacter) {
  const Config c = parse_config("output: {dir: run}\ndata: {table: {delimiter: ';', quoting: false}}\n", "run.yaml", "/base");
  EXPECT_EQ(c.data.table.delimiter, ';');
  EXPECT_FALSE(c.data.table.quoting);
  EXPECT_EQ(parse_config(kMinimal, "run.yaml", "/base").data.table.delimiter, 0);  // from the file name
  EXPECT_EQ(parse_config("output: {dir: run}\ndata: {table: {delimiter: \"\\t\"}}\n", "run.yaml", "/base").data.table.delimiter,
            '\t');
  EXPECT_CONTAINS(parse_error("output: {dir: run}\ndata: {table: {delimiter: ';;'}}\n"),
                  "data.table.delimiter: must be one character, or empty for: from the file name, got ';;'");
}

using RunConfigFile = TrainTest;

TEST_F(RunConfigFile, SavedConfigReadsBackTheSame) {
  const Config c = load_config(tiny_yaml(), {"train.optimizer.lr=1.5e-3", "model.norm=post", "data.table.delimiter=\"\\t\""});
  save_config(c, path("config.yaml"));
  const Config back = load_config(path("config.yaml"));
  EXPECT_EQ(config_to_yaml(back), config_to_yaml(c));
  EXPECT_FLOAT_EQ(back.train.optimizer.lr, 1.5e-3f);
  EXPECT_EQ(back.data.table.delimiter, '\t');
}

TEST(RunConfig, ShippedConfigsParseWithTheirPromisedValues) {
  const Config tiny = load_config(tiny_yaml());
  EXPECT_EQ(tiny.model.d_model, 64);
  EXPECT_EQ(tiny.train.max_steps, 600);

  const Config m = load_config(configs_dir() + "/multi30k-de-en.yaml");
  EXPECT_EQ(m.model.type, "seq2seq");
  EXPECT_EQ(m.model.d_model, 256);
  EXPECT_EQ(m.model.heads, 4);
  EXPECT_EQ(m.model.ffn_dim, 1024);
  EXPECT_EQ(m.model.encoder_layers, 3);
  EXPECT_EQ(m.model.decoder_layers, 3);
  EXPECT_FLOAT_EQ(m.model.dropout, 0.2f);  // the recipe docs/benchmarks.md reports (BLEU 41.7 in 44 minutes)
  EXPECT_EQ(m.data.vocab.size, 8000);
  EXPECT_EQ(m.data.vocab.type, "unigram");
  EXPECT_TRUE(m.data.vocab.shared);
  EXPECT_FLOAT_EQ(m.train.label_smoothing, 0.1f);
  EXPECT_EQ(m.train.schedule.name, "inverse_sqrt");
  EXPECT_EQ(m.train.schedule.warmup_steps, 1000);
  EXPECT_FLOAT_EQ(m.train.optimizer.lr, 1e-3f);
  EXPECT_EQ(m.train.max_tokens, 2048);
  EXPECT_DOUBLE_EQ(m.train.max_minutes, 44.0);

  const Config s = load_config(configs_dir() + "/sst2.yaml");
  EXPECT_EQ(s.model.type, "classifier");
  EXPECT_EQ(s.model.pooling, Pooling::mean);
  EXPECT_FLOAT_EQ(s.train.label_smoothing, 0.0f);
  EXPECT_EQ(s.data.train.table, data_root_default() + "/sst2/train.tsv");
  EXPECT_EQ(s.data.valid.table, data_root_default() + "/sst2/dev.tsv");

  EXPECT_NO_THROW(load_config(configs_dir() + "/demo.yaml"));
}

}  // namespace
