#include "data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "data/files.h"

namespace attend::data {

namespace sp = sentencepiece;

namespace {

// Feeds the non-empty lines of several corpora to the SentencePiece trainer.
class LinesIterator : public sp::SentenceIterator {
 public:
  explicit LinesIterator(const std::vector<std::span<const std::string>>& corpora) : corpora_(corpora) {
    skip_empty();
  }
  bool done() const override { return corpus_ >= corpora_.size(); }
  void Next() override {
    ++line_;
    skip_empty();
  }
  const std::string& value() const override { return corpora_[corpus_][line_]; }
  sp::util::Status status() const override { return {}; }
  int64_t count() const { return count_; }

 private:
  void skip_empty() {
    while (corpus_ < corpora_.size()) {
      if (line_ >= corpora_[corpus_].size()) {
        ++corpus_;
        line_ = 0;
      } else if (corpora_[corpus_][line_].empty()) {
        ++line_;
      } else {
        ++count_;
        return;
      }
    }
  }
  const std::vector<std::span<const std::string>>& corpora_;
  size_t corpus_ = 0, line_ = 0;
  int64_t count_ = 0;
};

int hardware_threads() { return std::max(1, int(std::thread::hardware_concurrency())); }

void check_special_ids(const sp::SentencePieceProcessor& p, const std::string& name) {
  CHECK_HINT(p.pad_id() == kPadId && p.unk_id() == kUnkId && p.bos_id() == kBosId && p.eos_id() == kEosId,
             "train it with --pad_id=0 --unk_id=1 --bos_id=2 --eos_id=3, or remove the file and let "
             "attend train one",
             "'{}': SentencePiece special ids are pad={} unk={} bos={} eos={}, but attend needs pad={} "
             "unk={} bos={} eos={}",
             name, p.pad_id(), p.unk_id(), p.bos_id(), p.eos_id(), kPadId, kUnkId, kBosId, kEosId);
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::weakly_canonical(a, ec) == std::filesystem::weakly_canonical(b, ec);
}

}  // namespace

Tokenizer Tokenizer::from_bytes(const std::string& bytes, const std::string& name) {
  auto p = std::make_shared<sp::SentencePieceProcessor>();
  auto status = p->LoadFromSerializedProto(bytes);
  CHECK(status.ok(), "'{}' is not a SentencePiece model: {}", name, status.ToString());
  check_special_ids(*p, name);
  Tokenizer t;
  t.sp_ = std::move(p);
  t.name_ = name;
  return t;
}

Tokenizer Tokenizer::load(const std::string& path) {
  CHECK(file_exists(path), "vocabulary '{}' does not exist", path);
  return from_bytes(read_file(path), path);
}

Tokenizer Tokenizer::train(const std::vector<std::span<const std::string>>& corpora,
                           const VocabOptions& options, const std::string& path) {
  const std::string where = path.empty() ? std::string("vocabulary") : "vocabulary '" + path + "'";
  CHECK(options.type == "unigram" || options.type == "bpe",
        "{}: vocab type '{}' is not one of: unigram, bpe", where, options.type);
  CHECK(options.size > 4, "{}: vocab size {} leaves no room beside the 4 special pieces", where,
        options.size);
  CHECK(options.character_coverage > 0 && options.character_coverage <= 1,
        "{}: character_coverage {} is not in (0, 1]", where, options.character_coverage);
  CHECK(options.sample_sentences >= 0, "{}: sample_sentences {} is negative", where,
        options.sample_sentences);

  const int threads = options.threads > 0 ? options.threads : hardware_threads();
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", options.type},
      {"vocab_size", std::to_string(options.size)},
      {"character_coverage", fmt::format("{}", options.character_coverage)},
      {"input_sentence_size", std::to_string(options.sample_sentences)},
      {"shuffle_input_sentence", "true"},
      {"normalization_rule_name", options.normalization},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"num_threads", std::to_string(threads)},
      {"pad_id", std::to_string(kPadId)},
      {"unk_id", std::to_string(kUnkId)},
      {"bos_id", std::to_string(kBosId)},
      {"eos_id", std::to_string(kEosId)},
      {"hard_vocab_limit", "false"},  // a small corpus gives a smaller vocab, not an error
      {"minloglevel", "1"},           // SentencePiece's own progress log stays quiet
  };
  sp::SetRandomGeneratorSeed(options.seed);
  LinesIterator lines(corpora);
  std::string model;
  const auto t0 = std::chrono::steady_clock::now();
  auto status = sp::SentencePieceTrainer::Train(args, &lines, &model);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(status.ok(), "{}: SentencePiece training failed: {}", where, status.ToString());
  CHECK(lines.count() > 0, "{}: no non-empty training lines", where);

  Tokenizer t = from_bytes(model, path.empty() ? std::string("trained vocabulary") : path);
  spdlog::info("{}: trained {} {} pieces on {} lines (sample limit {}) in {:.1f}s", where,
               t.vocab_size(), options.type, lines.count(), options.sample_sentences, seconds);
  if (t.vocab_size() < options.size)
    spdlog::warn("{}: the corpus supports only {} pieces of the {} asked for", where, t.vocab_size(),
                 options.size);
  if (!path.empty()) write_file_atomic(path, model);
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  CHECK(sp_, "encode: no vocabulary loaded");
  std::vector<int> ids;
  auto status = sp_->Encode(text, &ids);
  CHECK(status.ok(), "'{}': cannot encode '{}': {}", name_, text, status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::vector<std::vector<int32_t>> Tokenizer::encode_all(std::span<const std::string> lines,
                                                        int threads) const {
  std::vector<std::vector<int32_t>> out(lines.size());
  const size_t n = lines.size();
  size_t workers = size_t(threads > 0 ? threads : hardware_threads());
  workers = std::max<size_t>(1, std::min(workers, n / 256));  // threads only pay off on many lines
  auto run = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) out[i] = encode(lines[i]);
  };
  if (workers == 1) {
    run(0, n);
    return out;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(workers);
  for (size_t w = 0; w < workers; ++w) {
    pool.emplace_back([&, w] {
      try {
        run(n * w / workers, n * (w + 1) / workers);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  CHECK(sp_, "decode: no vocabulary loaded");
  std::vector<int> kept;
  kept.reserve(ids.size());
  const int32_t v = vocab_size();
  for (int32_t id : ids) {
    CHECK(id >= 0 && id < v, "'{}': cannot decode id {}: outside the vocabulary [0, {})", name_, id, v);
    if (id != kPadId && id != kBosId && id != kEosId) kept.push_back(id);
  }
  std::string text;
  auto status = sp_->Decode(kept, &text);
  CHECK(status.ok(), "'{}': cannot decode: {}", name_, status.ToString());
  return text;
}

int32_t Tokenizer::vocab_size() const {
  CHECK(sp_, "vocab_size: no vocabulary loaded");
  return sp_->GetPieceSize();
}

std::string Tokenizer::piece(int32_t id) const {
  CHECK(id >= 0 && id < vocab_size(), "'{}': piece id {} outside [0, {})", name_, id, vocab_size());
  return sp_->IdToPiece(id);
}

int32_t Tokenizer::piece_id(std::string_view piece) const {
  CHECK(sp_, "piece_id: no vocabulary loaded");
  return sp_->PieceToId(piece);
}

std::string Tokenizer::bytes() const {
  CHECK(sp_, "bytes: no vocabulary loaded");
  return sp_->serialized_model_proto();
}

Vocabularies load_or_train_vocabularies(const std::string& model_dir, const VocabOptions& options,
                                        std::span<const std::string> source,
                                        std::span<const std::string> target) {
  // The configured file (or the model directory's), loaded when it exists, else trained;
  // the model directory always ends up with a copy.
  auto obtain = [&](const std::string& configured, const char* name,
                    const std::vector<std::span<const std::string>>& corpora) {
    const std::string in_dir = (std::filesystem::path(model_dir) / name).string();
    const std::string path = configured.empty() ? in_dir : configured;
    Tokenizer tok;
    if (file_exists(path)) {
      tok = Tokenizer::load(path);
      spdlog::info("vocabulary '{}': {} pieces (existing file)", path, tok.vocab_size());
    } else {
      tok = Tokenizer::train(corpora, options, path);
    }
    if (!model_dir.empty() && !same_file(path, in_dir)) write_file_atomic(in_dir, tok.bytes());
    return tok;
  };

  Vocabularies v;
  if (target.empty() || options.shared) {
    v.source = obtain(options.file, "vocab.spm", {source, target});
    v.target = v.source;
    v.shared = true;
  } else {
    v.source = obtain(options.source_file, "source.spm", {source});
    v.target = obtain(options.target_file, "target.spm", {target});
    v.shared = false;
  }
  return v;
}

Vocabularies load_vocabularies(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  Vocabularies v;
  if (file_exists((dir / "vocab.spm").string())) {
    v.source = v.target = Tokenizer::load((dir / "vocab.spm").string());
    v.shared = true;
    return v;
  }
  CHECK(file_exists((dir / "source.spm").string()) && file_exists((dir / "target.spm").string()),
        "model directory '{}' has no vocabulary: expected vocab.spm, or source.spm and target.spm",
        model_dir);
  v.source = Tokenizer::load((dir / "source.spm").string());
  v.target = Tokenizer::load((dir / "target.spm").string());
  v.shared = false;
  return v;
}

}  // namespace attend::data
