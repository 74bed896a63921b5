// The op shape contracts every importer enforces (include/infercast/ir/validate.hpp):
// small ONNX models built here, each breaking one rule, are refused with
// Error(kBadModel) naming the node, the values and the rule; their valid siblings load.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <cstring>
#include <string>
#include <vector>

#include "infercast/base/error.hpp"
#include "infercast/import/import.hpp"

namespace infercast::import {
namespace {

// A one-node model: graph inputs (float, static shapes), initializers, one output.
class OneNode {
 public:
  OneNode(const std::string& op, int opset = 13) {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(opset);
    node_ = model_.mutable_graph()->add_node();
    node_->set_op_type(op);
    node_->set_name("n");
    node_->add_output("y");
    model_.mutable_graph()->add_output()->set_name("y");
  }

  OneNode& input(const std::string& name, const std::vector<std::int64_t>& dims) {
    auto* v = model_.mutable_graph()->add_input();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(::onnx::TensorProto::FLOAT);
    for (std::int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
    node_->add_input(name);
    return *this;
  }

  // A float initializer of zeros.
  OneNode& weight(const std::string& name, const std::vector<std::int64_t>& dims) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    std::int64_t n = 1;
    for (std::int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    t->set_raw_data(std::string(static_cast<std::size_t>(n) * 4, '\0'));
    node_->add_input(name);
    return *this;
  }

  OneNode& ints(const std::string& name, const std::vector<std::int64_t>& values) {
    auto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(static_cast<std::int64_t>(values.size()));
    std::string raw(values.size() * 8, '\0');
    std::memcpy(raw.data(), values.data(), raw.size());
    t->set_raw_data(raw);
    node_->add_input(name);
    return *this;
  }

  OneNode& attr(const std::string& name, std::int64_t value) {
    auto* a = node_->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(value);
    return *this;
  }

  std::string bytes() const { return model_.SerializeAsString(); }

 private:
  ::onnx::ModelProto model_;
  ::onnx::NodeProto* node_ = nullptr;
};

ir::Graph load(const OneNode& m) {
  const std::string bytes = m.bytes();
  return load_onnx_bytes(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), "m.onnx");
}

// Refused with kBadModel naming the file and node 'n'; the reason contains each needle.
::testing::AssertionResult refused(const OneNode& m, const std::vector<std::string>& needles) {
  try {
    load(m);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (e.kind() != ErrorKind::kBadModel) return ::testing::AssertionFailure() << "wrong kind: " << what;
    if (e.file() != "m.onnx" || e.where().find("'n'") == std::string::npos) {
      return ::testing::AssertionFailure() << "does not name the file and node: " << what;
    }
    for (const auto& needle : needles) {
      if (what.find(needle) == std::string::npos) {
        return ::testing::AssertionFailure() << "lacks '" << needle << "': " << what;
      }
    }
    return ::testing::AssertionSuccess() << what;
  }
  return ::testing::AssertionFailure() << "accepted";
}

::testing::AssertionResult accepted(const OneNode& m) {
  try {
    load(m);
  } catch (const Error& e) {
    return ::testing::AssertionFailure() << e.what();
  }
  return ::testing::AssertionSuccess();
}

TEST(ModelChecks, ConvGroupMustDivideChannels) {
  // The case: group 7 on 3 channels with a 4x3x3x3 weight.
  EXPECT_TRUE(refused(OneNode("Conv").input("x", {1, 3, 8, 8}).weight("w", {4, 3, 3, 3}).attr("group", 7),
                      {"3 channels", "group 7", "expects 21", "input channels = weight input channels x group"}));
  EXPECT_TRUE(refused(OneNode("Conv").input("x", {1, 3, 8, 8}).weight("w", {4, 2, 3, 3}), {"3 channels", "expects 2"}));
  EXPECT_TRUE(refused(OneNode("Conv").input("x", {1, 4, 8, 8}).weight("w", {3, 2, 3, 3}).attr("group", 2),
                      {"3 output channels", "not divisible by group 2"}));
  EXPECT_TRUE(refused(OneNode("Conv").input("x", {1, 3, 8, 8}).weight("w", {4, 3, 3, 3}).weight("b", {5}),
                      {"bias", "4 output channels"}));
  EXPECT_TRUE(accepted(OneNode("Conv").input("x", {1, 3, 8, 8}).weight("w", {4, 3, 3, 3}).weight("b", {4})));
  EXPECT_TRUE(accepted(OneNode("Conv").input("x", {1, 3, 8, 8}).weight("w", {6, 1, 3, 3}).attr("group", 3)));
}

TEST(ModelChecks, ConvTransposeChannels) {
  EXPECT_TRUE(refused(OneNode("ConvTranspose").input("x", {1, 3, 8, 8}).weight("w", {4, 2, 3, 3}),
                      {"3 channels", "expects 4"}));
  EXPECT_TRUE(accepted(OneNode("ConvTranspose").input("x", {1, 4, 8, 8}).weight("w", {4, 1, 3, 3}).attr("group", 2)));
}

TEST(ModelChecks, MatMulAndGemmInnerDimensions) {
  EXPECT_TRUE(refused(OneNode("MatMul").input("a", {2, 3}).weight("b", {4, 5}), {"inner dimensions", "3", "4"}));
  EXPECT_TRUE(refused(OneNode("MatMul").input("a", {2, 2, 3}).weight("b", {3, 3, 5}), {"batch dimensions"}));
  EXPECT_TRUE(accepted(OneNode("MatMul").input("a", {7, 2, 3}).weight("b", {3, 5})));
  EXPECT_TRUE(refused(OneNode("Gemm").input("a", {2, 3}).weight("b", {4, 5}), {"inner dimensions", "K = 3", "K = 4"}));
  EXPECT_TRUE(accepted(OneNode("Gemm").input("a", {2, 3}).weight("b", {5, 3}).attr("transB", 1)));
  EXPECT_TRUE(refused(OneNode("Gemm").input("a", {2, 3}).weight("b", {3, 5}).weight("c", {4}), {"does not broadcast"}));
}

TEST(ModelChecks, ConcatAxesAndOtherDimensions) {
  EXPECT_TRUE(refused(OneNode("Concat").input("a", {1, 2, 3}).input("b", {1, 2, 4}).attr("axis", 1),
                      {"differ in dimension 2", "3 vs 4"}));
  EXPECT_TRUE(refused(OneNode("Concat").input("a", {1, 2}).input("b", {1, 2}).attr("axis", 2), {"axis 2"}));
  EXPECT_TRUE(refused(OneNode("Concat").input("a", {1, 2}).input("b", {1, 2, 1}).attr("axis", 0), {"different ranks"}));
  EXPECT_TRUE(accepted(OneNode("Concat").input("a", {1, 2, 3}).input("b", {1, 5, 3}).attr("axis", -2)));
}

TEST(ModelChecks, Broadcasting) {
  EXPECT_TRUE(refused(OneNode("Add").input("a", {1, 3}).input("b", {1, 4}), {"do not broadcast", "3 vs 4"}));
  EXPECT_TRUE(refused(OneNode("Mul").input("a", {2, 3, 4, 4}).weight("s", {3, 1}), {"do not broadcast"}));
  EXPECT_TRUE(accepted(OneNode("Mul").input("a", {2, 3, 4, 4}).weight("s", {3, 1, 1})));
  // Before opset 7 Add broadcast by its `axis` attribute: not numpy's rules, not checked.
  EXPECT_TRUE(accepted(OneNode("Add", 6).input("a", {2, 3, 4}).weight("b", {3}).attr("broadcast", 1).attr("axis", 1)));
}

TEST(ModelChecks, ReshapeSingleInferredDimension) {
  EXPECT_TRUE(refused(OneNode("Reshape").input("x", {2, 6}).ints("s", {-1, -1}), {"2 entries of -1"}));
  EXPECT_TRUE(refused(OneNode("Reshape").input("x", {2, 6}).ints("s", {5, -1}), {"cannot hold the 12 elements"}));
  EXPECT_TRUE(refused(OneNode("Reshape").input("x", {2, 6}).ints("s", {5, 2}), {"cannot hold the 12 elements"}));
  EXPECT_TRUE(accepted(OneNode("Reshape").input("x", {2, 6}).ints("s", {0, -1, 2})));
  EXPECT_TRUE(accepted(OneNode("Reshape").input("x", {2, 6}).ints("s", {-1})));
}

TEST(ModelChecks, BatchNormParametersPerChannel) {
  auto bn = [](std::int64_t mean_length) {
    return OneNode("BatchNormalization")
        .input("x", {1, 3, 4, 4})
        .weight("scale", {3})
        .weight("bias", {3})
        .weight("mean", {mean_length})
        .weight("var", {3});
  };
  EXPECT_TRUE(refused(bn(4), {"mean 'mean' 4", "3 channels"}));
  EXPECT_TRUE(accepted(bn(3)));
}

}  // namespace
}  // namespace infercast::import
