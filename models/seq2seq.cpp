#include "models/seq2seq.h"

#include "core/ops.h"

#include <algorithm>

namespace attend {

namespace {

// x: (R,H,L,Dh), a view whose (L,Dh) blocks are contiguous (a KVCache's keys or values);
// row r becomes old row index[r] (index: (R)), copying only the rows that change. Sources
// that are themselves overwritten are saved to a scratch copy first; the others are
// copied straight. The store's positions past L are neither read nor written.
void permute_rows_in_place(const Tensor& x, const std::vector<int64_t>& index) {
  const int64_t elem = int64_t(dtype_size(x.dtype()));  // f32 or bf16 caches: blocks of bytes
  const int64_t R = x.size(0), H = x.size(1), block = x.size(2) * x.size(3) * elem;
  CHECK(x.stride(3) == 1 && x.stride(2) == x.size(3), "permute_rows_in_place: {} has no contiguous (L,Dh) blocks",
        x.str());
  std::vector<int64_t> changed, saved(size_t(R), -1);  // saved[r]: r's slot in the scratch copy
  for (int64_t r = 0; r < R; ++r)
    if (index[size_t(r)] != r) changed.push_back(r);
  if (changed.empty()) return;
  int64_t n_saved = 0;
  for (int64_t r : changed) {
    const int64_t from = index[size_t(r)];
    if (index[size_t(from)] != from && saved[size_t(from)] < 0) saved[size_t(from)] = n_saved++;
  }
  thread_local std::vector<char> scratch;  // grows to the largest reorder, then reused
  if (scratch.size() < size_t(n_saved * H * block)) scratch.resize(size_t(n_saved * H * block));
  char* data = static_cast<char*>(x.raw_data());
  const int64_t sb = x.stride(0) * elem, sh = x.stride(1) * elem;
  for (int64_t r = 0; r < R; ++r)
    if (saved[size_t(r)] >= 0)
      for (int64_t h = 0; h < H; ++h)
        std::copy(data + r * sb + h * sh, data + r * sb + h * sh + block,
                  scratch.data() + (saved[size_t(r)] * H + h) * block);
  for (int64_t r : changed) {
    const int64_t from = index[size_t(r)];
    for (int64_t h = 0; h < H; ++h) {
      const char* src = saved[size_t(from)] >= 0 ? scratch.data() + (saved[size_t(from)] * H + h) * block
                                                  : data + from * sb + h * sh;
      std::copy(src, src + block, data + r * sb + h * sh);
    }
  }
}

// A cache store that only this cache holds (its handle, and its storage but for the one
// view `view` of it) and that is laid out row after row.
bool writable(const Tensor& store, const Tensor& view) {
  return store.defined() && store.is_contiguous() && store.offset() == 0 && store.impl_ptr().use_count() == 1 &&
         view.impl_ptr().use_count() == 1 && view.shares_storage(store) && store.impl()->storage.use_count() == 2;
}

void reorder_cache(KVCache& cache, const std::vector<int64_t>& index, const Tensor& index_tensor) {
  if (cache.empty()) return;
  if (int64_t(index.size()) == cache.k.size(0) && writable(cache.k_store, cache.k) &&
      writable(cache.v_store, cache.v)) {
    permute_rows_in_place(cache.k, index);  // in the stores, which k and v view
    permute_rows_in_place(cache.v, index);
  } else {
    cache.reorder(index_tensor);
  }
}

}  // namespace

void DecoderState::reorder(const Tensor& index) {
  const std::vector<int64_t> rows = index.to_ids();
  reorder(rows);
}

void DecoderState::reorder(const std::vector<int64_t>& index) {
  const int64_t B = batch_size();
  std::vector<int64_t> next(index.size());
  for (size_t i = 0; i < index.size(); ++i) {
    CHECK(index[i] >= 0 && index[i] < B, "DecoderState::reorder: row {} is out of range for {} rows", index[i], B);
    next[i] = sentence.empty() ? index[i] : sentence[size_t(index[i])];
  }
  const Tensor index_tensor = Tensor::from_ids64(index, {int64_t(index.size())});
  // Rows of one sentence share memory and encoder keys/values: keep them when every row
  // still decodes the sentence it decoded before.
  const bool same_sentences = !sentence.empty() && next == sentence;
  if (!same_sentences) {
    memory = index_select(memory, 0, index_tensor);
    memory_padding = index_select(memory_padding, 0, index_tensor);
  }
  for (DecoderLayerCache& layer : layers) {
    reorder_cache(layer.self_attn, index, index_tensor);
    if (!same_sentences) layer.encoder_attn.reorder(index_tensor);
  }
  sentence = std::move(next);
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

Tensor Seq2Seq::loss(const Tensor& src, const Tensor& tgt_in, const Tensor& tgt_out,
                     const CrossEntropyOptions& options) const {
  CHECK(src.dim() == 2 && tgt_in.dim() == 2 && src.size(0) == tgt_in.size(0) && tgt_out.shape() == tgt_in.shape(),
        "Seq2Seq: src {}, tgt_in {} and tgt_out {} must be (B,S), (B,T) and (B,T) with the same B", src.str(),
        tgt_in.str(), tgt_out.str());
  Tensor mask = padding_mask(src, config_.pad_id);
  Tensor memory = encoder_.forward(src, mask);
  Tensor h = decoder_.hidden(tgt_in, memory, mask);
  return linear_cross_entropy(h.reshape({-1, h.size(-1)}), decoder_.output_weight(), tgt_out.reshape({-1}), options);
}

DecoderState Seq2Seq::encode(const Tensor& src) const {
  NoGradGuard no_grad;
  DecoderState state;
  state.memory_padding = padding_mask(src, config_.pad_id);
  state.memory = encoder_.forward(src, state.memory_padding);
  state.layers.resize(size_t(decoder_.num_layers()));
  state.sentence.resize(size_t(src.size(0)));
  for (int64_t b = 0; b < src.size(0); ++b) state.sentence[size_t(b)] = b;
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
