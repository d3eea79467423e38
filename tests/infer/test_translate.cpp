// attend translate on a tiny trained model: line counts always kept (empty lines, very
// long lines), invalid UTF-8 named by line, n-best and alignment output formats, attention
// heatmaps; word alignment from piece attention; SVG escaping.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>

#include "data/files.h"
#include "infer/cli_harness.h"
#include "infer/model_fixture.h"
#include "tools/attention_svg.h"
#include "tools/text_io.h"
#include "tools/translate.h"

using namespace attend;
using namespace attend::test_util;

namespace {

const std::string kUnderline = "\xE2\x96\x81";  // ▁

std::vector<std::string> sample_lines() { return {"Ein Hund läuft.", "", "Die Frau isst.", "Zwei Männer schläft."}; }

}  // namespace

TEST(Translate, EmptyLinesGiveEmptyTranslationsAndCountsMatch) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  const Translator tr(m, translate_options_from(m.config));
  const std::vector<Translation> out = tr.translate(sample_lines());
  ASSERT_EQ(out.size(), 4u);
  ASSERT_EQ(out[1].nbest.size(), 1u);
  EXPECT_EQ(out[1].nbest[0].text, "");
  EXPECT_FALSE(out[0].nbest[0].text.empty());
  EXPECT_FALSE(out[2].nbest[0].text.empty());
}

TEST(Translate, LearnsTheToyTask) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  const Translator tr(m, translate_options_from(m.config));
  const std::vector<Translation> out = tr.translate({"Ein Hund läuft.", "Die Frau isst."});
  EXPECT_EQ(out[0].nbest[0].text, "A dog runs.");
  EXPECT_EQ(out[1].nbest[0].text, "The woman eats.");
}

TEST(Translate, BatchingAndOrderDoNotChangeResults) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  TranslateOptions o = translate_options_from(m.config);
  const std::vector<std::string> lines = {"Der Junge spielt im Park.", "Eine Katze schläft.", "Ein Hund sieht uns an.",
                                          "Die Frau läuft."};
  const std::vector<Translation> together = Translator(m, o).translate(lines);
  o.batch_tokens = 1;  // one sentence per batch
  const Translator one(m, o);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(one.translate({lines[i]})[0].nbest[0].text, together[i].nbest[0].text) << lines[i];
  }
}

TEST(Translate, VeryLongLineIsTruncatedNotFatal) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  TranslateOptions o = translate_options_from(m.config);
  o.search.beam = 1;
  std::string long_line;
  while (long_line.size() < 10000) long_line += "Ein Hund läuft. ";
  long_line.resize(10000);
  const std::vector<Translation> out = Translator(m, o).translate({"Ein Hund läuft.", long_line, ""});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[0].truncated);
  EXPECT_TRUE(out[1].truncated);
  EXPECT_FALSE(out[1].nbest.empty());
  // The output is bounded by the model's 48 positions.
  EXPECT_LE(out[1].nbest[0].tokens.size(), 48u);
}

TEST(Translate, ClassifierModelIsRefusedWithAHint) {
  const LoadedModel m = load_model_dir(classifier_dir());
  try {
    Translator tr(m, translate_options_from(m.config));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a translation model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("attend classify"), std::string::npos) << e.what();
  }
}

TEST(TextInput, InvalidUtf8NamesTheLine) {
  const std::string path = scratch("utf8") + "/in.txt";
  write_lines(path, {"gut", "auch gut", "kaputt \xC3\x28 hier"});
  try {
    read_text_lines(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3: invalid UTF-8 at byte 8"), std::string::npos) << e.what();
  }
}

TEST(TextInput, StdinInvalidUtf8NamesStdinAndTheLine) {
  std::string bytes = "eins\r\n\nzwei \xFF\n";
  std::FILE* f = fmemopen(bytes.data(), bytes.size(), "r");
  try {
    read_text_lines(f, "stdin");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stdin line 3: invalid UTF-8 at byte 6 (0xFF)"), std::string::npos)
        << e.what();
  }
  std::fclose(f);
}

TEST(TextInput, StdinKeepsEmptyLinesAndTheLastUnterminatedOne) {
  std::string bytes = "\xEF\xBB\xBF" "eins\r\n\n\nzwei";
  std::FILE* f = fmemopen(bytes.data(), bytes.size(), "r");
  EXPECT_EQ(read_text_lines(f, "stdin"), (std::vector<std::string>{"eins", "", "", "zwei"}));
  std::fclose(f);
}

TEST(TranslateCommand, WritesOneLinePerInputLine) {
  const std::string dir = scratch("cmd_plain");
  write_lines(dir + "/in.txt", sample_lines());
  ASSERT_EQ(run_attend({"translate", "--model", seq2seq_dir(), "-i", dir + "/in.txt", "-o", dir + "/out.txt"}), 0);
  const std::vector<std::string> out = read_text_lines(dir + "/out.txt");
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1], "");
}

TEST(TranslateCommand, NbestPrintsIndexHypothesisScoreSorted) {
  const std::string dir = scratch("cmd_nbest");
  write_lines(dir + "/in.txt", sample_lines());
  ASSERT_EQ(run_attend({"translate", "--model", seq2seq_dir(), "-i", dir + "/in.txt", "-o", dir + "/out.txt",
                        "--beam", "3", "--nbest", "3"}),
            0);
  const std::vector<std::string> out = read_text_lines(dir + "/out.txt");
  const std::regex line(R"((\d+) \|\|\| (.*) \|\|\| (-?\d+\.\d{4}))");
  std::vector<int> per_sentence(4, 0);
  double previous = 0;
  int previous_index = -1;
  for (const std::string& l : out) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(l, m, line)) << l;
    const int index = std::stoi(m[1]);
    const double score = std::stod(m[3]);
    if (index == previous_index) {
      EXPECT_LE(score, previous) << l;
    }
    previous = score;
    previous_index = index;
    per_sentence[size_t(index)] += 1;
  }
  EXPECT_EQ(per_sentence, (std::vector<int>{3, 1, 3, 3}));  // the empty line has one (empty) entry
}

TEST(TranslateCommand, AlignmentIsMosesPairsWithinTheSentence) {
  const std::string dir = scratch("cmd_align");
  write_lines(dir + "/in.txt", sample_lines());
  ASSERT_EQ(run_attend({"translate", "--model", seq2seq_dir(), "-i", dir + "/in.txt", "-o", dir + "/out.txt",
                        "--alignment"}),
            0);
  const std::vector<std::string> out = read_text_lines(dir + "/out.txt");
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1], " ||| ");
  const std::regex line(R"((.*) \|\|\| ((\d+-\d+)( \d+-\d+)*))");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(out[0], m, line)) << out[0];
  const std::string pairs = m[2];
  const std::regex pair(R"((\d+)-(\d+))");
  for (auto it = std::sregex_iterator(pairs.begin(), pairs.end(), pair); it != std::sregex_iterator(); ++it) {
    EXPECT_LT(std::stoi((*it)[1]), 3);  // "Ein Hund läuft." has 3 words
    EXPECT_LT(std::stoi((*it)[2]), 8);
  }
}

TEST(TranslateCommand, AttentionSvgPerNonEmptySentence) {
  const std::string dir = scratch("cmd_svg");
  write_lines(dir + "/in.txt", sample_lines());
  ASSERT_EQ(run_attend({"translate", "--model", seq2seq_dir(), "-i", dir + "/in.txt", "-o", dir + "/out.txt",
                        "--attention-svg", dir + "/svg", "--attention-layer", "0", "--attention-head", "1"}),
            0);
  EXPECT_TRUE(data::file_exists(dir + "/svg/line-1.svg"));
  EXPECT_FALSE(data::file_exists(dir + "/svg/line-2.svg"));  // the empty line
  EXPECT_TRUE(data::file_exists(dir + "/svg/line-3.svg"));
  const std::string svg = data::read_file(dir + "/svg/line-1.svg");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("decoder layer 0 | head 1"), std::string::npos);
  EXPECT_NE(svg.find(">" + kUnderline + "Ein</text>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;/s&gt;"), std::string::npos);
}

TEST(TranslateCommand, BadAttentionHeadIsAnError) {
  const std::string dir = scratch("cmd_svg_bad");
  write_lines(dir + "/in.txt", {"Ein Hund läuft."});
  EXPECT_NE(run_attend({"translate", "--model", seq2seq_dir(), "-i", dir + "/in.txt", "-o", dir + "/out.txt",
                        "--attention-svg", dir + "/svg", "--attention-head", "2"}),
            0);
  EXPECT_NE(last_error().find("attention head 2 does not exist: layers have heads 0..1"), std::string::npos)
      << last_error();
}

TEST(Translate, Bf16DecodingRoundsTheProductsAndStaysCloseToFp32) {
  const LoadedModel m = load_model_dir(seq2seq_dir());
  TranslateOptions o = translate_options_from(m.config);
  o.search.beam = 3;
  o.search.nbest = 3;
  const std::vector<std::string> lines = {"Ein Hund läuft.", "Die Frau isst.", "Der Junge spielt im Park."};
  const std::vector<Translation> fp32 = Translator(m, o).translate(lines);
  o.precision = GemmPrecision::bf16;
  const std::vector<Translation> bf16 = Translator(m, o).translate(lines);
  EXPECT_EQ(gemm_precision(), GemmPrecision::fp32);  // the process-wide setting is restored

  bool any_differs = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    ASSERT_EQ(bf16[i].nbest.size(), fp32[i].nbest.size()) << lines[i];
    EXPECT_EQ(bf16[i].nbest[0].text, fp32[i].nbest[0].text) << lines[i];  // the toy model is confident
    for (size_t k = 0; k < fp32[i].nbest.size(); ++k) {
      if (bf16[i].nbest[k].tokens != fp32[i].nbest[k].tokens) continue;
      const double a = fp32[i].nbest[k].score, b = bf16[i].nbest[k].score;
      EXPECT_NEAR(b, a, 0.02 * std::abs(a) + 0.02) << lines[i] << " hypothesis " << k;
      any_differs = any_differs || a != b;
    }
  }
  EXPECT_TRUE(any_differs) << "bf16 scores equal fp32 bit for bit: the products did not run in bf16";
}

TEST(TranslateCommand, PrecisionFlagTakesFp32OrBf16) {
  const std::string dir = scratch("cmd_precision");
  write_lines(dir + "/in.txt", sample_lines());
  ASSERT_EQ(run_attend({"translate", "--model", seq2seq_dir(), "-i", dir + "/in.txt", "-o", dir + "/out.txt",
                        "--precision", "bf16"}),
            0)
      << last_error();
  EXPECT_EQ(read_text_lines(dir + "/out.txt").size(), 4u);
  EXPECT_NE(run_attend({"translate", "--model", seq2seq_dir(), "-i", dir + "/in.txt", "--precision", "fp16"}), 0);
  EXPECT_NE(last_error().find("--precision: fp16 not in {fp32,bf16}"), std::string::npos) << last_error();
}

TEST(Alignment, PiecesMapToWhitespaceWords) {
  const std::string u = kUnderline;
  EXPECT_EQ(piece_words({u + "Ein", u + "Hund", u + "l", "äuft", "."}), (std::vector<int64_t>{0, 1, 2, 2, 2}));
  EXPECT_EQ(piece_words({u, "(", u + "a"}), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(piece_words({"x", u + "y"}), (std::vector<int64_t>{0, 1}));
}

TEST(Alignment, EachTargetWordLinksToItsMostAttendedSourceWord) {
  const std::string u = kUnderline;
  // 3 target pieces x 4 columns (3 source pieces + </s>, which is never chosen).
  const std::vector<float> w = {0.1f, 0.7f, 0.1f, 0.1f,   // "▁A"    -> "▁Hund" (word 1)
                                0.6f, 0.1f, 0.1f, 0.2f,   // "▁dog"  -> "▁Ein"  (word 0)
                                0.1f, 0.2f, 0.3f, 0.9f};  // "s"    -> "s" (word 1), not </s>
  EXPECT_EQ(hard_alignment(w, 4, {u + "Ein", u + "Hund", "s"}, {u + "A", u + "dog", "s"}), "0-1 1-0 1-1");
}

TEST(AttentionSvg, EscapesLabelsAndHasOneSquarePerWeight) {
  const std::string svg = attention_svg({"<a>", "&"}, {"\"q\""}, {0.25f, 0.75f}, "x < y");
  EXPECT_NE(svg.find("&lt;a&gt;"), std::string::npos);
  EXPECT_NE(svg.find("&amp;"), std::string::npos);
  EXPECT_NE(svg.find("&quot;q&quot;"), std::string::npos);
  EXPECT_NE(svg.find("x &lt; y"), std::string::npos);
  size_t squares = 0;
  for (size_t p = svg.find("<title>"); p != std::string::npos; p = svg.find("<title>", p + 1)) ++squares;
  EXPECT_EQ(squares, 2u);
  EXPECT_NE(svg.find("#08306b"), std::string::npos);  // the largest weight is the darkest
}
