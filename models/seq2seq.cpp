#include "models/seq2seq.h"

#include "core/ops.h"

namespace attend {

void DecoderState::reorder(const Tensor& index) {
  memory = index_select(memory, 0, index);
  memory_padding = index_select(memory_padding, 0, index);
  for (DecoderLayerCache& layer : layers) layer.reorder(index);
}

static const ModelConfig& validated(const ModelConfig& config) {
  config.validate();
  return config;
}

Seq2Seq::Seq2Seq(const ModelConfig& config, uint64_t seed)
    : Model(validated(config), seed),
      encoder_(config_, &gen_),
      decoder_(config_, &gen_,
               config_.tie_embeddings == TieEmbeddings::all ? encoder_.embed_tokens().weight() : Tensor()) {
  register_module("encoder", encoder_);
  register_module("decoder", decoder_);
}

Tensor Seq2Seq::forward(const Tensor& src, const Tensor& tgt_in, Tensor* alignment) const {
  CHECK(src.dim() == 2 && tgt_in.dim() == 2 && src.size(0) == tgt_in.size(0),
        "Seq2Seq: src {} and tgt_in {} must be (B,S) and (B,T) with the same B", src.str(), tgt_in.str());
  Tensor mask = padding_mask(src, config_.pad_id);
  Tensor memory = encoder_.forward(src, mask);
  return decoder_.forward(tgt_in, memory, mask, nullptr, 0, alignment);
}

DecoderState Seq2Seq::encode(const Tensor& src) const {
  NoGradGuard no_grad;
  DecoderState state;
  state.memory_padding = padding_mask(src, config_.pad_id);
  state.memory = encoder_.forward(src, state.memory_padding);
  state.layers.resize(size_t(decoder_.num_layers()));
  return state;
}

Tensor Seq2Seq::decode_step(DecoderState& state, const Tensor& last_tokens, Tensor* alignment) const {
  NoGradGuard no_grad;
  CHECK(last_tokens.dim() == 1 && last_tokens.size(0) == state.batch_size(),
        "decode_step: last_tokens {} must be ({}) for a state of {} rows", last_tokens.str(), state.batch_size(),
        state.batch_size());
  const int64_t B = last_tokens.size(0);
  Tensor align;
  Tensor logits = decoder_.forward(last_tokens.reshape({B, 1}), state.memory, state.memory_padding, &state.layers,
                                   state.step, alignment ? &align : nullptr);
  ++state.step;
  if (alignment) *alignment = align.reshape({B, align.size(2)});
  return log_softmax(logits.reshape({B, logits.size(2)}));
}

}  // namespace attend
