#include "tools/translate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "core/bf16_weights.h"
#include "core/ops.h"
#include "data/tokenizer.h"
#include "layers/attention.h"
#include "models/seq2seq.h"

namespace attend {

TranslateOptions translate_options_from(const Config& config) {
  const DecodeConfig& d = config.decode;
  TranslateOptions o;
  o.search = {.beam = d.beam,
              .length_penalty = d.length_penalty,
              .max_length_a = d.max_length_a,
              .max_length_b = d.max_length_b,
              .bos_id = data::kBosId,
              .eos_id = data::kEosId,
              .unk_id = data::kUnkId};
  o.batch_tokens = d.batch_tokens;
  o.precision = parse_gemm_precision(d.precision);
  return o;
}

std::vector<int64_t> piece_words(const std::vector<std::string>& pieces) {
  static const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's word start
  std::vector<int64_t> words;
  int64_t word = -1;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const bool starts = pieces[i].rfind(kSpace, 0) == 0 && !(i > 0 && pieces[i - 1] == kSpace);
    if (starts || word < 0) ++word;
    words.push_back(word);
  }
  return words;
}

std::string hard_alignment(const std::vector<float>& weights, int64_t columns,
                           const std::vector<std::string>& source_pieces,
                           const std::vector<std::string>& target_pieces) {
  const int64_t S = int64_t(source_pieces.size()), T = int64_t(target_pieces.size());
  CHECK(S <= columns && int64_t(weights.size()) >= T * columns,
        "hard_alignment: {} weights with {} columns for {} target and {} source pieces", weights.size(), columns, T,
        S);
  if (S == 0) return "";
  const std::vector<int64_t> src_word = piece_words(source_pieces), tgt_word = piece_words(target_pieces);
  std::set<std::pair<int64_t, int64_t>> pairs;
  for (int64_t t = 0; t < T; ++t) {
    const float* row = weights.data() + t * columns;
    const int64_t s = std::max_element(row, row + S) - row;
    pairs.insert({src_word[size_t(s)], tgt_word[size_t(t)]});
  }
  std::string out;
  for (const auto& [i, j] : pairs) out += (out.empty() ? "" : " ") + std::to_string(i) + "-" + std::to_string(j);
  return out;
}

Translator::Translator(const LoadedModel& model, TranslateOptions options)
    : model_(model), options_(std::move(options)) {
  CHECK_HINT(model_.config.model.type == "seq2seq", "use `attend classify` for a classifier",
             "{} holds a {} model, not a translation model", model_.dir, model_.config.model.type);
  if (options_.search.nbest > options_.search.beam) options_.search.beam = options_.search.nbest;
  CHECK(options_.batch_tokens > 0, "batch_tokens must be positive, got {}", options_.batch_tokens);
  const ModelConfig& c = model_.config.model;
  CHECK(options_.attention_layer < c.decoder_layers,
        "attention layer {} does not exist: the decoder has layers 0..{}", options_.attention_layer,
        c.decoder_layers - 1);
  CHECK(options_.attention_head < c.heads, "attention head {} does not exist: layers have heads 0..{}",
        options_.attention_head, c.heads - 1);
}

std::vector<float> Translator::attention(const std::vector<int32_t>& src, const std::vector<int32_t>& tokens,
                                         bool finished, int layer, int head) const {
  NoGradGuard no_grad;
  const Seq2Seq& m = model_.model->as<Seq2Seq>();
  const int64_t S = int64_t(src.size());
  const int64_t T = int64_t(tokens.size()) + (finished ? 1 : 0);
  std::vector<int32_t> in = {data::kBosId};
  in.insert(in.end(), tokens.begin(), tokens.begin() + (T - 1));
  const Tensor src_ids = Tensor::from_ids(src, {1, S});
  const Tensor mask = padding_mask(src_ids, m.config().pad_id);
  const Tensor memory = m.encoder().forward(src_ids, mask);
  std::vector<Tensor> layers;
  m.decoder().forward(Tensor::from_ids(in, {1, T}), memory, mask, nullptr, 0, nullptr, &layers);
  const int64_t L = int64_t(layers.size());
  const int64_t l = layer < 0 ? L - 1 : layer;
  CHECK(l >= 0 && l < L, "attention layer {} does not exist: the decoder has layers 0..{}", layer, L - 1);
  Tensor probs = layers[size_t(l)];  // (1,H,T,S)
  const int64_t H = probs.size(1);
  CHECK(head < H, "attention head {} does not exist: layers have heads 0..{}", head, H - 1);
  Tensor w = head < 0 ? mean(probs, {1}) : probs.slice(1, head, head + 1);
  return w.reshape({T, S}).to_vector();
}

std::vector<Translation> Translator::translate(const std::vector<std::string>& lines,
                                               const std::function<void(int64_t, int64_t)>& progress) const {
  const data::Tokenizer& source = model_.vocabs.source;
  const data::Tokenizer& target = model_.vocabs.target;
  const int64_t limit = model_.config.model.max_positions - 1;  // pieces, leaving room for </s>
  std::vector<std::vector<int32_t>> pieces = source.encode_all(lines);
  std::vector<Translation> out(lines.size());
  std::vector<std::vector<int32_t>> sources;
  std::vector<size_t> line_of;  // sources[k] is line line_of[k]
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<int32_t>& p = pieces[i];
    if (p.empty()) {
      out[i].nbest.push_back({});
      continue;
    }
    if (int64_t(p.size()) > limit) {
      spdlog::warn("line {}: {} source pieces; truncated to {} (the model's max_positions is {})", i + 1, p.size(),
                   limit, limit + 1);
      p.resize(size_t(limit));
      out[i].truncated = true;
    }
    p.push_back(data::kEosId);
    sources.push_back(std::move(p));
    line_of.push_back(i);
  }
  const int64_t empty = int64_t(lines.size() - sources.size());
  std::vector<std::vector<Hypothesis>> found;
  GemmPrecisionScope precision(options_.precision);
  Bf16WeightCache prepared_weights;  // each weight packed for oneDNN (and rounded, in bf16) once for the whole input
  if (!sources.empty())
    found = decode_all(model_.model->as<Seq2Seq>(), sources, options_.search, options_.batch_tokens,
                       [&](int64_t done, int64_t) {
                         if (progress) progress(empty + done, int64_t(lines.size()));
                       });
  else if (progress)
    progress(int64_t(lines.size()), int64_t(lines.size()));

  for (size_t k = 0; k < sources.size(); ++k) {
    Translation& t = out[line_of[k]];
    const std::vector<int32_t>& src = sources[k];
    std::vector<std::string> src_pieces;
    if (options_.alignment || options_.attention)
      for (int32_t id : src) src_pieces.push_back(source.piece(id));
    for (const Hypothesis& h : found[k]) {
      TranslatedHypothesis th{.text = target.decode(h.tokens), .tokens = h.tokens, .score = h.score,
                              .normalized = h.normalized, .finished = h.finished, .alignment = {}};
      if (options_.alignment && !h.tokens.empty()) {
        std::vector<std::string> tgt_pieces;
        for (int32_t id : h.tokens) tgt_pieces.push_back(target.piece(id));
        const std::vector<std::string> src_words(src_pieces.begin(), src_pieces.end() - 1);  // without </s>
        th.alignment = hard_alignment(attention(src, h.tokens, h.finished, -1, -1), int64_t(src.size()),
                                      src_words, tgt_pieces);
      }
      t.nbest.push_back(std::move(th));
    }
    if (t.nbest.empty()) {  // only when every score was NaN or -inf
      spdlog::warn("line {}: the search found no hypothesis (non-finite scores); output left empty", line_of[k] + 1);
      t.nbest.push_back({});
    }
    if (options_.attention && !found[k].empty()) {
      const Hypothesis& best = found[k][0];
      t.source_pieces = src_pieces;
      for (int32_t id : best.tokens) t.target_pieces.push_back(target.piece(id));
      if (best.finished) t.target_pieces.push_back(target.piece(data::kEosId));
      t.attention =
          attention(src, best.tokens, best.finished, options_.attention_layer, options_.attention_head);
    }
  }
  return out;
}

}  // namespace attend

// --- attend translate -----------------------------------------------------------------
#include <filesystem>

#include "core/threads.h"
#include "data/files.h"
#include "tools/attention_svg.h"
#include "tools/cli.h"
#include "tools/cli_common.h"
#include "tools/progress.h"
#include "tools/text_io.h"

namespace attend {

void add_decode_flags(CLI::App* cmd, DecodeFlags& f) {
  cmd->add_option("--beam", f.beam, "beam size; 1 = greedy (default: decode.beam of the model's config)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--length-penalty", f.length_penalty, "GNMT length penalty alpha (default: decode.length_penalty)");
  cmd->add_option("--max-length-a", f.max_length_a, "max output length = a * source length + b");
  cmd->add_option("--max-length-b", f.max_length_b, "max output length = a * source length + b");
  cmd->add_option("--batch-tokens", f.batch_tokens, "decoder rows x source tokens per batch, a sentence counting beam times (default: decode.batch_tokens)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-unk", f.no_unk, "never produce <unk>");
  cmd->add_option("--precision", f.precision, "fp32, or bf16 matrix products with fp32 accumulation (default: decode.precision)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--threads", f.threads, "threads; 0 = all cores")->check(CLI::NonNegativeNumber);
}

TranslateOptions DecodeFlags::apply(const Config& config) const {
  set_num_threads(threads);
  TranslateOptions o = translate_options_from(config);
  if (beam) o.search.beam = *beam;
  if (length_penalty) o.search.length_penalty = *length_penalty;
  if (max_length_a) o.search.max_length_a = *max_length_a;
  if (max_length_b) o.search.max_length_b = *max_length_b;
  if (batch_tokens) o.batch_tokens = *batch_tokens;
  o.search.allow_unk = !no_unk;
  if (precision) o.precision = parse_gemm_precision(*precision);
  return o;
}

std::vector<Translation> translate_with_progress(const Translator& tr, const std::vector<std::string>& lines) {
  Progress progress("translate", "sentences");
  std::vector<Translation> out = tr.translate(lines, [&](int64_t d, int64_t t) { progress.update(d, t); });
  int64_t tokens = 0;
  for (const Translation& t : out) tokens += t.nbest.empty() ? 0 : int64_t(t.nbest[0].tokens.size());
  progress.done(int64_t(lines.size()),
                fmt::format("{} target tokens ({:.0f}/s)", tokens, double(tokens) / std::max(progress.seconds(), 1e-9)));
  return out;
}

Command add_translate_command(CLI::App& app) {
  struct Args {
    std::string model, input, output, svg_dir;
    DecodeFlags decode;
    int nbest = 0;
    bool alignment = false;
    int layer = -1, head = -1;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("translate", "translate text, one sentence per line");
  cmd->add_option("--model", args->model, "the model directory")->required();
  cmd->add_option("-i,--input", args->input, "input file (default: stdin)");
  cmd->add_option("-o,--output", args->output, "output file (default: stdout)");
  add_decode_flags(cmd, args->decode);
  cmd->add_option("--nbest", args->nbest, "print the K best as `index ||| hypothesis ||| score` (the beam is raised to K if smaller)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--alignment", args->alignment, "append ` ||| i-j ...` word alignments (Moses format)");
  cmd->add_option("--attention-svg", args->svg_dir, "write an attention heatmap per sentence into this folder");
  cmd->add_option("--attention-layer", args->layer, "decoder layer of the heatmap, 0-based (default: last)");
  cmd->add_option("--attention-head", args->head, "head of the heatmap, 0-based (default: average of all heads)");
  return {cmd, [args] {
            const LoadedModel model = load_model_dir(args->model);
            TranslateOptions o = args->decode.apply(model.config);
            o.search.nbest = std::max(1, args->nbest);
            o.alignment = args->alignment;
            o.attention = !args->svg_dir.empty();
            o.attention_layer = args->layer;
            o.attention_head = args->head;
            const Translator tr(model, o);
            const std::vector<std::string> lines = read_text_lines(args->input);
            const std::vector<Translation> out = translate_with_progress(tr, lines);
            TextOutput output(args->output);
            for (size_t i = 0; i < out.size(); ++i) {
              const auto& nbest = out[i].nbest;
              const size_t n = args->nbest > 0 ? std::min(nbest.size(), size_t(args->nbest)) : 1;
              for (size_t k = 0; k < n; ++k) {
                const TranslatedHypothesis& h = nbest[k];
                std::string line = args->nbest > 0 ? fmt::format("{} ||| {} ||| {:.4f}", i, h.text, h.normalized) : h.text;
                if (args->alignment) line += " ||| " + h.alignment;
                output.line(line);
              }
            }
            output.close();
            if (!args->svg_dir.empty()) write_attention_svgs(out, args->svg_dir, args->layer, args->head);
            return 0;
          }};
}

void write_attention_svgs(const std::vector<Translation>& translations, const std::string& dir, int layer, int head) {
  data::make_directories(dir);
  const int digits = int(std::to_string(translations.size()).size());
  int64_t written = 0;
  for (size_t i = 0; i < translations.size(); ++i) {
    const Translation& t = translations[i];
    if (t.attention.empty()) continue;
    const std::string caption =
        fmt::format("line {} | {} | {} | score {:.3f}", i + 1,
                    layer < 0 ? std::string("last decoder layer") : fmt::format("decoder layer {}", layer),
                    head < 0 ? std::string("heads averaged") : fmt::format("head {}", head), t.nbest[0].normalized);
    const std::string path = fmt::format("{}/line-{:0{}}.svg", dir, i + 1, digits);
    data::write_file_atomic(path, attention_svg(t.source_pieces, t.target_pieces, t.attention, caption));
    ++written;
  }
  spdlog::info("wrote {} attention heatmaps to {}", written, dir);
}

}  // namespace attend
