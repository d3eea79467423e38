// SentencePiece tokenizer (libsentencepiece, in-process): train, load, encode, decode.
// Special ids are fixed for every attend model and checked when a model is loaded:
//   pad = 0 "<pad>",  unk = 1 "<unk>",  bos = 2 "<s>",  eos = 3 "</s>".
// encode() returns the pieces of the text only; the batcher adds <s> and </s>.
//
//   Tokenizer tok = Tokenizer::train({lines}, VocabOptions{.size = 8000}, dir + "/vocab.spm");
//   std::vector<int32_t> ids = tok.encode("Ein Mädchen läuft.");
//   std::string text = tok.decode(ids);   // == the text, up to SentencePiece normalization
//
// load_or_train_vocabularies() is what training calls: it loads the vocabulary files of a
// model directory, training the ones that do not exist yet.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "data/options.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace attend::data {

inline constexpr int32_t kPadId = 0;
inline constexpr int32_t kUnkId = 1;
inline constexpr int32_t kBosId = 2;
inline constexpr int32_t kEosId = 3;

class Tokenizer {
 public:
  Tokenizer() = default;  // empty: loaded() is false

  // A .spm file; throws when missing, unreadable, or its special ids differ from the above.
  static Tokenizer load(const std::string& path);
  // A serialized SentencePiece model; `name` is used in messages.
  static Tokenizer from_bytes(const std::string& bytes, const std::string& name);
  // Trains on the non-empty lines of `corpora` and writes the model to `path`
  // (atomically; nothing is written when `path` is empty).
  static Tokenizer train(const std::vector<std::span<const std::string>>& corpora,
                         const VocabOptions& options, const std::string& path);

  std::vector<int32_t> encode(std::string_view text) const;
  // encode() of every line, on `threads` threads (0 = all cores); same result as a loop.
  std::vector<std::vector<int32_t>> encode_all(std::span<const std::string> lines,
                                               int threads = 0) const;
  // Text of the ids; pad, <s> and </s> produce nothing.
  std::string decode(std::span<const int32_t> ids) const;

  bool loaded() const { return sp_ != nullptr; }
  int32_t vocab_size() const;
  std::string piece(int32_t id) const;
  int32_t piece_id(std::string_view piece) const;  // kUnkId for an unknown piece
  const std::string& name() const { return name_; }  // file it was loaded from or saved to
  std::string bytes() const;                         // the serialized model

 private:
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
  std::string name_;
};

struct Vocabularies {
  Tokenizer source;
  Tokenizer target;  // the same model as source when shared
  bool shared = true;
};

// Loads or trains the vocabularies of a model directory (see VocabOptions::file): shared
// ones from source + target lines, separate ones each from its side. With no target
// lines (classification) there is one vocabulary, trained from the source lines.
Vocabularies load_or_train_vocabularies(const std::string& model_dir, const VocabOptions& options,
                                        std::span<const std::string> source,
                                        std::span<const std::string> target = {});

// The vocabularies of a trained model directory: vocab.spm, or source.spm + target.spm.
Vocabularies load_vocabularies(const std::string& model_dir);

}  // namespace attend::data
