// TFLite importer: the real MediaPipe models (op census checked against a flatc JSON
// dump of each file), hostile bytes (random, truncated, bit-flipped: load or throw
// infercast::Error, never crash), and small models built with the generated
// flatbuffers API to hit each validation path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "infercast/base/error.hpp"
#include "infercast/base/mapped_file.hpp"
#include "infercast/import/import.hpp"
#include "infercast/ir/graph.hpp"

// The generated schema header (build/generated, from schema/tflite.fbs).
#include "tflite_generated.h"

namespace infercast::import {
namespace {

namespace fs = std::filesystem;
using ir::Op;

fs::path mediapipe_model(const std::string& file) {
  return fs::path(INFERCAST_SOURCE_DIR) / ".cache" / "models" / "mediapipe" / file;
}

#define SKIP_IF_MISSING(path) \
  if (!fs::exists(path)) GTEST_SKIP() << (path) << " not found; run scripts/fetch_mediapipe.sh"

std::vector<std::byte> read_file(const fs::path& path) {
  base::MappedFile file(path);
  return {file.bytes().begin(), file.bytes().end()};
}

std::map<Op, int> census(const ir::Graph& g) {
  std::map<Op, int> counts;
  for (const ir::Node& n : g.nodes) ++counts[n.op];
  return counts;
}

std::string census_text(const std::map<Op, int>& counts) {
  std::string s;
  for (const auto& [op, n] : counts) s += std::string(ir::op_name(op)) + "=" + std::to_string(n) + " ";
  return s;
}

// Load or throw infercast::Error; any other exception escapes and fails the test.
bool loads(std::span<const std::byte> bytes) {
  try {
    load_tflite_bytes(bytes, "hostile");
    return true;
  } catch (const Error&) {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Real models
// ---------------------------------------------------------------------------

struct ModelCase {
  const char* file;
  std::vector<std::int64_t> input_shape;
  std::map<Op, int> ops;  // expected census, every op listed
};

const std::vector<ModelCase>& model_cases() {
  static const std::vector<ModelCase> cases = {
      {"face_detection_short_range.tflite",
       {1, 128, 128, 3},
       {{Op::Conv, 37},
        {Op::Dequantize, 74},
        {Op::Add, 16},
        {Op::Relu, 17},
        {Op::Pad, 11},
        {Op::MaxPool, 3},
        {Op::Reshape, 4},
        {Op::Concat, 2}}},
      {"face_detection_full_range.tflite",
       {1, 192, 192, 3},
       {{Op::Conv, 89},
        {Op::Dequantize, 178},
        {Op::Add, 23},
        {Op::Relu, 47},
        {Op::Pad, 8},
        {Op::MaxPool, 4},
        {Op::Reshape, 2},
        {Op::Resize, 3}}},
      {"face_detection_full_range_sparse.tflite",
       {1, 192, 192, 3},
       {{Op::Conv, 91},
        {Op::Dequantize, 182},
        {Op::Densify, 46},
        {Op::Add, 19},
        {Op::Pad, 43},
        {Op::DepthToSpace, 2},
        {Op::Reshape, 2},
        {Op::Resize, 3}}},
      {"selfie_segmentation.tflite",
       {1, 256, 256, 3},
       {{Op::Conv, 54},
        {Op::ConvTranspose, 1},
        {Op::Dequantize, 110},
        {Op::Add, 14},
        {Op::AveragePool, 10},
        {Op::HardSwish, 11},
        {Op::Mul, 10},
        {Op::Relu, 22},
        {Op::Resize, 3},
        {Op::Sigmoid, 11}}},
      {"selfie_segmentation_landscape.tflite",
       {1, 144, 256, 3},
       {{Op::Conv, 54},
        {Op::ConvTranspose, 1},
        {Op::Dequantize, 110},
        {Op::Add, 14},
        {Op::ReduceMean, 10},
        {Op::HardSwish, 11},
        {Op::Mul, 10},
        {Op::Relu, 22},
        {Op::Resize, 3},
        {Op::Sigmoid, 11}}},
  };
  return cases;
}

TEST(TfliteImporter, MediaPipeModelsImportCompletely) {
  for (const ModelCase& m : model_cases()) {
    const fs::path path = mediapipe_model(m.file);
    SKIP_IF_MISSING(path);
    SCOPED_TRACE(m.file);
    const ir::Graph g = load_tflite(path);

    EXPECT_EQ(g.meta.format, "tflite");
    EXPECT_EQ(g.meta.layout, ir::Layout::kNHWC);
    EXPECT_EQ(g.meta.opset, 3);
    EXPECT_FALSE(g.meta.graph_name.empty());
    EXPECT_TRUE(g.meta.other_subgraphs.empty());
    EXPECT_TRUE(g.meta.warnings.empty()) << g.meta.warnings.front();

    const auto counts = census(g);
    EXPECT_EQ(counts, m.ops) << census_text(counts);
    EXPECT_EQ(counts.count(Op::Other), 0u);

    ASSERT_EQ(g.inputs.size(), 1u);
    EXPECT_EQ(g.tensors[g.inputs[0]].shape, ir::Shape::of(m.input_shape));
    EXPECT_EQ(g.tensors[g.inputs[0]].kind, ir::TensorKind::kInput);
    EXPECT_EQ(g.outputs.size(), m.ops.count(Op::ConvTranspose) ? 1u : 2u);

    for (const ir::Node& n : g.nodes) {
      EXPECT_EQ(n.layout, ir::Layout::kNHWC) << n.name;
      ASSERT_FALSE(n.outputs.empty());
      EXPECT_EQ(n.name, g.tensors[n.outputs[0]].name);
      if (n.source_op == "DEPTHWISE_CONV_2D") {
        const ir::Tensor& in = g.tensors[n.inputs[0]];
        ASSERT_EQ(in.shape.rank(), 4u);
        EXPECT_EQ(n.attrs.get_int("group", -1), in.shape.dims[3].value) << n.name;
        EXPECT_EQ(n.attrs.get_string("weight_layout", ""), "1HWO");
      }
      if (n.source_op == "CONV_2D") {
        EXPECT_EQ(n.attrs.get_int("group", -1), 1) << n.name;
        EXPECT_EQ(n.attrs.get_string("weight_layout", ""), "OHWI");
      }
      if (n.op == Op::Conv || n.op == Op::MaxPool || n.op == Op::AveragePool) {
        EXPECT_EQ(n.attrs.get_ints("kernel_shape").size(), 2u) << n.name;
        EXPECT_EQ(n.attrs.get_ints("strides").size(), 2u) << n.name;
        EXPECT_EQ(n.attrs.get_ints("pads").size(), 4u) << n.name;
      }
    }
  }
}

TEST(TfliteImporter, ConvPadsFollowTfliteSame) {
  const fs::path path = mediapipe_model("face_detection_short_range.tflite");
  SKIP_IF_MISSING(path);
  const ir::Graph g = load_tflite(path);
  // First layer: 128x128 input, 5x5 kernel, stride 2, SAME → 64x64 output; total
  // padding (64-1)*2 + 5 - 128 = 3 per axis, 1 before and 2 after.
  const ir::Node& first = g.nodes[static_cast<std::size_t>(
      std::find_if(g.nodes.begin(), g.nodes.end(), [](const ir::Node& n) { return n.op == Op::Conv; }) -
      g.nodes.begin())];
  EXPECT_EQ(first.source_op, "CONV_2D");
  EXPECT_EQ(first.attrs.get_ints("kernel_shape"), (std::vector<std::int64_t>{5, 5}));
  EXPECT_EQ(first.attrs.get_ints("strides"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(first.attrs.get_ints("dilations"), (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(first.attrs.get_ints("pads"), (std::vector<std::int64_t>{1, 1, 2, 2}));
}

TEST(TfliteImporter, ConstantsViewTheFile) {
  const fs::path path = mediapipe_model("face_detection_short_range.tflite");
  SKIP_IF_MISSING(path);
  // In-memory: every constant's bytes lie inside the caller's buffer.
  const base::MappedFile file(path);
  const ir::Graph viewed = load_tflite_bytes(file.bytes(), path.string());
  const std::byte* begin = file.bytes().data();
  const std::byte* end = begin + file.size();
  int constants = 0;
  for (const ir::Tensor& t : viewed.tensors) {
    if (!t.is_constant()) continue;
    ++constants;
    ASSERT_FALSE(t.data.empty()) << t.name;
    EXPECT_TRUE(t.data.data() >= begin && t.data.data() + t.data.size() <= end) << t.name;
  }
  EXPECT_GT(constants, 70);

  // From the path: the same bytes at the same relative positions, so the graph views
  // one file-sized mapping rather than copies.
  const ir::Graph mapped = load_tflite(path);
  ASSERT_EQ(mapped.tensors.size(), viewed.tensors.size());
  const std::byte* mapped_base = nullptr;
  for (std::size_t i = 0; i < mapped.tensors.size(); ++i) {
    const ir::Tensor& t = mapped.tensors[i];
    const ir::Tensor& v = viewed.tensors[i];
    ASSERT_EQ(t.kind, v.kind);
    if (!t.is_constant()) continue;
    ASSERT_EQ(t.data.size(), v.data.size());
    EXPECT_EQ(std::memcmp(t.data.data(), v.data.data(), t.data.size()), 0) << t.name;
    const std::ptrdiff_t file_offset = v.data.data() - begin;
    if (mapped_base == nullptr) mapped_base = t.data.data() - file_offset;
    EXPECT_EQ(t.data.data(), mapped_base + file_offset) << t.name;
  }
}

TEST(TfliteImporter, SparseModelDensifiesEverySparseTensor) {
  const fs::path path = mediapipe_model("face_detection_full_range_sparse.tflite");
  SKIP_IF_MISSING(path);
  const ir::Graph g = load_tflite(path);
  int sparse = 0;
  for (const ir::Tensor& t : g.tensors) {
    if (!t.sparse) continue;
    ++sparse;
    EXPECT_TRUE(t.is_constant()) << t.name;
    EXPECT_FALSE(t.data.empty()) << t.name;
    EXPECT_TRUE(t.shape.is_static()) << t.name;
  }
  EXPECT_EQ(sparse, 46);
  int densify = 0;
  for (const ir::Node& n : g.nodes) {
    if (n.op != Op::Densify) continue;
    ++densify;
    ASSERT_EQ(n.inputs.size(), 1u);
    const ir::Tensor& in = g.tensors[n.inputs[0]];
    EXPECT_TRUE(in.sparse) << n.name;
    // The dense output has the sparse tensor's (dense) shape.
    EXPECT_EQ(g.tensors[n.outputs[0]].shape, in.shape) << n.name;
  }
  EXPECT_EQ(densify, 46);
}

TEST(TfliteImporter, SelfieSegmentationHasMediaPipeTransposedConv) {
  const std::vector<std::pair<const char*, ir::Shape>> cases = {
      {"selfie_segmentation.tflite", ir::Shape::of({1, 256, 256, 1})},
      {"selfie_segmentation_landscape.tflite", ir::Shape::of({1, 144, 256, 1})},
  };
  for (const auto& [file, out_shape] : cases) {
    const fs::path path = mediapipe_model(file);
    SKIP_IF_MISSING(path);
    SCOPED_TRACE(file);
    const ir::Graph g = load_tflite(path);
    std::vector<const ir::Node*> transposed;
    for (const ir::Node& n : g.nodes) {
      if (n.op == Op::ConvTranspose) transposed.push_back(&n);
    }
    ASSERT_EQ(transposed.size(), 1u);
    const ir::Node& n = *transposed[0];
    EXPECT_EQ(n.source_op, "Convolution2DTransposeBias");
    EXPECT_EQ(n.attrs.get_ints("strides"), (std::vector<std::int64_t>{2, 2}));
    EXPECT_EQ(n.attrs.get_ints("kernel_shape"), (std::vector<std::int64_t>{2, 2}));
    EXPECT_EQ(n.attrs.get_ints("pads"), (std::vector<std::int64_t>{0, 0, 0, 0}));
    EXPECT_EQ(n.attrs.get_int("group", -1), 1);
    EXPECT_EQ(n.attrs.get_string("weight_layout", ""), "OHWI");
    ASSERT_EQ(n.inputs.size(), 3u);
    EXPECT_EQ(g.tensors[n.inputs[0]].shape.rank(), 4u);        // data first
    EXPECT_EQ(g.tensors[n.inputs[1]].shape.dims[0].value, 1);  // O of OHWI
    ASSERT_EQ(n.outputs.size(), 1u);
    EXPECT_EQ(g.tensors[n.outputs[0]].shape, out_shape);
  }
}

TEST(TfliteImporter, InputShapeOverride) {
  const fs::path path = mediapipe_model("face_detection_short_range.tflite");
  SKIP_IF_MISSING(path);
  ImportOptions options;
  options.input_shapes["input"] = {4, 128, 128, 3};
  const ir::Graph g = load_tflite(path, options);
  EXPECT_EQ(g.tensors[g.inputs[0]].shape, ir::Shape::of({4, 128, 128, 3}));
  ASSERT_EQ(g.meta.warnings.size(), 1u);
  EXPECT_NE(g.meta.warnings[0].find("not re-inferred"), std::string::npos);

  ImportOptions unknown;
  unknown.input_shapes["images"] = {1, 128, 128, 3};
  try {
    load_tflite(path, unknown);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'input'"), std::string::npos) << e.what();
  }

  ImportOptions wrong_rank;
  wrong_rank.input_shapes["input"] = {1, 128, 128};
  try {
    load_tflite(path, wrong_rank);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
}

// ---------------------------------------------------------------------------
// Hostile bytes
// ---------------------------------------------------------------------------

TEST(TfliteImporterHostile, TooShort) {
  const std::vector<std::byte> empty;
  EXPECT_FALSE(loads(empty));
  const std::vector<std::byte> seven(7, std::byte{0});
  EXPECT_FALSE(loads(seven));
  std::vector<std::byte> header(8, std::byte{0});
  std::memcpy(header.data() + 4, "TFL3", 4);
  EXPECT_FALSE(loads(header));
  try {
    load_tflite_bytes(seven, "seven.tflite");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadModel);
    EXPECT_EQ(e.file(), "seven.tflite");
  }
}

TEST(TfliteImporterHostile, RandomBytes) {
  std::mt19937 rng(20240611);
  for (int trial = 0; trial < 100; ++trial) {
    const std::size_t size = std::uniform_int_distribution<std::size_t>(0, trial < 50 ? 64 : 8192)(rng);
    std::vector<std::byte> bytes(size);
    for (std::byte& b : bytes) b = static_cast<std::byte>(rng() & 0xff);
    // Half the trials carry the identifier, so the verifier (not the header check) rejects them.
    if (trial % 2 == 0 && size >= 8) std::memcpy(bytes.data() + 4, "TFL3", 4);
    SCOPED_TRACE("trial " + std::to_string(trial) + ", " + std::to_string(size) + " bytes");
    loads(bytes);
  }
}

TEST(TfliteImporterHostile, TruncatedModel) {
  const fs::path path = mediapipe_model("face_detection_short_range.tflite");
  SKIP_IF_MISSING(path);
  const std::vector<std::byte> full = read_file(path);
  ASSERT_TRUE(loads(full));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    const std::size_t cut = std::uniform_int_distribution<std::size_t>(0, full.size() - 1)(rng);
    const std::vector<std::byte> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
    SCOPED_TRACE("truncated at " + std::to_string(cut));
    EXPECT_FALSE(loads(prefix));  // the root offset or a vector always runs past the end
  }
}

TEST(TfliteImporterHostile, FlippedBytes) {
  const fs::path path = mediapipe_model("face_detection_short_range.tflite");
  SKIP_IF_MISSING(path);
  const std::vector<std::byte> original = read_file(path);
  // Most of the file is weights, where a flipped byte is harmless; aim half of the
  // flips at the structure (everything outside constant payloads).
  const ir::Graph g = load_tflite_bytes(original, "original");
  std::vector<char> payload(original.size(), 0);
  for (const ir::Tensor& t : g.tensors) {
    if (t.data.empty()) continue;
    const auto begin = static_cast<std::size_t>(t.data.data() - original.data());
    std::fill(payload.begin() + static_cast<std::ptrdiff_t>(begin),
              payload.begin() + static_cast<std::ptrdiff_t>(begin + t.data.size()), 1);
  }
  std::vector<std::size_t> structure;
  for (std::size_t i = 0; i < payload.size(); ++i) {
    if (!payload[i]) structure.push_back(i);
  }
  ASSERT_FALSE(structure.empty());

  std::mt19937 rng(1234);
  int rejected = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::byte> bytes = original;
    const std::size_t pos = trial % 2 == 0
                                ? structure[std::uniform_int_distribution<std::size_t>(0, structure.size() - 1)(rng)]
                                : std::uniform_int_distribution<std::size_t>(0, bytes.size() - 1)(rng);
    const auto mask = static_cast<std::byte>(std::uniform_int_distribution<int>(1, 255)(rng));
    bytes[pos] ^= mask;
    SCOPED_TRACE("byte " + std::to_string(pos) + " ^= " + std::to_string(static_cast<int>(mask)));
    if (!loads(bytes)) ++rejected;
  }
  EXPECT_GT(rejected, 0);
}

// ---------------------------------------------------------------------------
// Small models built with the generated API
// ---------------------------------------------------------------------------

// One CONV_2D (or another op) over tensors: 0 input [1,4,4,2], 1 weights [3,1,1,2]
// float32 in buffer 1, 2 output [1,4,4,3]. Each field can be corrupted.
struct TinyModel {
  std::vector<std::int32_t> input_shape{1, 4, 4, 2};
  std::vector<std::int32_t> weight_shape{3, 1, 1, 2};
  std::vector<std::int32_t> output_shape{1, 4, 4, 3};
  std::size_t weight_bytes = 24;
  // External weights (>2 GiB layout): offset and size from the start of the file.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> weight_external;
  std::vector<std::int32_t> op_inputs{0, 1, -1};
  std::vector<std::int32_t> op_outputs{2};
  std::vector<std::int32_t> graph_inputs{0};
  std::vector<std::int32_t> graph_outputs{2};
  std::uint32_t opcode_index = 0;
  tflite::BuiltinOperator code = tflite::BuiltinOperator::CONV_2D;
  std::string custom_code;
  std::vector<std::uint8_t> custom_options;
  bool with_options = true;
  bool with_subgraph = true;
  bool with_identifier = true;
  std::vector<std::int32_t> extra_tensor_shape;  // appended as tensor 3 when non-empty

  std::vector<std::byte> build() const {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<tflite::Buffer>> buffers;
    buffers.push_back(tflite::CreateBuffer(fbb));
    if (weight_external) {
      buffers.push_back(tflite::CreateBuffer(fbb, 0, weight_external->first, weight_external->second));
    } else {
      const std::vector<std::uint8_t> weights(weight_bytes, 0x3c);
      buffers.push_back(tflite::CreateBufferDirect(fbb, &weights));
    }

    std::vector<flatbuffers::Offset<tflite::Tensor>> tensors;
    tensors.push_back(tflite::CreateTensorDirect(fbb, &input_shape, tflite::TensorType::FLOAT32, 0, "x"));
    tensors.push_back(tflite::CreateTensorDirect(fbb, &weight_shape, tflite::TensorType::FLOAT32, 1, "w"));
    tensors.push_back(tflite::CreateTensorDirect(fbb, &output_shape, tflite::TensorType::FLOAT32, 0, "y"));
    if (!extra_tensor_shape.empty()) {
      tensors.push_back(tflite::CreateTensorDirect(fbb, &extra_tensor_shape, tflite::TensorType::INT32, 0, "extra"));
    }

    flatbuffers::Offset<void> options;
    auto options_type = tflite::BuiltinOptions::NONE;
    if (with_options && code == tflite::BuiltinOperator::CONV_2D) {
      options =
          tflite::CreateConv2DOptions(fbb, tflite::Padding::SAME, 1, 1, tflite::ActivationFunctionType::RELU6).Union();
      options_type = tflite::BuiltinOptions::Conv2DOptions;
    } else if (with_options && code == tflite::BuiltinOperator::TRANSPOSE_CONV) {
      options = tflite::CreateTransposeConvOptions(fbb, tflite::Padding::SAME, 2, 2).Union();
      options_type = tflite::BuiltinOptions::TransposeConvOptions;
    }
    std::vector<flatbuffers::Offset<tflite::Operator>> operators;
    operators.push_back(tflite::CreateOperatorDirect(fbb, opcode_index, &op_inputs, &op_outputs, options_type, options,
                                                     custom_options.empty() ? nullptr : &custom_options));
    std::vector<flatbuffers::Offset<tflite::SubGraph>> subgraphs;
    if (with_subgraph) {
      subgraphs.push_back(
          tflite::CreateSubGraphDirect(fbb, &tensors, &graph_inputs, &graph_outputs, &operators, "main"));
    }
    std::vector<flatbuffers::Offset<tflite::OperatorCode>> codes;
    const auto deprecated = static_cast<std::int8_t>(std::min<std::int32_t>(static_cast<std::int32_t>(code), 127));
    codes.push_back(tflite::CreateOperatorCodeDirect(fbb, deprecated,
                                                     custom_code.empty() ? nullptr : custom_code.c_str(), 1, code));
    const auto model = tflite::CreateModelDirect(fbb, 3, &codes, &subgraphs, "tiny", &buffers);
    if (with_identifier) {
      tflite::FinishModelBuffer(fbb, model);
    } else {
      fbb.Finish(model);
    }
    const auto* p = reinterpret_cast<const std::byte*>(fbb.GetBufferPointer());
    return {p, p + fbb.GetSize()};
  }
};

// Loads `bytes` expecting an Error whose message contains every one of `needles`.
void expect_error(const std::vector<std::byte>& bytes, std::initializer_list<const char*> needles,
                  ErrorKind kind = ErrorKind::kBadModel) {
  try {
    load_tflite_bytes(bytes, "tiny.tflite");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const char* needle : needles) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what() << " lacks " << needle;
    }
  }
}

TEST(TfliteImporterBuilt, ValidTinyConv) {
  const std::vector<std::byte> bytes = TinyModel{}.build();
  const ir::Graph g = load_tflite_bytes(bytes, "tiny.tflite");
  ASSERT_EQ(g.nodes.size(), 1u);
  const ir::Node& n = g.nodes[0];
  EXPECT_EQ(n.op, Op::Conv);
  EXPECT_EQ(n.source_op, "CONV_2D");
  EXPECT_EQ(n.name, "y");
  EXPECT_EQ(n.inputs, (std::vector<int>{0, 1, -1}));  // omitted bias stays -1
  EXPECT_EQ(n.attrs.get_ints("kernel_shape"), (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(n.attrs.get_ints("pads"), (std::vector<std::int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(n.attrs.get_int("group", -1), 1);
  EXPECT_EQ(n.attrs.get_string("fused_activation", ""), "relu6");
  EXPECT_EQ(g.tensors[0].kind, ir::TensorKind::kInput);
  EXPECT_EQ(g.tensors[1].kind, ir::TensorKind::kConstant);
  EXPECT_EQ(g.tensors[2].kind, ir::TensorKind::kOutput);
  EXPECT_EQ(g.tensors[1].data.size(), 24u);
  EXPECT_TRUE(g.tensors[1].data.data() >= bytes.data() && g.tensors[1].data.data() + 24 <= bytes.data() + bytes.size());
  EXPECT_EQ(g.meta.producer, "tiny");
  EXPECT_EQ(g.meta.graph_name, "main");
}

TEST(TfliteImporterBuilt, MisalignedBytesAreCopiedOnce) {
  const std::vector<std::byte> bytes = TinyModel{}.build();
  std::vector<std::byte> storage(bytes.size() + 1);
  std::copy(bytes.begin(), bytes.end(), storage.begin() + 1);
  const std::span<const std::byte> misaligned(storage.data() + 1, bytes.size());
  const ir::Graph g = load_tflite_bytes(misaligned, "tiny.tflite");
  ASSERT_EQ(g.tensors[1].data.size(), 24u);
  EXPECT_EQ(std::to_integer<int>(g.tensors[1].data[0]), 0x3c);
  // Flatbuffer scalars are read in place, so the importer works on an aligned copy.
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(g.tensors[1].data.data()) % 4, 0u);
}

TEST(TfliteImporterBuilt, ExternalBufferInsideTheFile) {
  TinyModel m;
  m.weight_external = std::make_pair(std::uint64_t{2}, std::uint64_t{24});  // placeholder, same size
  const std::size_t flatbuffer_size = m.build().size();
  const std::size_t offset = (flatbuffer_size + 15) / 16 * 16;
  m.weight_external = std::make_pair(std::uint64_t{offset}, std::uint64_t{24});
  std::vector<std::byte> bytes = m.build();
  ASSERT_EQ(bytes.size(), flatbuffer_size);
  bytes.resize(offset + 24, std::byte{0x42});
  const ir::Graph g = load_tflite_bytes(bytes, "tiny.tflite");
  EXPECT_EQ(g.tensors[1].kind, ir::TensorKind::kConstant);
  EXPECT_EQ(g.tensors[1].data.data(), bytes.data() + offset);
  EXPECT_EQ(g.tensors[1].data.size(), 24u);
}

TEST(TfliteImporterBuilt, ExternalBufferOutsideTheFile) {
  TinyModel m;
  m.weight_external = std::make_pair(std::uint64_t{1} << 40, std::uint64_t{24});
  expect_error(m.build(), {"buffer 1", "outside the file"});
  m.weight_external = std::make_pair(std::uint64_t{64}, ~std::uint64_t{0} - 8);  // offset + size wraps
  expect_error(m.build(), {"buffer 1", "outside the file"});
}

TEST(TfliteImporterBuilt, OperatorInputOutOfRange) {
  TinyModel m;
  m.op_inputs = {0, 99, -1};
  expect_error(m.build(), {"operator 0 (CONV_2D)", "inputs[1]", "99"});
  m.op_inputs = {0, 1, -2};
  expect_error(m.build(), {"operator 0 (CONV_2D)", "inputs[2]"});
  m.op_inputs = {0, 1, -1};
  m.op_outputs = {7};
  expect_error(m.build(), {"operator 0 (CONV_2D)", "outputs[0]"});
  m.op_outputs = {2};
  m.op_inputs = {0};  // filter missing
  expect_error(m.build(), {"operator 0 (CONV_2D)", "at least 2 inputs"});
}

TEST(TfliteImporterBuilt, GraphInputOutOfRange) {
  TinyModel m;
  m.graph_inputs = {5};
  expect_error(m.build(), {"subgraph 0", "inputs[0]"});
  m.graph_inputs = {-1};
  expect_error(m.build(), {"subgraph 0", "inputs[0]"});
}

TEST(TfliteImporterBuilt, OpcodeIndexOutOfRange) {
  TinyModel m;
  m.opcode_index = 5;
  expect_error(m.build(), {"operator 0", "opcode_index 5"});
}

TEST(TfliteImporterBuilt, NegativeDimension) {
  TinyModel m;
  m.input_shape = {1, -4, 4, 2};
  expect_error(m.build(), {"tensor 0 'x'", "negative"});
}

TEST(TfliteImporterBuilt, ElementCountOverflow) {
  TinyModel m;
  // (2^31-1)^2 * 2 > 2^62.
  m.extra_tensor_shape = {0x7fffffff, 0x7fffffff, 2};
  expect_error(m.build(), {"tensor 3 'extra'", "overflows"});
}

TEST(TfliteImporterBuilt, BufferLengthMismatch) {
  TinyModel m;
  m.weight_bytes = 20;
  expect_error(m.build(), {"tensor 1 'w'", "20 bytes", "needs 24"});
}

TEST(TfliteImporterBuilt, MissingSubgraphAndIdentifier) {
  TinyModel no_subgraph;
  no_subgraph.with_subgraph = false;
  expect_error(no_subgraph.build(), {"subgraph"});
  TinyModel no_identifier;
  no_identifier.with_identifier = false;
  expect_error(no_identifier.build(), {"TFL3"});
}

TEST(TfliteImporterBuilt, ConvChannelsMustDivide) {
  TinyModel m;
  m.input_shape = {1, 4, 4, 3};  // 3 input channels, filter has 2
  expect_error(m.build(), {"operator 0 (CONV_2D)", "not a multiple"});
}

// The shape contracts of ir::validate hold for TFLite files too (OHWI weights, NHWC).
TEST(TfliteImporterBuilt, ConvBiasAndGroupContracts) {
  TinyModel bias;
  bias.extra_tensor_shape = {5};  // 5 biases for 3 output channels
  bias.op_inputs = {0, 1, 3};
  bias.graph_inputs = {0, 3};
  expect_error(bias.build(), {"tiny.tflite", "'y' (CONV_2D)", "bias", "3 output channels"});
  TinyModel groups;
  groups.input_shape = {1, 4, 4, 4};  // group 2 from 4 input channels and 2 per filter
  expect_error(groups.build(), {"3 output channels", "not divisible by group 2"});
}

TEST(TfliteImporterBuilt, AddOperandsMustBroadcast) {
  TinyModel add;
  add.code = tflite::BuiltinOperator::ADD;
  add.extra_tensor_shape = {1, 4, 4, 5};  // against x [1,4,4,2]
  add.op_inputs = {0, 3};
  add.graph_inputs = {0, 3};
  add.output_shape = {1, 4, 4, 5};
  expect_error(add.build(), {"tiny.tflite", "'y' (ADD)", "do not broadcast", "2 vs 5"});
  add.extra_tensor_shape = {1, 1, 1, 2};
  add.output_shape = {1, 4, 4, 2};
  EXPECT_NO_THROW(load_tflite_bytes(add.build(), "tiny.tflite"));
}

TEST(TfliteImporterBuilt, TransposeConvInputsAreReordered) {
  TinyModel m;
  m.code = tflite::BuiltinOperator::TRANSPOSE_CONV;
  m.weight_shape = {3, 2, 2, 2};
  m.weight_bytes = 3 * 2 * 2 * 2 * 4;
  m.output_shape = {1, 8, 8, 3};
  m.extra_tensor_shape = {4};  // tensor 3: output_shape (fed as a graph input here)
  m.op_inputs = {3, 1, 0};     // file order: output_shape, weights, input
  m.graph_inputs = {0, 3};
  const ir::Graph g = load_tflite_bytes(m.build(), "tiny.tflite");
  ASSERT_EQ(g.nodes.size(), 1u);
  const ir::Node& n = g.nodes[0];
  EXPECT_EQ(n.op, Op::ConvTranspose);
  EXPECT_EQ(n.source_op, "TRANSPOSE_CONV");
  EXPECT_EQ(n.inputs, (std::vector<int>{0, 1, -1, 3}));  // input, weights, no bias, output_shape
  EXPECT_EQ(n.attrs.get_ints("strides"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(n.attrs.get_ints("kernel_shape"), (std::vector<std::int64_t>{2, 2}));
  // (4-1)*2 + 2 - 8 = 0: no padding.
  EXPECT_EQ(n.attrs.get_ints("pads"), (std::vector<std::int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(n.attrs.get_int("group", -1), 1);

  m.with_options = false;
  expect_error(m.build(), {"operator 0 (TRANSPOSE_CONV)", "TransposeConvOptions"});
  m.with_options = true;
  m.op_inputs = {3, 1};
  expect_error(m.build(), {"operator 0 (TRANSPOSE_CONV)", "at least 3 inputs"});
}

TEST(TfliteImporterBuilt, MediaPipeTransposedConvOptions) {
  TinyModel m;
  m.code = tflite::BuiltinOperator::CUSTOM;
  m.custom_code = "Convolution2DTransposeBias";
  m.output_shape = {1, 8, 8, 3};
  m.weight_shape = {3, 2, 2, 2};
  m.weight_bytes = 3 * 2 * 2 * 2 * 4;
  m.op_inputs = {0, 1};
  // padding SAME (1), stride_width 2, stride_height 2.
  m.custom_options = {1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0};
  const std::vector<std::byte> bytes = m.build();
  const ir::Graph g = load_tflite_bytes(bytes, "tiny.tflite");
  ASSERT_EQ(g.nodes.size(), 1u);
  const ir::Node& n = g.nodes[0];
  EXPECT_EQ(n.op, Op::ConvTranspose);
  EXPECT_EQ(n.source_op, "Convolution2DTransposeBias");
  EXPECT_EQ(n.inputs, (std::vector<int>{0, 1, -1}));
  EXPECT_EQ(n.attrs.get_ints("strides"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(n.attrs.get_ints("kernel_shape"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(n.attrs.get_ints("pads"), (std::vector<std::int64_t>{0, 0, 0, 0}));

  m.custom_options = {1, 0, 0, 0, 2, 0, 0, 0};
  expect_error(m.build(), {"Convolution2DTransposeBias", "8 bytes; expected 12"});
  m.custom_options = {7, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0};
  expect_error(m.build(), {"Convolution2DTransposeBias", "padding 7"});
  m.custom_options = {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0};
  expect_error(m.build(), {"Convolution2DTransposeBias", "strides must be >= 1"});
}

TEST(TfliteImporterBuilt, UnknownOpsAreKeptAsOther) {
  TinyModel m;
  m.code = tflite::BuiltinOperator::CUSTOM;
  m.custom_code = "MyFancyOp";
  const ir::Graph g = load_tflite_bytes(m.build(), "tiny.tflite");
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op, Op::Other);
  EXPECT_EQ(g.nodes[0].source_op, "MyFancyOp");
  ASSERT_EQ(g.meta.warnings.size(), 1u);
  EXPECT_EQ(g.meta.warnings[0], "unknown op MyFancyOp (1 nodes)");

  TinyModel builtin;
  builtin.code = tflite::BuiltinOperator::SVDF;
  const ir::Graph h = load_tflite_bytes(builtin.build(), "tiny.tflite");
  EXPECT_EQ(h.nodes[0].op, Op::Other);
  EXPECT_EQ(h.nodes[0].source_op, "SVDF");
}

}  // namespace
}  // namespace infercast::import
