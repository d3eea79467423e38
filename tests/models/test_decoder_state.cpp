// DecoderState::reorder: rows that keep their sentence keep the memory and encoder
// keys/values where they lie, the self-attention caches are permuted in place, and the
// next step's log-probs are exactly those of a state reordered by copying every tensor.
#include <gtest/gtest.h>

#include "common/tiny_model.h"
#include "core/ops.h"
#include "models/seq2seq.h"

using namespace attend;

namespace {

// Two sentences, each repeated twice (as beam search's first step leaves them), two steps decoded.
DecoderState beam_state(const Seq2Seq& m) {
  DecoderState state = m.encode(Tensor::from_ids64({5, 6, 7, 8, 3, 9, 10, 3, 0, 0}, {2, 5}));
  m.decode_step(state, Tensor::from_ids64({2, 2}, {2}));
  state.reorder(std::vector<int64_t>{0, 0, 1, 1});
  m.decode_step(state, Tensor::from_ids64({11, 12, 13, 14}, {4}));
  return state;
}

}  // namespace

TEST(DecoderState, EncodeNumbersTheRowsBySentence) {
  Seq2Seq m(test::tiny_seq2seq_config(), 1);
  m.eval();
  DecoderState state = beam_state(m);
  EXPECT_EQ(state.sentence, (std::vector<int64_t>{0, 0, 1, 1}));
  state.reorder(std::vector<int64_t>{3, 0});
  EXPECT_EQ(state.sentence, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(state.batch_size(), 2);
}

TEST(DecoderState, ReorderWithinSentencesKeepsMemoryAndEncoderKeysInPlace) {
  Seq2Seq m(test::tiny_seq2seq_config(), 1);
  m.eval();
  DecoderState state = beam_state(m);
  const void* memory = state.memory.raw_data();
  const void* encoder_k = state.layers[0].encoder_attn.k.raw_data();
  const void* self_k = state.layers[0].self_attn.k.raw_data();
  state.reorder(std::vector<int64_t>{1, 1, 3, 2});  // each row stays with its sentence
  EXPECT_EQ(state.memory.raw_data(), memory);
  EXPECT_EQ(state.layers[0].encoder_attn.k.raw_data(), encoder_k);
  EXPECT_EQ(state.layers[0].self_attn.k.raw_data(), self_k);  // permuted in place
}

TEST(DecoderState, ReorderInPlaceGivesTheSameStepAsCopyingEveryTensor) {
  Seq2Seq m(test::tiny_seq2seq_config(), 1);
  m.eval();
  DecoderState fast = beam_state(m), copied = beam_state(m);
  const std::vector<int64_t> index{1, 1, 3, 2};
  fast.reorder(index);
  // The reference: every tensor of the state through index_select.
  const Tensor idx = Tensor::from_ids64(index, {4});
  copied.memory = index_select(copied.memory, 0, idx);
  copied.memory_padding = index_select(copied.memory_padding, 0, idx);
  for (DecoderLayerCache& layer : copied.layers) layer.reorder(idx);
  const Tensor next = Tensor::from_ids64({15, 16, 17, 18}, {4});
  EXPECT_EQ(m.decode_step(fast, next).to_vector(), m.decode_step(copied, next).to_vector());
}

TEST(DecoderState, ReorderThatDropsASentenceCopiesItsRowsOut) {
  Seq2Seq m(test::tiny_seq2seq_config(), 1);
  m.eval();
  DecoderState state = beam_state(m), alone = beam_state(m);
  state.reorder(std::vector<int64_t>{3, 2});  // sentence 0 has finished
  EXPECT_EQ(state.memory.size(0), 2);
  EXPECT_EQ(state.layers[1].encoder_attn.k.size(0), 2);
  const Tensor idx = Tensor::from_ids64({3, 2}, {2});
  alone.memory = index_select(alone.memory, 0, idx);
  alone.memory_padding = index_select(alone.memory_padding, 0, idx);
  for (DecoderLayerCache& layer : alone.layers) layer.reorder(idx);
  const Tensor next = Tensor::from_ids64({15, 16}, {2});
  EXPECT_EQ(m.decode_step(state, next).to_vector(), m.decode_step(alone, next).to_vector());
}

TEST(DecoderState, ReorderRejectsARowOutOfRange) {
  Seq2Seq m(test::tiny_seq2seq_config(), 1);
  m.eval();
  DecoderState state = beam_state(m);
  try {
    state.reorder(std::vector<int64_t>{0, 4});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 4 is out of range for 4 rows"), std::string::npos) << e.what();
  }
}
