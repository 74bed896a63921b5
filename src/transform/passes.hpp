// Factories of the passes in the pass table (src/transform/registry.cpp), one source
// file each. Each throws Error(kInvalidArgument) naming `spec` for a bad argument.
#pragma once

#include <memory>
#include <string>

#include "infercast/transform/transform.hpp"
#include "transform/editor.hpp"

namespace infercast::transform {

std::unique_ptr<Pass> make_tile_matmul(const std::string& argument, const std::string& spec);
std::unique_ptr<Pass> make_fold_bn(const std::string& argument, const std::string& spec);
std::unique_ptr<Pass> make_fold_pad(const std::string& argument, const std::string& spec);
std::unique_ptr<Pass> make_cleanup(const std::string& argument, const std::string& spec);
std::unique_ptr<Pass> make_static_shapes(const std::string& argument, const std::string& spec);
std::unique_ptr<Pass> make_fp16(const std::string& argument, const std::string& spec);
std::unique_ptr<Pass> make_quantize(const std::string& argument, const std::string& spec);

// Shared by cleanup and static-shapes: replaces nodes whose integer outputs are
// computable now (Shape of a static tensor, and Gather, Unsqueeze, Squeeze, Concat,
// Cast, Add, Sub, Mul, Div, Slice over such values) by constants. Returns the number
// of nodes folded; the caller commits.
std::uint64_t fold_shape_arithmetic(Editor& edit);

// The loop of the folding passes: calls `fold` on every node of type `op` present when
// the pass began; each success is a rewrite, each refusal a note "node 'N' left alone:
// <why>". Commits the edits when anything was rewritten.
using FoldOne = bool (*)(Editor& edit, int node, std::string& why);
PassResult fold_each(ir::Graph& graph, ir::Op op, FoldOne fold);

}  // namespace infercast::transform
