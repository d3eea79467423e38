// Pieces shared by the inference subcommands (translate, evaluate): the decoding flags,
// which default to the decode: section of the model's config, and translation with a
// progress line.
//
//   DecodeFlags flags;  add_decode_flags(cmd, flags);        // --beam, --length-penalty, ...
//   TranslateOptions o = flags.apply(model.config);          // also sets the thread count
//   std::vector<Translation> out = translate_with_progress(Translator(model, o), lines);
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tools/translate.h"

namespace attend {

struct DecodeFlags {
  std::optional<int> beam;
  std::optional<float> length_penalty, max_length_a;
  std::optional<int> max_length_b;
  std::optional<int64_t> batch_tokens;
  std::optional<std::string> precision;
  bool no_unk = false;
  int threads = 0;
  // The model's decode: defaults with the given flags on top; sets the thread count.
  TranslateOptions apply(const Config& config) const;
};

void add_decode_flags(CLI::App* cmd, DecodeFlags& flags);

std::vector<Translation> translate_with_progress(const Translator& translator, const std::vector<std::string>& lines);

// One SVG per translated line into dir/line-N.svg (N 1-based, zero-padded).
void write_attention_svgs(const std::vector<Translation>& translations, const std::string& dir, int layer, int head);

}  // namespace attend
