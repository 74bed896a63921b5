#include "import/onnx/onnx_schemas.hpp"

#include <onnx/defs/operator_sets.h>
#include <onnx/defs/operator_sets_ml.h>
#include <onnx/defs/operator_sets_preview.h>
#include <onnx/defs/operator_sets_training.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace infercast::import::onnx_schemas {
namespace {

struct Definition {
  const char* domain;
  const char* name;
  int version;
  // Calls libonnx's GetOpSchema<T>() through the PLT, so that the 444 symbols bind
  // when first called, not when the program loads.
  ::onnx::OpSchema (*make)();
};

// The operator set names of libonnx's schema class names, and their domains.
constexpr const char* kDomainOnnx = "";
constexpr const char* kDomainOnnxML = "ai.onnx.ml";
constexpr const char* kDomainOnnxTraining = "ai.onnx.training";
constexpr const char* kDomainOnnxPreview = "ai.onnx.preview.training";

#define INFERCAST_ONNX_SCHEMA(set, ver, op)                                                             \
  Definition{kDomain##set, #op, ver, []() -> ::onnx::OpSchema {                                         \
               return ::onnx::GetOpSchema<::onnx::ONNX_OPERATOR_SET_SCHEMA_CLASS_NAME(set, ver, op)>(); \
             }},
const Definition kDefinitions[] = {
#include "onnx_schema_list.inc"
};
#undef INFERCAST_ONNX_SCHEMA

// One definition's schema, built on first use.
struct Slot {
  const Definition* definition = nullptr;
  std::once_flag built;
  const ::onnx::OpSchema* schema = nullptr;
  std::unique_ptr<::onnx::OpSchema> owned;
};

class Index {
 public:
  Index() : slots_(std::size(kDefinitions)) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].definition = &kDefinitions[i];
      by_key_[key(kDefinitions[i].domain, kDefinitions[i].name)].push_back(&slots_[i]);
    }
    for (auto& [k, versions] : by_key_) {
      std::sort(versions.begin(), versions.end(),
                [](const Slot* a, const Slot* b) { return a->definition->version < b->definition->version; });
    }
  }

  const ::onnx::OpSchema* find(const std::string& name, int max_version, const std::string& domain) {
    const auto it = by_key_.find(key(domain, name));
    if (it == by_key_.end()) return nullptr;
    // The newest version not above max_version, as OpSchemaRegistry::Schema picks.
    Slot* chosen = nullptr;
    for (Slot* s : it->second) {
      if (s->definition->version > max_version) break;
      chosen = s;
    }
    if (chosen == nullptr) return nullptr;
    std::call_once(chosen->built, [chosen] { build(*chosen); });
    return chosen->schema;
  }

 private:
  static std::string key(const std::string& domain, const std::string& name) {
    std::string k;
    k.reserve(domain.size() + name.size() + 1);
    k.append(domain).push_back('\n');
    k.append(name);
    return k;
  }

  static void build(Slot& slot) {
    const Definition& d = *slot.definition;
    auto schema = std::make_unique<::onnx::OpSchema>(d.make());
    // As OpSchemaRegistry's registration does before storing a schema.
    schema->Finalize();
    if (schema->Name() == d.name && schema->domain() == d.domain && schema->SinceVersion() == d.version) {
      slot.owned = std::move(schema);
      slot.schema = slot.owned.get();
    } else {
      slot.schema = ::onnx::OpSchemaRegistry::Schema(d.name, d.version, d.domain);
    }
  }

  std::vector<Slot> slots_;
  std::unordered_map<std::string, std::vector<Slot*>> by_key_;
};

Index& index() {
  static Index instance;
  return instance;
}

}  // namespace

const ::onnx::OpSchema* find(const std::string& name, int max_inclusive_version, const std::string& domain) {
  return index().find(name, max_inclusive_version, domain);
}

std::size_t definition_count() {
  return std::size(kDefinitions);
}

}  // namespace infercast::import::onnx_schemas
