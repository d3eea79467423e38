// LineReader and read_lines: plain and gzip files, line endings, UTF-8 checks.
#include "data/text_reader.h"

#include <gtest/gtest.h>

#include "data_fixtures.h"

using namespace attend;
using namespace attend::data;
using Strings = std::vector<std::string>;

class TextReader : public test_util::ScratchDir {};

TEST_F(TextReader, ReadsPlainLinesWithoutNewlines) {
  EXPECT_EQ(read_lines(write("a.txt", "eins\nzwei\n\ndrei\n")), (Strings{"eins", "zwei", "", "drei"}));
}

TEST_F(TextReader, KeepsALastLineWithoutNewline) {
  EXPECT_EQ(read_lines(write("a.txt", "eins\nzwei")), (Strings{"eins", "zwei"}));
}

TEST_F(TextReader, EmptyFileHasNoLines) { EXPECT_EQ(read_lines(write("a.txt", "")), Strings{}); }

TEST_F(TextReader, ReadsGzipByContent) {
  EXPECT_EQ(read_lines(write_gz("a.de.gz", "Grüße\naus Köln\n")), (Strings{"Grüße", "aus Köln"}));
  // gzip content under a plain name is still recognised
  EXPECT_EQ(read_lines(write_gz("b.txt", "x\n")), (Strings{"x"}));
}

TEST_F(TextReader, ReadsLinesLongerThanTheBuffer) {
  const std::string big(300000, 'a');
  EXPECT_EQ(read_lines(write_gz("big.gz", "x\n" + big + "\ny\n")), (Strings{"x", big, "y"}));
}

TEST_F(TextReader, StripsCarriageReturnAndByteOrderMark) {
  EXPECT_EQ(read_lines(write("a.txt", "\xEF\xBB\xBFone\r\ntwo\r\n")), (Strings{"one", "two"}));
}

TEST_F(TextReader, CountsLines) {
  LineReader in(write("a.txt", "a\nb\nc\n"));
  std::string line;
  ASSERT_TRUE(in.next(line));
  ASSERT_TRUE(in.next(line));
  EXPECT_EQ(line, "b");
  EXPECT_EQ(in.line_number(), 2);
}

TEST_F(TextReader, MissingFileIsAnErrorNamingIt) {
  const std::string p = path("nope.txt");
  try {
    read_lines(p);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open '" + p + "': No such file or directory"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TextReader, InvalidUtf8NamesFileLineAndByte) {
  const std::string p = write_gz("bad.gz", "gut\nschlecht \xFC" "ber\n");  // latin-1 ü
  try {
    read_lines(p);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'" + p + "' line 2: invalid UTF-8 at byte 10 (0xFC)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(TextReader, TruncatedGzipIsAnError) {
  std::string gz = read_file(write_gz("a.gz", std::string(5000, 'x') + "\n"));
  const std::string p = write("cut.gz", gz.substr(0, gz.size() / 2));
  try {
    read_lines(p);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("error reading '" + p + "'"), std::string::npos) << e.what();
  }
}

TEST(Utf8, AcceptsValidText) {
  EXPECT_EQ(find_invalid_utf8(""), -1);
  EXPECT_EQ(find_invalid_utf8("plain ascii, longer than eight bytes"), -1);
  EXPECT_EQ(find_invalid_utf8("Mädchen „Straße“ – €, 😀"), -1);
}

TEST(Utf8, FindsTheFirstInvalidByte) {
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2);                 // lone continuation byte
  EXPECT_EQ(find_invalid_utf8("\xC3"), 0);                   // truncated sequence
  EXPECT_EQ(find_invalid_utf8("a\xC0\xAF"), 1);              // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xE0\x80\xAF"), 0);           // overlong 3-byte form
  EXPECT_EQ(find_invalid_utf8("xx\xED\xA0\x80"), 2);         // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0);       // past U+10FFFF
  EXPECT_EQ(find_invalid_utf8("12345678ä\xFF"), 10);         // after the ASCII fast path
}
