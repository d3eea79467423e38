// safetensors save/load: round trips of every dtype, and every malformed file
// rejected with a message naming the file and the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/safetensors.h"

using namespace attend;
namespace fs = std::filesystem;

namespace {

// A fresh path in the temp folder, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& tag) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (fs::temp_directory_path() / fmt::format("attend_{}_{}_{}.safetensors", ::getpid(), info->name(), tag))
                .string();
  }
  ~TempFile() { std::error_code ec; fs::remove(path_, ec); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes an 8-byte length (header.size() unless given), the header, then `data`.
void write_raw(const std::string& path, const std::string& header, const std::string& data,
               int64_t length = -1) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = length >= 0 ? uint64_t(length) : header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data;
}

// Loads `path` expecting an error whose message contains every one of `parts`.
void expect_load_error(const std::string& path, std::initializer_list<std::string> parts) {
  try {
    load_safetensors(path);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

const std::string kEightBytes(8, '\x01');

}  // namespace

TEST(Safetensors, RoundTripF32WithMetadata) {
  TempFile f("a");
  Tensor w = Tensor::from_vector({1.5f, -2, 3, 4, 5, 6.25f}, {2, 3});
  Tensor b = Tensor::from_vector({0.5f, -0.5f}, {2});
  save_safetensors(f.path(), {{"fc.weight", w}, {"fc.bias", b}}, {{"step", "100"}, {"format", "pt"}});
  SafetensorsFile s = load_safetensors(f.path());
  EXPECT_EQ(s.names, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_EQ(s.at("fc.weight").shape(), (Shape{2, 3}));
  EXPECT_EQ(s.at("fc.weight").dtype(), DType::f32);
  EXPECT_EQ(s.at("fc.weight").to_vector(), w.to_vector());
  EXPECT_EQ(s.at("fc.bias").to_vector(), b.to_vector());
  EXPECT_EQ(s.metadata, (std::map<std::string, std::string>{{"step", "100"}, {"format", "pt"}}));
}

TEST(Safetensors, RoundTripIntegersAndBf16) {
  TempFile f("a");
  Tensor i32 = Tensor::from_ids({-1, 7, 2147483647}, {3});
  Tensor i64 = Tensor::from_ids64({int64_t(1) << 40, -5}, {2, 1});
  Tensor h = Tensor::empty({2}, DType::bf16);
  h.data_as<bf16>()[0] = to_bf16(1.5f);
  h.data_as<bf16>()[1] = to_bf16(-3.0f);
  save_safetensors(f.path(), {{"a", i32}, {"b", i64}, {"h", h}});
  SafetensorsFile s = load_safetensors(f.path());
  EXPECT_EQ(s.at("a").dtype(), DType::i32);
  EXPECT_EQ(s.at("a").to_ids(), (std::vector<int64_t>{-1, 7, 2147483647}));
  EXPECT_EQ(s.at("b").dtype(), DType::i64);
  EXPECT_EQ(s.at("b").shape(), (Shape{2, 1}));
  EXPECT_EQ(s.at("b").to_ids(), (std::vector<int64_t>{int64_t(1) << 40, -5}));
  ASSERT_EQ(s.at("h").dtype(), DType::bf16);
  EXPECT_EQ(from_bf16(s.at("h").data_as<bf16>()[0]), 1.5f);
  EXPECT_EQ(from_bf16(s.at("h").data_as<bf16>()[1]), -3.0f);
  EXPECT_TRUE(s.metadata.empty());
}

TEST(Safetensors, RoundTripZeroDimAndEmptyTensors) {
  TempFile f("a");
  save_safetensors(f.path(), {{"scalar", Tensor::scalar(2.5f)},
                              {"empty", Tensor::zeros({0, 3})},
                              {"after", Tensor::from_vector({9}, {1})},
                              {"empty_ids", Tensor::from_ids({}, {0})}});
  SafetensorsFile s = load_safetensors(f.path());
  EXPECT_EQ(s.at("scalar").shape(), Shape{});
  EXPECT_EQ(s.at("scalar").item(), 2.5f);
  EXPECT_EQ(s.at("empty").shape(), (Shape{0, 3}));
  EXPECT_EQ(s.at("after").item(), 9.0f);
  EXPECT_EQ(s.at("empty_ids").dtype(), DType::i32);
  EXPECT_EQ(s.at("empty_ids").numel(), 0);
}

TEST(Safetensors, NonContiguousTensorIsWrittenRowMajor) {
  TempFile f("a");
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  save_safetensors(f.path(), {{"xt", x.transpose(0, 1)}, {"col", x.slice(1, 1, 2)}});
  SafetensorsFile s = load_safetensors(f.path());
  EXPECT_EQ(s.at("xt").shape(), (Shape{3, 2}));
  EXPECT_EQ(s.at("xt").to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(s.at("col").to_vector(), (std::vector<float>{2, 5}));
}

TEST(Safetensors, NamesKeepFileOrderAndDataIsAligned) {
  TempFile f("a");
  save_safetensors(f.path(), {{"z", Tensor::ones({3})}, {"a", Tensor::ones({1})}, {"m", Tensor::ones({2})}});
  SafetensorsFile s = load_safetensors(f.path());
  EXPECT_EQ(s.names, (std::vector<std::string>{"z", "a", "m"}));
  for (const std::string& n : s.names) EXPECT_EQ(reinterpret_cast<uintptr_t>(s.at(n).raw_data()) % 64, 0u);
  // The header is padded so the data section starts 8-byte aligned, as huggingface writes it.
  EXPECT_EQ((fs::file_size(f.path()) - 6 * 4) % 8, 0u);
}

TEST(Safetensors, ReadsAHandWrittenFile) {
  TempFile f("a");
  float v[3] = {1, 2, 3};
  write_raw(f.path(),
            R"({"__metadata__":{"k":"v"},"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})",
            std::string(reinterpret_cast<const char*>(v), 12));
  SafetensorsFile s = load_safetensors(f.path());
  EXPECT_EQ(s.at("t").to_vector(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(s.metadata.at("k"), "v");
}

TEST(Safetensors, SaveReplacesAtomicallyAndLeavesNoTempFile) {
  TempFile f("a");
  save_safetensors(f.path(), {{"t", Tensor::ones({2})}});
  save_safetensors(f.path(), {{"u", Tensor::zeros({1})}});
  EXPECT_EQ(load_safetensors(f.path()).names, std::vector<std::string>{"u"});
  for (const auto& entry : fs::directory_iterator(fs::path(f.path()).parent_path()))
    EXPECT_EQ(entry.path().string().find(f.path() + ".tmp"), std::string::npos) << entry.path();
}

TEST(Safetensors, SaveIntoMissingFolderNamesThePath) {
  const std::string path = (fs::temp_directory_path() / "attend_no_such_dir" / "m.safetensors").string();
  try {
    save_safetensors(path, {{"t", Tensor::ones({2})}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Safetensors, SaveRejectsDuplicateNames) {
  TempFile f("a");
  try {
    save_safetensors(f.path(), {{"t", Tensor::ones({2})}, {"t", Tensor::ones({1})}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate tensor name 't'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(f.path()));
}

TEST(Safetensors, AtUnknownNameNamesFileAndTensor) {
  TempFile f("a");
  save_safetensors(f.path(), {{"t", Tensor::ones({2})}});
  SafetensorsFile s = load_safetensors(f.path());
  EXPECT_FALSE(s.contains("missing"));
  try {
    s.at("missing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor 'missing'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(f.path()), std::string::npos) << e.what();
  }
}

// --- malformed files --------------------------------------------------------------

TEST(SafetensorsMalformed, MissingFile) {
  const std::string path = (fs::temp_directory_path() / "attend_does_not_exist.safetensors").string();
  expect_load_error(path, {path, "cannot open", "No such file"});
}

TEST(SafetensorsMalformed, FileShorterThanEightBytes) {
  TempFile f("a");
  std::ofstream(f.path(), std::ios::binary) << "abc";
  expect_load_error(f.path(), {f.path(), "3 bytes", "too short"});
}

TEST(SafetensorsMalformed, HeaderLengthPastEndOfFile) {
  TempFile f("a");
  write_raw(f.path(), "{}", "", /*length=*/1000);
  expect_load_error(f.path(), {f.path(), "header length 1000", "past the end", "10 bytes"});
}

TEST(SafetensorsMalformed, HeaderNotValidJson) {
  TempFile f("a");
  write_raw(f.path(), R"({"t": {"dtype": "F32",)", "");
  expect_load_error(f.path(), {f.path(), "not valid JSON"});
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  TempFile f("a");
  write_raw(f.path(), "[1, 2]", "");
  expect_load_error(f.path(), {f.path(), "not a JSON object"});
}

TEST(SafetensorsMalformed, UnknownDtypeNamesItAndTheTensor) {
  TempFile f("a");
  write_raw(f.path(), R"({"w":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", kEightBytes);
  expect_load_error(f.path(), {f.path(), "tensor 'w'", "unknown dtype 'F16'"});
}

TEST(SafetensorsMalformed, ShapeDoesNotMatchByteCount) {
  TempFile f("a");
  write_raw(f.path(), R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kEightBytes);
  expect_load_error(f.path(), {f.path(), "tensor 'w'", "shape [3]", "needs 12 bytes", "hold 8"});
}

TEST(SafetensorsMalformed, NegativeShapeOrBadOffsets) {
  TempFile f("a");
  write_raw(f.path(), R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kEightBytes);
  expect_load_error(f.path(), {f.path(), "tensor 'w'", "invalid shape [-2]"});
  write_raw(f.path(), R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", kEightBytes);
  expect_load_error(f.path(), {f.path(), "tensor 'w'", "data_offsets [begin, end]"});
  write_raw(f.path(), R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", kEightBytes);
  expect_load_error(f.path(), {f.path(), "tensor 'w'", "begin after end"});
}

TEST(SafetensorsMalformed, OffsetsOutOfRange) {
  TempFile f("a");
  write_raw(f.path(), R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", kEightBytes);
  expect_load_error(f.path(), {f.path(), "tensor 'w'", "[0, 16] out of range", "8 bytes"});
}

TEST(SafetensorsMalformed, OverlappingOffsets) {
  TempFile f("a");
  write_raw(f.path(),
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            kEightBytes);
  expect_load_error(f.path(), {f.path(), "'a' [0, 8] and 'b' [4, 8] overlap"});
}

TEST(SafetensorsMalformed, DuplicateNames) {
  TempFile f("a");
  write_raw(f.path(),
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            kEightBytes);
  expect_load_error(f.path(), {f.path(), "duplicate name 'a'"});
}

TEST(SafetensorsMalformed, HoleBetweenTensors) {
  TempFile f("a");
  write_raw(f.path(),
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
            R"("b":{"dtype":"I32","shape":[0],"data_offsets":[8,8]}})",
            kEightBytes);
  expect_load_error(f.path(), {f.path(), "bytes [4, 8)", "belong to no tensor"});
}

TEST(SafetensorsMalformed, TrailingBytesAfterLastTensor) {
  TempFile f("a");
  write_raw(f.path(), R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", kEightBytes);
  expect_load_error(f.path(), {f.path(), "bytes [4, 8)", "belong to no tensor"});
}

TEST(SafetensorsMalformed, MetadataValueNotAString) {
  TempFile f("a");
  write_raw(f.path(), R"({"__metadata__":{"step":100}})", "");
  expect_load_error(f.path(), {f.path(), "__metadata__ value of 'step' is not a string"});
}
