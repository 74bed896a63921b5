// Hostile and malformed ONNX files through import::load_model. The contract
// (include/infercast/import/import.hpp): every one throws infercast::Error, never
// another exception or a crash, its message names the file and the reason, and no
// file outside the model's folder is read because the model says so.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>
#include <unistd.h>
#include "../test_files.hpp"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"

namespace infercast::import {
namespace {

using infercast::testing::random_bytes;
using infercast::testing::read_file;
using infercast::testing::write_file;

namespace fs = std::filesystem;

const char* const kConvModel = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";

std::string float_bytes(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

void set_tensor_type(::onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(::onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  for (std::int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

// y = x + W, with x and y of shape `dims` and W an initializer of the same shape whose
// data the caller fills in.
::onnx::ModelProto add_model(const std::vector<std::int64_t>& dims) {
  ::onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("onnx_hostile_test");
  model.add_opset_import()->set_version(13);
  auto* g = model.mutable_graph();
  g->set_name("add");
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->set_name("add");
  n->add_input("x");
  n->add_input("W");
  n->add_output("y");
  set_tensor_type(g->add_input(), "x", dims);
  set_tensor_type(g->add_output(), "y", dims);
  auto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(::onnx::TensorProto::FLOAT);
  for (std::int64_t d : dims) w->add_dims(d);
  return model;
}

// add_model({4}) whose W lives in an external file.
::onnx::ModelProto external_model(const std::string& location, const std::string& offset, const std::string& length) {
  ::onnx::ModelProto model = add_model({4});
  auto* w = model.mutable_graph()->mutable_initializer(0);
  w->set_data_location(::onnx::TensorProto::EXTERNAL);
  auto add_entry = [w](const std::string& key, const std::string& value) {
    auto* e = w->add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  add_entry("location", location);
  if (!offset.empty()) add_entry("offset", offset);
  if (!length.empty()) add_entry("length", length);
  return model;
}

class OnnxHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("infercast_hostile_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + info->name());
    fs::remove_all(root_);
    dir_ = root_ / "model";
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path write(const std::string& name, const std::string& bytes) {
    const fs::path path = dir_ / name;
    write_file(path, bytes);
    return path;
  }
  fs::path write(const std::string& name, const ::onnx::ModelProto& model) {
    return write(name, model.SerializeAsString());
  }

  fs::path root_;  // removed after the test
  fs::path dir_;   // root_/model: the model's folder
};

// Loading `path` throws infercast::Error whose message names the file and contains
// `reason`. Any other exception, or a successful load, is a failure.
::testing::AssertionResult rejected(const fs::path& path, const std::string& reason) {
  std::string message;
  try {
    load_model(path);
    return ::testing::AssertionFailure() << path << " loaded; expected an Error containing '" << reason << "'";
  } catch (const Error& e) {
    message = e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << path << " threw a non-infercast exception: " << e.what();
  }
  if (message.find(path.string()) == std::string::npos) {
    return ::testing::AssertionFailure() << "message does not name the file " << path << ": " << message;
  }
  if (message.find(reason) == std::string::npos) {
    return ::testing::AssertionFailure() << "message lacks '" << reason << "': " << message;
  }
  if (message.find('\n') != std::string::npos) {
    return ::testing::AssertionFailure() << "message spans several lines: " << message;
  }
  return ::testing::AssertionSuccess() << message;
}

TEST_F(OnnxHostile, EmptyFile) {
  EXPECT_TRUE(rejected(write("empty.onnx", ""), "empty"));
}

TEST_F(OnnxHostile, MissingFile) {
  EXPECT_TRUE(rejected(dir_ / "missing.onnx", "No such file"));
}

TEST_F(OnnxHostile, DirectoryInsteadOfFile) {
  fs::create_directories(dir_ / "folder.onnx");
  EXPECT_TRUE(rejected(dir_ / "folder.onnx", "not a regular file"));
}

TEST_F(OnnxHostile, RandomBytes) {
  EXPECT_TRUE(rejected(write("random.onnx", random_bytes(4096, 42)), "not a valid ONNX"));
}

TEST_F(OnnxHostile, RandomBytesWithTfliteExtension) {
  EXPECT_TRUE(rejected(write("random.tflite", random_bytes(4096, 7)), "not a TFLite model"));
}

TEST_F(OnnxHostile, PngHeader) {
  // PNG signature, then the start of an IHDR chunk for a 1x1 RGBA image.
  const std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89", 33);
  EXPECT_TRUE(rejected(write("picture.onnx", png), "not a valid ONNX"));
}

// Every prefix of a real model either loads or is rejected with an Error.
TEST_F(OnnxHostile, TruncatedTestdataModelAtEveryOffset) {
  const std::string bytes = read_file(kConvModel);
  if (bytes.empty()) GTEST_SKIP() << "libonnx-testdata is not installed (" << kConvModel << ")";
  const fs::path path = dir_ / "truncated.onnx";
  int rejected_count = 0;
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    write_file(path, bytes.substr(0, size));
    try {
      load_model(path);
    } catch (const Error& e) {
      ++rejected_count;
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << "size " << size << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "size " << size << ": non-infercast exception: " << e.what();
    }
  }
  EXPECT_GT(rejected_count, 0);
  write_file(path, bytes);
  EXPECT_NO_THROW(load_model(path));
}

// The same with a weight large enough that the importer leaves it in the file and
// references it by offset: cuts inside the payload must not yield a view past the end.
TEST_F(OnnxHostile, TruncatedLargeInitializer) {
  ::onnx::ModelProto model = add_model({16, 64});
  model.mutable_graph()->mutable_initializer(0)->set_raw_data(random_bytes(16 * 64 * 4, 3));
  const std::string bytes = model.SerializeAsString();
  const fs::path path = dir_ / "large.onnx";
  write_file(path, bytes);
  ASSERT_NO_THROW(load_model(path));
  for (std::size_t size = 1; size < bytes.size(); size += 61) {
    write_file(path, bytes.substr(0, size));
    try {
      load_model(path);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "size " << size << ": non-infercast exception: " << e.what();
    }
  }
}

TEST_F(OnnxHostile, NegativeInputDimension) {
  ::onnx::ModelProto model = add_model({1, 4});
  model.mutable_graph()->mutable_initializer(0)->set_raw_data(float_bytes({1, 2, 3, 4}));
  model.mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_value(-1);
  EXPECT_TRUE(rejected(write("negative_dim.onnx", model), "dimension 1 is negative"));
}

TEST_F(OnnxHostile, HugeInputDimension) {
  ::onnx::ModelProto model = add_model({1, 4});
  model.mutable_graph()->mutable_initializer(0)->set_raw_data(float_bytes({1, 2, 3, 4}));
  model.mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_value(std::int64_t{1} << 62);
  EXPECT_TRUE(rejected(write("huge_dim.onnx", model), "dimension 1 is too large"));
}

TEST_F(OnnxHostile, InitializerElementCountOverflow) {
  ::onnx::ModelProto model = add_model({1, 4});
  auto* w = model.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  for (int i = 0; i < 3; ++i) w->add_dims(std::int64_t{1} << 30);
  EXPECT_TRUE(rejected(write("overflow.onnx", model), "overflows"));
}

TEST_F(OnnxHostile, RawDataLengthDisagreesWithDims) {
  ::onnx::ModelProto model = add_model({2, 2});
  model.mutable_graph()->mutable_initializer(0)->set_raw_data(float_bytes({1, 2, 3}));
  EXPECT_TRUE(rejected(write("short_raw_data.onnx", model), "holds 12 bytes of data but shape 2x2 float32 needs 16"));
}

TEST_F(OnnxHostile, TwoNodesFeedingEachOther) {
  ::onnx::ModelProto model = add_model({4});
  model.mutable_graph()->mutable_initializer(0)->set_raw_data(float_bytes({1, 2, 3, 4}));
  auto* g = model.mutable_graph();
  // a = x + b; b = Relu(a): neither can run first.
  g->mutable_node(0)->set_input(1, "b");
  g->mutable_node(0)->set_output(0, "a");
  auto* relu = g->add_node();
  relu->set_op_type("Relu");
  relu->set_name("relu");
  relu->add_input("a");
  relu->add_output("b");
  g->mutable_output(0)->set_name("b");
  EXPECT_TRUE(rejected(write("cycle.onnx", model), "cycle"));
}

TEST_F(OnnxHostile, DanglingNodeInput) {
  ::onnx::ModelProto model = add_model({4});
  model.mutable_graph()->clear_initializer();
  model.mutable_graph()->mutable_node(0)->set_input(1, "nobody_makes_this");
  EXPECT_TRUE(rejected(write("dangling.onnx", model), "input 'nobody_makes_this' is not produced"));
}

// External data ------------------------------------------------------------------

TEST_F(OnnxHostile, ExternalDataInsideFolderLoads) {
  const std::vector<float> values{1.5f, -2.0f, 3.25f, 42.0f};
  write("weights.bin", std::string(16, 'x') + float_bytes(values));
  const fs::path path = write("external.onnx", external_model("weights.bin", "16", "16"));
  const ir::Graph graph = load_model(path);
  const int w = graph.find_tensor("W");
  ASSERT_GE(w, 0);
  const auto data = graph.tensors[w].data;
  ASSERT_EQ(data.size(), 16u);
  EXPECT_EQ(std::memcmp(data.data(), float_bytes(values).data(), 16), 0);
}

TEST_F(OnnxHostile, ExternalDataParentDirectory) {
  write_file(root_ / "secret.bin", std::string(16, 's'));  // exists: a read would succeed
  EXPECT_TRUE(rejected(write("m.onnx", external_model("../secret.bin", "", "")), "leaves the model's folder"));
  EXPECT_TRUE(rejected(write("m2.onnx", external_model("sub/../../secret.bin", "", "")), "leaves the model's folder"));
}

TEST_F(OnnxHostile, ExternalDataAbsolutePath) {
  EXPECT_TRUE(rejected(write("m.onnx", external_model("/etc/passwd", "0", "16")), "absolute path"));
  const fs::path secret = root_ / "secret.bin";
  write_file(secret, std::string(16, 's'));
  EXPECT_TRUE(rejected(write("m2.onnx", external_model(secret.string(), "", "")), "absolute path"));
}

TEST_F(OnnxHostile, ExternalDataSymlinkLeavingFolder) {
  const fs::path secret = root_ / "secret.bin";
  write_file(secret, std::string(16, 's'));  // the right size: only the folder check stops it
  fs::create_symlink(secret, dir_ / "link.bin");
  EXPECT_TRUE(rejected(write("m.onnx", external_model("link.bin", "", "")), "resolves outside the model's folder"));
  // A symlinked directory inside the folder is no way out either.
  fs::create_directory_symlink(root_, dir_ / "up");
  EXPECT_TRUE(rejected(write("m2.onnx", external_model("up/secret.bin", "", "")), "resolves outside"));
}

TEST_F(OnnxHostile, ExternalDataRangePastEndOfFile) {
  write("weights.bin", std::string(16, 'w'));
  EXPECT_TRUE(rejected(write("m.onnx", external_model("weights.bin", "8", "16")), "lies outside 'weights.bin'"));
  EXPECT_TRUE(rejected(write("m2.onnx", external_model("weights.bin", "17", "")), "lies outside 'weights.bin'"));
  EXPECT_TRUE(rejected(write("m3.onnx", external_model("weights.bin", "18446744073709551615", "16")), "lies outside"));
  EXPECT_TRUE(rejected(write("m4.onnx", external_model("weights.bin", "0", "-1")), "not a number"));
  EXPECT_TRUE(rejected(write("m5.onnx", external_model("weights.bin", "zero", "16")), "not a number"));
}

TEST_F(OnnxHostile, ExternalDataMissingOrNotAFile) {
  EXPECT_TRUE(rejected(write("m.onnx", external_model("absent.bin", "", "")), "external data file 'absent.bin'"));
  fs::create_directory(dir_ / "subdir");
  EXPECT_TRUE(rejected(write("m2.onnx", external_model("subdir", "", "")), "not a regular file"));
  EXPECT_TRUE(rejected(write("m3.onnx", external_model("", "", "")), "no location"));
}

TEST_F(OnnxHostile, ExternalDataInMemoryIsRefused) {
  write("weights.bin", std::string(16, 'w'));
  const std::string bytes = external_model("weights.bin", "", "").SerializeAsString();
  try {
    load_onnx_bytes(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), "in_memory.onnx");
    ADD_FAILURE() << "in-memory model with external data loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in_memory.onnx"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("in-memory"), std::string::npos) << e.what();
  }
}

// Forged copies of the keys the importer's own wire walk uses to point into the file.
TEST_F(OnnxHostile, ForgedInternalOffsetKeys) {
  ::onnx::ModelProto model = add_model({4});
  auto* w = model.mutable_graph()->mutable_initializer(0);
  auto* e = w->add_external_data();
  e->set_key("infercast:offset");
  e->set_value("1000000");
  e = w->add_external_data();
  e->set_key("infercast:length");
  e->set_value("16");
  EXPECT_TRUE(rejected(write("forged.onnx", model), "data range lies outside the file"));
}

// libonnx's Conv/Pool shape inference divides by the strides unchecked (a zero stride
// once crashed the importer with SIGFPE, found by fuzzing); window attributes that
// define no output are refused by name.
TEST_F(OnnxHostile, NonPositiveWindowAttributes) {
  const std::string bytes = read_file(kConvModel);
  struct Case {
    const char* attr;
    std::vector<std::int64_t> value;
    const char* reason;
  };
  for (const Case& c :
       {Case{"strides", {0, 2}, "strides must be >= 1, got [0,2]"}, Case{"strides", {2, -1}, "strides must be >= 1"},
        Case{"dilations", {1, 0}, "dilations must be >= 1"},
        Case{"kernel_shape", {0, 3}, "kernel_shape must be positive"},
        Case{"pads", {1, 1, -2, 1}, "pads must be >= 0"}}) {
    ::onnx::ModelProto model;
    ASSERT_TRUE(model.ParseFromString(bytes));
    auto* node = model.mutable_graph()->mutable_node(0);
    ::onnx::AttributeProto* attr = nullptr;
    for (auto& a : *node->mutable_attribute()) {
      if (a.name() == c.attr) attr = &a;
    }
    if (attr == nullptr) {
      attr = node->add_attribute();
      attr->set_name(c.attr);
      attr->set_type(::onnx::AttributeProto::INTS);
    }
    attr->clear_ints();
    for (const auto v : c.value) attr->add_ints(v);
    EXPECT_TRUE(rejected(write(std::string(c.attr) + ".onnx", model), c.reason)) << c.attr;
  }
}

}  // namespace
}  // namespace infercast::import
