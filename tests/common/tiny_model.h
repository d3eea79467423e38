// The tiny seq2seq configuration the model and decoding tests build on: d 16, 2 heads,
// ffn 32, 1 encoder and 2 decoder layers, no dropout, one shared vocabulary.
//
//   auto model = make_model(tiny_seq2seq_config(/*vocab=*/7, /*max_positions=*/64), /*seed=*/1);
#pragma once

#include <cstdint>

#include "models/model_config.h"

namespace attend::test {

inline ModelConfig tiny_seq2seq_config(int64_t vocab = 20, int64_t max_positions = 12) {
  ModelConfig c;
  c.d_model = 16;
  c.heads = 2;
  c.ffn_dim = 32;
  c.encoder_layers = 1;
  c.decoder_layers = 2;
  c.dropout = 0.0f;
  c.max_positions = max_positions;
  c.src_vocab = c.tgt_vocab = vocab;
  return c;
}

}  // namespace attend::test
