// Model loading: valid models decode; malformed ones give clear errors, never crashes.
#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <cstdio>

#include <random>

#include "core/model/onnx_reader.h"
#include "core/runtime/session.h"
#include "tests/unit/model_builder.h"

namespace tandem {
namespace {

using testing::as_bytes;
using testing::ModelBuilder;

ModelBuilder relu_model() {
  ModelBuilder b;
  b.inputs = {{"x", DType::kFloat32, {2, 3}}};
  b.outputs = {{"y", DType::kFloat32, {2, 3}}};
  b.nodes = {{"Relu", {"x"}, {"y"}, {}}};
  return b;
}

TEST(LoaderTest, DecodesGraphInputsOutputsAndOpset) {
  const std::string bytes = relu_model().build();
  auto m = model::load_model_bytes(as_bytes(bytes));
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const graph::Graph& g = *m->graph;
  EXPECT_EQ(m->ir_version, 8);
  EXPECT_EQ(g.opset(""), 17);
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.values[g.inputs[0]].name, "x");
  EXPECT_EQ(g.values[g.inputs[0]].type.to_string(), "float32[2, 3]");
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Relu");
}

TEST(LoaderTest, EveryTruncationIsAnErrorNotACrash) {
  ModelBuilder b = relu_model();
  b.initializers = {{"w", {2, 3}, {1, 2, 3, 4, 5, 6}}};
  const std::string bytes = b.build();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto m = model::load_model_bytes(as_bytes(bytes.substr(0, n)));
    EXPECT_FALSE(m.is_ok()) << "prefix of " << n << " bytes loaded";
  }
}

TEST(LoaderTest, RandomBytesAreRejected) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 500; ++trial) {
    std::string junk(static_cast<size_t>(rng() % 300), '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    auto m = model::load_model_bytes(as_bytes(junk));
    if (m.is_ok()) continue;  // random bytes may form a valid (empty) message; they must not crash
    EXPECT_FALSE(m.status().message().empty());
  }
  auto empty = model::load_model_bytes({});
  ASSERT_FALSE(empty.is_ok());
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);
}

TEST(LoaderTest, WrongMagicFilesSayWhatIsWrong) {
  const std::string zip = "PK\x03\x04 this is a zip file, not ONNX";
  auto m = model::load_model_bytes(as_bytes(zip));
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidModel);
}

TEST(LoaderTest, CyclesAreRejected) {
  ModelBuilder b = relu_model();
  b.nodes = {{"Add", {"x", "b"}, {"a"}, {}}, {"Relu", {"a"}, {"b"}, {}}, {"Relu", {"a"}, {"y"}, {}}};
  auto m = model::load_model_bytes(as_bytes(b.build()));
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("cycle"), std::string::npos) << m.status().to_string();
}

TEST(LoaderTest, MissingInitializerIsNamed) {
  ModelBuilder b = relu_model();
  b.nodes = {{"Add", {"x", "weights_that_do_not_exist"}, {"y"}, {}}};
  auto m = model::load_model_bytes(as_bytes(b.build()));
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("weights_that_do_not_exist"), std::string::npos);
}

TEST(LoaderTest, AbsurdDimensionsDoNotAllocate) {
  ModelBuilder b = relu_model();
  b.initializers = {{"w", {int64_t{1} << 40, int64_t{1} << 40}, {1.0f}}};
  auto m = model::load_model_bytes(as_bytes(b.build()));
  ASSERT_FALSE(m.is_ok());
  b.initializers = {{"w", {int64_t{1} << 33}, {1.0f}}};
  m = model::load_model_bytes(as_bytes(b.build()));
  ASSERT_FALSE(m.is_ok());
  b.initializers = {{"w", {-4}, {}}};
  m = model::load_model_bytes(as_bytes(b.build()));
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("negative"), std::string::npos);
}

TEST(LoaderTest, InitializerCountMustMatchShape) {
  ModelBuilder b = relu_model();
  b.initializers = {{"w", {2, 3}, {1, 2, 3}}};
  auto m = model::load_model_bytes(as_bytes(b.build()));
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("needs 6"), std::string::npos) << m.status().to_string();
}

TEST(LoaderTest, UnsupportedIrAndOpsetVersionsAreRefused) {
  ModelBuilder b = relu_model();
  b.ir_version = 2;
  EXPECT_FALSE(model::load_model_bytes(as_bytes(b.build())).is_ok());
  b.ir_version = 8;
  b.opset = 99;
  auto m = model::load_model_bytes(as_bytes(b.build()));
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("opset 99"), std::string::npos);
}

TEST(LoaderTest, UnknownOperatorIsUnsupportedAtSessionLoad) {
  ModelBuilder b = relu_model();
  b.nodes = {{"FancyNewOp", {"x"}, {"y"}, {}}};
  auto s = Session::load(as_bytes(b.build()));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(s.status().message().find("FancyNewOp"), std::string::npos);
}

TEST(LoaderTest, ExternalDataLoadsFromTheModelsFolderOnly) {
  char dir_template[] = "/tmp/tandem_external_XXXXXX";
  const char* dir = mkdtemp(dir_template);
  ASSERT_NE(dir, nullptr);
  const std::vector<float> w = {1, -2, 3, -4, 5, -6};
  std::FILE* f = std::fopen((std::string(dir) + "/weights.bin").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(w.data(), sizeof(float), w.size(), f);
  std::fclose(f);
  ModelBuilder b = relu_model();
  b.initializers = {{"w", {2, 3}, w, "weights.bin"}};
  b.nodes = {{"Add", {"x", "w"}, {"y"}, {}}};
  const std::string bytes = b.build();
  const std::string path = std::string(dir) + "/model.onnx";
  f = std::fopen(path.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);

  auto m = model::load_model_file(path);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  const graph::Graph& g = *m->graph;
  EXPECT_EQ(g.values[g.find("w")].constant->to_float_vector(), w);

  // The same model as bytes has no folder to look in: a clear error, not a guess.
  auto from_bytes = model::load_model_bytes(as_bytes(bytes));
  ASSERT_FALSE(from_bytes.is_ok());
  EXPECT_NE(from_bytes.status().message().find("load the model from its file path"), std::string::npos);

  // Locations may not leave the model's folder.
  b.initializers = {{"w", {2, 3}, w, "../weights.bin"}};
  auto escaped = model::load_model_bytes(as_bytes(b.build()), {std::string(dir), kMaxTensorBytes});
  ASSERT_FALSE(escaped.is_ok());
  EXPECT_NE(escaped.status().message().find("relative path inside"), std::string::npos);
  std::remove((std::string(dir) + "/weights.bin").c_str());
  std::remove(path.c_str());
  rmdir(dir);
}

TEST(LoaderTest, MissingFileIsNotFound) {
  auto m = model::load_model_file("/nonexistent/dir/model.onnx");
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
}

// Every file of the committed malformed-model corpus must load with an error
// (or load fine and then fail cleanly): the regression set for the fuzzer.
TEST(LoaderTest, MalformedCorpusAllYieldErrors) {
  const std::string dir = std::string(TANDEM_SOURCE_DIR) + "/tests/corpus/malformed";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  int files = 0;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 6 || name.substr(name.size() - 5) != ".onnx") continue;
    ++files;
    auto s = Session::load(dir + "/" + name);
    EXPECT_FALSE(s.is_ok()) << name << " loaded without error";
    if (!s.is_ok()) EXPECT_FALSE(s.status().message().empty()) << name;
  }
  closedir(d);
  EXPECT_GE(files, 10);
}

}  // namespace
}  // namespace tandem
