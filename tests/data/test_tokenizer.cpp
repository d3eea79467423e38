// SentencePiece wrapper: training a tiny vocab, fixed special ids, round trips, the
// vocabulary files of a model directory.
#include "data/tokenizer.h"

#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include "data/text_reader.h"
#include "data_fixtures.h"

using namespace attend;
using namespace attend::data;

class TokenizerFiles : public test_util::ScratchDir {};

TEST(Tokenizer, TinyVocabHasTheFixedSpecialPieces) {
  Tokenizer tok = test_util::tiny_tokenizer();
  EXPECT_EQ(tok.vocab_size(), 64);
  EXPECT_EQ(tok.piece(kPadId), "<pad>");
  EXPECT_EQ(tok.piece(kUnkId), "<unk>");
  EXPECT_EQ(tok.piece(kBosId), "<s>");
  EXPECT_EQ(tok.piece(kEosId), "</s>");
}

TEST(Tokenizer, EncodeGivesPiecesOnlyAndDecodeRoundTrips) {
  Tokenizer tok = test_util::tiny_tokenizer();
  for (const std::string& line : test_util::tiny_corpus()) {
    std::vector<int32_t> ids = tok.encode(line);
    ASSERT_FALSE(ids.empty());
    for (int32_t id : ids) ASSERT_GT(id, kEosId) << line;  // no specials, no <unk>
    ASSERT_EQ(tok.decode(ids), line);
  }
}

TEST(Tokenizer, BpeVocabRoundTripsToo) {
  Tokenizer tok = test_util::tiny_tokenizer(60, "bpe");
  EXPECT_EQ(tok.decode(tok.encode("Zwei Männer spielt Fußball!")), "Zwei Männer spielt Fußball!");
}

TEST(Tokenizer, DecodeSkipsPadBosAndEos) {
  Tokenizer tok = test_util::tiny_tokenizer();
  std::vector<int32_t> ids = tok.encode("Der Hund sitzt am Ufer.");
  std::vector<int32_t> framed = {kBosId};
  framed.insert(framed.end(), ids.begin(), ids.end());
  framed.insert(framed.end(), {kEosId, kPadId, kPadId});
  EXPECT_EQ(tok.decode(framed), "Der Hund sitzt am Ufer.");
}

TEST(Tokenizer, UnseenCharacterBecomesUnk) {
  Tokenizer tok = test_util::tiny_tokenizer();
  std::vector<int32_t> ids = tok.encode("Der Hund 🐕");
  EXPECT_NE(std::find(ids.begin(), ids.end(), kUnkId), ids.end());
}

TEST(Tokenizer, DecodeRejectsIdsOutsideTheVocab) {
  Tokenizer tok = test_util::tiny_tokenizer();
  std::vector<int32_t> ids = {5, 64};
  EXPECT_THROW(
      {
        try {
          tok.decode(ids);
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("cannot decode id 64: outside the vocabulary [0, 64)"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
}

TEST(Tokenizer, EncodeAllMatchesOneByOne) {
  Tokenizer tok = test_util::tiny_tokenizer();
  std::vector<std::string> lines;
  for (int r = 0; r < 5; ++r)
    for (const auto& l : test_util::tiny_corpus()) lines.push_back(l);
  auto all = tok.encode_all(lines, 2);
  ASSERT_EQ(all.size(), lines.size());
  for (size_t i = 0; i < lines.size(); i += 97) EXPECT_EQ(all[i], tok.encode(lines[i]));
}

TEST(Tokenizer, UnknownTypeIsAnError) {
  VocabOptions o;
  o.type = "wordpiece";
  const auto lines = test_util::tiny_corpus();
  try {
    Tokenizer::train({lines}, o, "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab type 'wordpiece' is not one of: unigram, bpe"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TokenizerFiles, LoadingAModelWithOtherSpecialIdsIsAnError) {
  // SentencePiece's defaults: unk=0, bos=1, eos=2, no pad.
  const auto lines = test_util::tiny_corpus();
  const std::string text = write("corpus.txt", [&] {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }());
  auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + text + " --model_prefix=" + path("other") + " --vocab_size=60 --minloglevel=2");
  ASSERT_TRUE(status.ok()) << status.ToString();
  try {
    Tokenizer::load(path("other.model"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("special ids are pad=-1 unk=0 bos=1 eos=2, but attend needs "
                                         "pad=0 unk=1 bos=2 eos=3"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TokenizerFiles, MissingVocabFileIsAnError) {
  EXPECT_THROW(Tokenizer::load(path("none.spm")), Error);
}

TEST_F(TokenizerFiles, SharedVocabIsTrainedOnceThenLoaded) {
  const auto src = test_util::tiny_corpus();
  VocabOptions o;
  o.size = 70;
  Vocabularies v = load_or_train_vocabularies(path("model"), o, src, src);
  EXPECT_TRUE(v.shared);
  ASSERT_TRUE(file_exists(path("model/vocab.spm")));
  EXPECT_FALSE(file_exists(path("model/source.spm")));
  const std::string bytes = read_file(path("model/vocab.spm"));
  o.size = 50;  // an existing file wins over the options
  Vocabularies again = load_or_train_vocabularies(path("model"), o, src, src);
  EXPECT_EQ(again.source.vocab_size(), 70);
  EXPECT_EQ(read_file(path("model/vocab.spm")), bytes);
  EXPECT_EQ(load_vocabularies(path("model")).source.vocab_size(), 70);
}

TEST_F(TokenizerFiles, SeparateVocabsGoToSourceAndTargetFiles) {
  const auto lines = test_util::tiny_corpus();
  std::vector<std::string> de, en;
  for (size_t i = 0; i < lines.size(); ++i) (i % 2 ? en : de).push_back(lines[i]);
  VocabOptions o;
  o.size = 50;
  o.shared = false;
  Vocabularies v = load_or_train_vocabularies(path("model"), o, de, en);
  EXPECT_FALSE(v.shared);
  EXPECT_TRUE(file_exists(path("model/source.spm")));
  EXPECT_TRUE(file_exists(path("model/target.spm")));
  EXPECT_FALSE(file_exists(path("model/vocab.spm")));
  Vocabularies loaded = load_vocabularies(path("model"));
  EXPECT_FALSE(loaded.shared);
  EXPECT_EQ(loaded.target.bytes(), v.target.bytes());
}

TEST_F(TokenizerFiles, ConfiguredVocabFileIsCopiedIntoTheModelDir) {
  const auto lines = test_util::tiny_corpus();
  VocabOptions o;
  o.size = 60;
  o.file = path("elsewhere/my.spm");
  load_or_train_vocabularies(path("model"), o, lines);
  ASSERT_TRUE(file_exists(o.file));
  EXPECT_EQ(read_file(path("model/vocab.spm")), read_file(o.file));
}

TEST_F(TokenizerFiles, EmptyModelDirHasNoVocabulary) {
  EXPECT_THROW(load_vocabularies(path("empty")), Error);
}

// SentencePiece's nmt_nfkc normalization maps no-break space to space, collapses
// whitespace runs and trims the ends: this is what decode(encode(s)) gives back.
static std::string whitespace_normalized(const std::string& s) {
  std::string spaced, out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "\xC2\xA0") == 0) {
      spaced += ' ';
      ++i;
    } else {
      spaced += s[i] == '\t' ? ' ' : s[i];
    }
  }
  for (char c : spaced)
    if (c != ' ' || (!out.empty() && out.back() != ' ')) out += c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

TEST(SharedData, Multi30kLinesRoundTrip) {
  SKIP_WITHOUT_SHARED_FILE(de_path, "multi30k/train.de.gz");
  SKIP_WITHOUT_SHARED_FILE(en_path, "multi30k/train.en.gz");
  std::vector<std::string> de = read_lines(de_path), en = read_lines(en_path);
  de.resize(2000);
  en.resize(2000);
  VocabOptions o;
  o.size = 600;
  Tokenizer tok = Tokenizer::train({de, en}, o, "");
  int64_t exact = 0, umlauts = 0;
  for (const auto* lines : {&de, &en}) {
    for (const std::string& s : *lines) {
      const std::string back = tok.decode(tok.encode(s));
      if (s == whitespace_normalized(s)) {
        ASSERT_EQ(back, s);
        ++exact;
        umlauts += s.find("ü") != std::string::npos || s.find("ß") != std::string::npos;
      } else {
        ASSERT_EQ(back, whitespace_normalized(s)) << s;
      }
    }
  }
  EXPECT_GT(exact, 3950);  // nearly all lines are already normalized
  EXPECT_GT(umlauts, 300);
}
