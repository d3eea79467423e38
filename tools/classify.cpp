#include "tools/classify.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/ops.h"
#include "data/batcher.h"
#include "data/dataset.h"
#include "models/classifier.h"

namespace attend {

std::vector<Classification> classify_lines(const LoadedModel& model, const std::vector<std::string>& lines,
                                           int64_t batch_tokens,
                                           const std::function<void(int64_t, int64_t)>& progress) {
  CHECK_HINT(model.config.model.type == "classifier", "use `attend translate` for a translation model",
             "{} holds a {} model, not a classifier", model.dir, model.config.model.type);
  CHECK(batch_tokens > 0, "batch_tokens must be positive, got {}", batch_tokens);
  NoGradGuard no_grad;
  const Classifier& m = model.model->as<Classifier>();
  data::Dataset dataset =
      data::make_source_dataset(lines, model.vocabs.source, {.max_length = 0, .skip_empty = false}, "classify");
  const size_t limit = size_t(model.config.model.max_positions - 1);  // room for </s>
  for (data::Example& e : dataset.examples) {
    if (e.src.size() <= limit) continue;
    spdlog::warn("line {}: {} pieces; truncated to {} (the model's max_positions is {})", e.index + 1, e.src.size(),
                 limit, limit + 1);
    e.src.resize(limit);
  }
  const int64_t total = dataset.size();
  data::Batcher batcher(std::make_shared<data::Dataset>(std::move(dataset)),
                        {.max_tokens = batch_tokens, .shuffle = false, .prefetch = 0});
  std::vector<Classification> out(static_cast<size_t>(total));
  int64_t done = 0;
  while (std::optional<data::Batch> b = batcher.next()) {
    const Tensor probs = softmax(m.forward(b->src)).contiguous();  // (B,C)
    const int64_t B = probs.size(0), C = probs.size(1);
    const float* p = probs.data();
    for (int64_t r = 0; r < B; ++r) {
      Classification& c = out[size_t(b->indices[size_t(r)])];
      c.probs.assign(p + r * C, p + (r + 1) * C);
      c.label = int32_t(std::max_element(c.probs.begin(), c.probs.end()) - c.probs.begin());
    }
    done += B;
    if (progress) progress(done, total);
  }
  return out;
}

}  // namespace attend

// --- attend classify ------------------------------------------------------------------
#include "core/threads.h"
#include "tools/cli.h"
#include "tools/progress.h"
#include "tools/text_io.h"

namespace attend {

Command add_classify_command(CLI::App& app) {
  struct Args {
    std::string model, input, output;
    int64_t batch_tokens = 4096;
    bool probs = false;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("classify", "label text, one example per line");
  cmd->add_option("--model", args->model, "the classifier's model directory")->required();
  cmd->add_option("-i,--input", args->input, "input file (default: stdin)");
  cmd->add_option("-o,--output", args->output, "output file (default: stdout)");
  cmd->add_flag("--probs", args->probs, "after the label, the probability of every label (labels.txt order), tab-separated");
  cmd->add_option("--batch-tokens", args->batch_tokens, "padded tokens per batch")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", args->threads, "threads; 0 = all cores")->check(CLI::NonNegativeNumber);
  return {cmd, [args] {
            set_num_threads(args->threads);
            const LoadedModel model = load_model_dir(args->model);
            const std::vector<std::string> lines = read_text_lines(args->input);
            Progress progress("classify", "lines");
            const std::vector<Classification> out = classify_lines(
                model, lines, args->batch_tokens, [&](int64_t d, int64_t t) { progress.update(d, t); });
            progress.done(int64_t(out.size()));
            TextOutput output(args->output);
            for (const Classification& c : out) {
              std::string line = model.labels.name(c.label);
              if (args->probs)
                for (float p : c.probs) line += fmt::format("\t{:.4f}", p);
              output.line(line);
            }
            output.close();
            return 0;
          }};
}

}  // namespace attend
