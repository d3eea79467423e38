// attend translate: raw text in, detokenized text out. A Translator encodes each line with
// the model's SentencePiece vocabulary (+ </s>), searches (models/search.h: batches by
// length under a token budget, results in input order) and decodes the pieces back to text.
//
//   LoadedModel m = load_model_dir("runs/demo");
//   Translator tr(m, translate_options_from(m.config));      // decode: section of config.yaml
//   std::vector<Translation> out = tr.translate({"Ein Hund läuft.", ""});
//   out[0].nbest[0].text;                                     // "A dog is running."
//
// Empty lines give empty translations without running the model; a line longer than the
// model's max_positions (</s> included) is truncated with a warning. With alignment on,
// each hypothesis also gets word alignments "i-j" (Moses format: source word i, output
// word j, 0-based, words split at whitespace): each output piece is linked to the source
// piece it attends to most in the last decoder layer (heads averaged), pieces then mapped
// to their words; </s> on either side is left out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/gemm_bf16.h"
#include "models/search.h"
#include "tools/model_dir.h"

namespace attend {

struct TranslateOptions {
  SearchOptions search;
  int64_t batch_tokens = 4096;  // decoder rows x source tokens per batch (a sentence runs `beam` rows)
  bool alignment = false;       // fill Hypothesis alignments
  bool attention = false;       // keep the attention matrix of the best hypothesis
  int attention_layer = -1;     // decoder layer for the matrix, 0-based; -1 = last
  int attention_head = -1;      // head; -1 = average over heads
  GemmPrecision precision = GemmPrecision::fp32;  // bf16: products in bf16, each weight rounded once
};

// The decode: section of a run config as search options (beam, length penalty, max length).
TranslateOptions translate_options_from(const Config& config);

struct TranslatedHypothesis {
  std::string text;
  std::vector<int32_t> tokens;  // target pieces, without </s>
  float score = 0;              // sum of log-probs
  float normalized = 0;         // score / length penalty: the ranking score
  bool finished = true;
  std::string alignment;        // "0-0 1-2 ..." when asked for
};

struct Translation {
  std::vector<TranslatedHypothesis> nbest;  // best first; one empty entry for an empty line
  bool truncated = false;                   // the source was cut to the model's limit
  // With attention on (best hypothesis only): source / target piece labels and the
  // weights, row t = target position t (</s> included when produced), column = source piece.
  std::vector<std::string> source_pieces, target_pieces;
  std::vector<float> attention;  // (target_pieces, source_pieces) row-major
};

class Translator {
 public:
  Translator(const LoadedModel& model, TranslateOptions options);
  // progress(done, total) after each batch, in sentences.
  std::vector<Translation> translate(const std::vector<std::string>& lines,
                                     const std::function<void(int64_t, int64_t)>& progress = {}) const;

  // Attention (T,S) of the decoder reading `tokens` (teacher-forced) over `src` (</s>
  // included): T = tokens + (finished ? 1 : 0) rows. layer -1 = last, head -1 = average.
  std::vector<float> attention(const std::vector<int32_t>& src, const std::vector<int32_t>& tokens, bool finished,
                               int layer, int head) const;

 private:
  const LoadedModel& model_;
  TranslateOptions options_;
};

// Word index of each SentencePiece piece: a piece starting with "▁" starts a new word,
// except right after a piece that is "▁" alone.
std::vector<int64_t> piece_words(const std::vector<std::string>& pieces);

// Word alignment "i-j ..." (sorted, without repeats) from piece attention `weights`, row-major
// with `columns` columns; rows 0..target_pieces-1 and columns 0..source_pieces-1 are used.
std::string hard_alignment(const std::vector<float>& weights, int64_t columns,
                           const std::vector<std::string>& source_pieces,
                           const std::vector<std::string>& target_pieces);

}  // namespace attend
