// The measurement database: SQLite (WAL, transactions, a versioned schema with
// migrations, parameterized statements only). Typed reads and writes; nothing
// outside this room sees SQL.
//
// A finished measurement is committed before the next one starts, so a killed bench
// run loses at most the measurement in flight.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infercast/measure/stats.hpp"

namespace infercast::store {

// The context every measurement carries: which runtime, how configured, where.
struct Profile {
  std::int64_t id = 0;
  std::string name;     // unique: "xnnpack-2t", "pixel7-gpu"
  std::string runtime;  // "xnnpack", "ort", "benchmark_model"
  std::string runtime_version;
  int threads = 0;
  std::string precision = "fp32";
  std::string device;  // device / CPU model
  std::string machine_id;
  std::string hostname;
  std::string created_utc;                          // ISO 8601
  nlohmann::json extra = nlohmann::json::object();  // e.g. measured fusion rules, ceilings
};

struct Kernel {
  std::int64_t id = 0;
  std::string type;
  std::string key;        // bench::KernelSpec::key()
  nlohmann::json params;  // bench::to_json(spec)
  nlohmann::json features = nlohmann::json::object();
};

struct Measurement {
  std::int64_t id = 0;
  std::int64_t profile_id = 0;
  std::int64_t kernel_id = 0;
  measure::Stats stats;  // milliseconds
  int remeasured = 0;    // extra attempts the CV target took
  // The runtime's per-layer view (bench::KernelTiming): the kernel's own time (layer
  // minima without the one-kernel graph's boundary layers), every layer's median summed,
  // the layer count, and the own time with caches flushed. 0 when not measured
  // (schema-1 rows, runtimes that report no layers, a bench run without the cold pass).
  double own_ms = 0;
  double layers_ms = 0;
  int layer_count = 0;
  double cold_ms = 0;
  double own_median_ms = 0;  // own time from per-layer medians (schema 3; 0 in older rows)
  std::string timestamp_utc;
  std::string error;  // non-empty: a failed measurement, stats meaningless
  bool failed() const noexcept { return !error.empty(); }
};

struct ModelMeasurement {
  std::int64_t id = 0;
  std::int64_t profile_id = 0;
  std::string model_name;
  std::string model_hash;                           // sha256 of the file
  measure::Stats stats;                             // end to end, milliseconds
  nlohmann::json layers = nlohmann::json::array();  // per-layer rows, when measured
  std::string timestamp_utc;
  std::string error;
};

struct DatabaseStats {
  std::int64_t profiles = 0, kernels = 0, measurements = 0, failed_measurements = 0, model_measurements = 0;
  double median_cv = 0;         // over successful measurements; 0 when there are none
  std::int64_t remeasured = 0;  // successful measurements that needed at least one extra attempt
};

// The schema version this build writes; older databases are migrated on open.
inline constexpr int kSchemaVersion = 3;

class Database {
 public:
  // Opens (creating and migrating as needed) the database at `path`. Throws
  // Error(kIo) naming the file when it cannot be opened, is not an infercast
  // database, or has a schema newer than this build knows.
  static Database open(const std::filesystem::path& path);
  ~Database();
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;

  int schema_version() const;

  // Inserts or updates (by name) and returns the id.
  std::int64_t upsert_profile(const Profile& profile);
  std::optional<Profile> find_profile(const std::string& name) const;
  std::vector<Profile> profiles() const;
  void set_profile_extra(std::int64_t profile_id, const nlohmann::json& extra);

  // Inserts the kernel unless its key exists; returns its id either way.
  std::int64_t upsert_kernel(const Kernel& kernel);
  // The id of the kernel with this key, if stored.
  std::optional<std::int64_t> find_kernel(const std::string& key) const;
  // Whether (profile, kernel) already has a measurement, failed or not (a rerun skips it).
  bool has_measurement(std::int64_t profile_id, std::int64_t kernel_id) const;
  // One measurement, committed in its own transaction before returning.
  std::int64_t add_measurement(const Measurement& m);

  // Every kernel with a successful measurement under the profile (the latest one per kernel).
  struct MeasuredKernel {
    Kernel kernel;
    Measurement measurement;
  };
  std::vector<MeasuredKernel> measured_kernels(std::int64_t profile_id) const;
  std::vector<Measurement> measurements(std::int64_t profile_id, bool include_failed = true) const;

  std::int64_t add_model_measurement(const ModelMeasurement& m);
  std::vector<ModelMeasurement> model_measurements(std::int64_t profile_id) const;

  DatabaseStats stats() const;
  // Every table as {"profiles":[...],"kernels":[...],"measurements":[...],"model_measurements":[...]}.
  nlohmann::json export_json() const;
  // One CSV row per measurement joined with its profile and kernel.
  std::string export_csv() const;

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infercast::store
