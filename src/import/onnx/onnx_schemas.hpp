// ONNX operator schemas, built one at a time when a model first uses them.
//
// libonnx's OpSchemaRegistry builds every version of every operator (444 schemas in
// Debian's libonnx 1.12, which has no switch to build fewer) on the first lookup: about
// 42 M instructions, a third of a whole `infercast analyze resnet50`. find() answers the
// same question from the same definitions — libonnx's GetOpSchema<T>() specializations,
// listed from its operator_sets headers at configure time (cmake/onnx_schema_list.cmake)
// — but builds only the schema asked for, finalized as the registry finalizes it.
//
// Contract: find(name, version, domain) returns what
// ::onnx::OpSchemaRegistry::Schema(name, version, domain) returns (the newest version
// not above `version`; nullptr when there is none), as a pointer valid for the life of
// the process. Thread-safe. A definition whose built schema does not carry the name,
// domain and version it was listed under is answered by libonnx's registry instead.
#pragma once

#include <onnx/defs/schema.h>

#include <cstddef>
#include <string>

namespace infercast::import::onnx_schemas {

const ::onnx::OpSchema* find(const std::string& name, int max_inclusive_version, const std::string& domain);

// How many definitions were listed at build time (for tests).
std::size_t definition_count();

// find() as an ISchemaRegistry, for ONNX shape inference and the checker.
class LazyRegistry final : public ::onnx::ISchemaRegistry {
 public:
  const ::onnx::OpSchema* GetSchema(const std::string& key, int max_inclusive_version,
                                    const std::string& domain) const override {
    return find(key, max_inclusive_version, domain);
  }
};

}  // namespace infercast::import::onnx_schemas
