// Seq2Seq: the encoder-decoder Transformer (translation). Tensor names are prefixed
// "encoder." and "decoder." (docs/model-format.md); tie_embeddings decides which of
// decoder.embed_tokens.weight / decoder.output_projection.weight exist.
//
//   Seq2Seq model(config, /*seed=*/1);                    // or make_model(config)
//   Tensor logits = model.forward(src, tgt_in);           // (B,S), (B,T) -> (B,T,V), training
//
//   DecoderState state = model.encode(src);               // inference: no gradients
//   Tensor logp = model.decode_step(state, bos);          // (B) -> (B,V) log-probs, O(T) per step
//   state.reorder(beam_rows);                             // beam search: keep/copy batch rows
//
// Rows of one source sentence (beam search repeats each sentence's row) hold the same
// memory and encoder keys/values, so reorder() copies those only when the sentence of
// some row changes (a sentence leaves the batch); the self-attention caches are
// permuted in place when the row count stays.
#pragma once

#include <vector>

#include "core/ops.h"
#include "models/model.h"
#include "models/transformer_stack.h"

namespace attend {

// Everything decode_step needs between steps, for a batch of B rows.
struct DecoderState {
  Tensor memory;          // (B,S,D) encoder output
  Tensor memory_padding;  // (B,1,1,S) 1 at padded source positions
  std::vector<DecoderLayerCache> layers;
  int64_t step = 0;       // target positions decoded so far
  std::vector<int64_t> sentence;  // row r decodes source row sentence[r] of encode()'s batch
  int64_t batch_size() const { return memory.size(0); }
  // Keeps the batch rows `index` (B') i32/i64, in that order, repeating rows as asked.
  void reorder(const Tensor& index);
  void reorder(const std::vector<int64_t>& index);
};

class Seq2Seq : public Model {
 public:
  Seq2Seq(const ModelConfig& config, uint64_t seed);

  // src: (B,S), tgt_in: (B,T) ids (right-padded with pad_id) -> logits (B,T,V).
  // alignment, if given, receives the last decoder layer's cross-attention (B,T,S).
  Tensor forward(const Tensor& src, const Tensor& tgt_in, Tensor* alignment = nullptr) const;
  // The training loss: forward()'s logits against tgt_out: (B,T) under `options`, computed
  // as one linear_cross_entropy (core/ops.h) from the decoder's last hidden states.
  Tensor loss(const Tensor& src, const Tensor& tgt_in, const Tensor& tgt_out,
              const CrossEntropyOptions& options) const;

  // Inference (records no gradients): src (B,S) -> the state before the first step.
  DecoderState encode(const Tensor& src) const;
  // last_tokens: (B) ids at position state.step -> log-probs (B,V) of the next token.
  // alignment, if given, receives the last layer's cross-attention (B,S).
  Tensor decode_step(DecoderState& state, const Tensor& last_tokens, Tensor* alignment = nullptr) const;

  const TransformerEncoder& encoder() const { return encoder_; }
  const TransformerDecoder& decoder() const { return decoder_; }

 private:
  TransformerEncoder encoder_;
  TransformerDecoder decoder_;
};

}  // namespace attend
