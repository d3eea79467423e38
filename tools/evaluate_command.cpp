// attend evaluate: the command line over tools/evaluate.h, translate.h and classify.h.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "data/corpus.h"
#include "tools/classify.h"
#include "tools/cli.h"
#include "tools/cli_common.h"
#include "tools/evaluate.h"
#include "tools/progress.h"
#include "tools/text_io.h"

namespace attend {
namespace {

struct EvaluateArgs {
  std::string model, src, hyp, data, output;
  std::vector<std::string> refs;
  MetricOptions metrics;
  DecodeFlags decode;
  bool json = false;
};

void print(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

int evaluate_translations(const EvaluateArgs& a, const std::vector<std::string>& hyps) {
  std::vector<std::vector<std::string>> refs;
  for (const std::string& r : a.refs) refs.push_back(read_text_lines(r));
  const TranslationScores s = score_translations(hyps, refs, a.metrics);
  print(a.json ? scores_json(s).dump() + "\n" : format_scores(s));
  return 0;
}

int run_evaluate(const EvaluateArgs& a) {
  if (!a.hyp.empty()) {
    CHECK_HINT(a.model.empty() && a.src.empty() && a.data.empty(), "give --hyp and --ref, or --model and --src",
               "evaluate: --hyp scores an existing translation; it does not go with --model, --src or --data");
    CHECK_HINT(!a.refs.empty(), "e.g. attend evaluate --hyp out.en --ref test.en", "evaluate: --hyp needs --ref");
    return evaluate_translations(a, read_text_lines(a.hyp));
  }
  CHECK_HINT(!a.model.empty(), "attend evaluate --model DIR --src F --ref F, or --hyp F --ref F",
             "evaluate: give --model (or --hyp to score an existing translation)");
  const LoadedModel model = load_model_dir(a.model);
  TranslateOptions options = a.decode.apply(model.config);
  if (model.config.model.type == "classifier") {
    CHECK_HINT(!a.data.empty() && a.src.empty() && a.refs.empty(),
               "attend evaluate --model DIR --data test.tsv (a table with text and label columns)",
               "evaluate: a classifier is evaluated on --data");
    const data::LabelledCorpus table = data::read_labelled(a.data, model.config.data.table);
    CHECK(!table.labels.empty(), "{}: no label column '{}'", a.data, model.config.data.table.label_column);
    std::vector<int32_t> gold;
    for (const std::string& l : table.labels) gold.push_back(model.labels.id(l));
    Progress progress("classify", "examples");
    const std::vector<Classification> out = classify_lines(model, table.text, options.batch_tokens,
                                                           [&](int64_t d, int64_t t) { progress.update(d, t); });
    progress.done(int64_t(out.size()));
    std::vector<int32_t> predicted;
    for (const Classification& c : out) predicted.push_back(c.label);
    if (!a.output.empty()) {
      TextOutput o(a.output);
      for (int32_t p : predicted) o.line(model.labels.name(p));
      o.close();
    }
    const ClassificationScores s = score_classification(gold, predicted, model.labels.names());
    print(a.json ? scores_json(s).dump() + "\n" : format_scores(s));
    return 0;
  }
  CHECK_HINT(!a.src.empty() && !a.refs.empty() && a.data.empty(),
             "attend evaluate --model DIR --src test.de --ref test.en",
             "evaluate: a translation model is evaluated on --src and --ref");
  const std::vector<std::string> src = read_text_lines(a.src);
  const std::vector<Translation> out = translate_with_progress(Translator(model, options), src);
  std::vector<std::string> hyps;
  for (const Translation& t : out) hyps.push_back(t.nbest.empty() ? "" : t.nbest[0].text);
  if (!a.output.empty()) {
    TextOutput o(a.output);
    for (const std::string& h : hyps) o.line(h);
    o.close();
  }
  return evaluate_translations(a, hyps);
}

}  // namespace

Command add_evaluate_command(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand("evaluate", "BLEU and chrF of a translation model, accuracy of a classifier");
  cmd->add_option("--model", args->model, "the model directory");
  cmd->add_option("--src", args->src, "source sentences to translate (translation models)");
  cmd->add_option("--ref", args->refs, "reference translations; several files = several references")
      ->expected(1, -1);
  cmd->add_option("--hyp", args->hyp, "score this translation against --ref, without a model ('-' = stdin)");
  cmd->add_option("--data", args->data, "labelled TSV/CSV with a header (classifiers)");
  cmd->add_option("-o,--output", args->output, "also write the translations (or predicted labels) here");
  cmd->add_flag("--lowercase", args->metrics.lowercase, "lowercase hypotheses and references (BLEU and chrF)");
  cmd->add_option("--tokenize", args->metrics.tokenize, "BLEU tokenization: 13a (default) or none")
      ->check(CLI::IsMember({"13a", "none"}));
  cmd->add_flag("--json", args->json, "print one JSON object instead of text");
  add_decode_flags(cmd, args->decode);
  return {cmd, [args] { return run_evaluate(*args); }};
}

}  // namespace attend
