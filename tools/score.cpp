#include "tools/score.h"

#include <spdlog/spdlog.h>

#include "core/ops.h"
#include "data/batcher.h"
#include "data/dataset.h"
#include "models/seq2seq.h"

namespace attend {

std::vector<double> score_pairs(const LoadedModel& model, const std::vector<std::string>& source,
                                const std::vector<std::string>& target, const ScoreOptions& options,
                                const std::function<void(int64_t, int64_t)>& progress) {
  CHECK_HINT(model.config.model.type == "seq2seq", "score needs a translation model",
             "{} holds a {} model", model.dir, model.config.model.type);
  CHECK(source.size() == target.size(), "score: {} source lines but {} target lines", source.size(), target.size());
  CHECK(options.batch_tokens > 0, "batch_tokens must be positive, got {}", options.batch_tokens);
  NoGradGuard no_grad;
  const Seq2Seq& m = model.model->as<Seq2Seq>();
  data::Dataset dataset = data::make_translation_dataset(
      data::ParallelCorpus{source, target}, model.vocabs.source, model.vocabs.target,
      {.max_length = 0, .skip_empty = false}, "score");
  const size_t limit = size_t(model.config.model.max_positions - 1);  // room for </s> or <s>
  for (data::Example& e : dataset.examples) {
    for (auto* side : {&e.src, &e.tgt}) {
      if (side->size() <= limit) continue;
      spdlog::warn("line {}: {} {} pieces; truncated to {} (the model's max_positions is {})", e.index + 1,
                   side->size(), side == &e.src ? "source" : "target", limit, limit + 1);
      side->resize(limit);
    }
  }
  const int64_t total = dataset.size();
  data::Batcher batcher(std::make_shared<data::Dataset>(std::move(dataset)),
                        {.max_tokens = options.batch_tokens, .shuffle = false, .prefetch = 0});
  std::vector<double> out(size_t(total), 0.0);
  int64_t done = 0;
  while (std::optional<data::Batch> b = batcher.next()) {
    const Tensor logp = log_softmax(m.forward(b->src, b->tgt_in)).contiguous();  // (B,T,V)
    const int64_t B = logp.size(0), T = logp.size(1), V = logp.size(2);
    const std::vector<int64_t> gold = b->tgt_out.to_ids();
    const float* p = logp.data();
    for (int64_t r = 0; r < B; ++r) {
      double sum = 0;
      int64_t n = 0;
      for (int64_t t = 0; t < T; ++t) {
        const int64_t y = gold[size_t(r * T + t)];
        if (y == data::kPadId) continue;
        sum += double(p[(r * T + t) * V + y]);
        ++n;
      }
      out[size_t(b->indices[size_t(r)])] = options.normalize ? sum / double(n) : sum;
    }
    done += B;
    if (progress) progress(done, total);
  }
  return out;
}

}  // namespace attend

// --- attend score ---------------------------------------------------------------------
#include "core/threads.h"
#include "data/corpus.h"
#include "tools/cli.h"
#include "tools/progress.h"
#include "tools/text_io.h"

namespace attend {

Command add_score_command(CLI::App& app) {
  struct Args {
    std::string model, src, tgt, output;
    ScoreOptions options;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("score", "log-probability of each target line given its source line");
  cmd->add_option("--model", args->model, "the model directory")->required();
  cmd->add_option("--src", args->src, "source sentences, one per line")->required();
  cmd->add_option("--tgt", args->tgt, "target sentences, line by line with --src")->required();
  cmd->add_option("-o,--output", args->output, "output file (default: stdout)");
  cmd->add_flag("--normalize", args->options.normalize, "per target token (</s> included) instead of the sum");
  cmd->add_option("--batch-tokens", args->options.batch_tokens, "padded tokens per batch")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", args->threads, "threads; 0 = all cores")->check(CLI::NonNegativeNumber);
  return {cmd, [args] {
            set_num_threads(args->threads);
            const LoadedModel model = load_model_dir(args->model);
            const data::ParallelCorpus text = data::read_parallel(args->src, args->tgt);
            Progress progress("score", "pairs");
            const std::vector<double> scores = score_pairs(model, text.source, text.target, args->options,
                                                           [&](int64_t d, int64_t t) { progress.update(d, t); });
            progress.done(int64_t(scores.size()));
            TextOutput out(args->output);
            for (double s : scores) out.line(fmt::format("{:.6f}", s));
            out.close();
            return 0;
          }};
}

}  // namespace attend
