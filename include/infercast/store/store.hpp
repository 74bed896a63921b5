// The measurement database: an SQLite file (WAL) or a PostgreSQL database (a
// postgresql:// URL), with one versioned schema and one migration history for both,
// transactions and parameterized statements only. Typed reads and writes; nothing
// outside this room sees SQL.
//
// A finished measurement is committed before the next one starts, so a killed bench
// run loses at most the measurement in flight.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
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

// One bench process of a farm (several workers measuring one profile's plan): where it
// ran. A profile is one runtime configuration; its workers may be many machines.
struct Worker {
  std::int64_t id = 0;
  std::int64_t profile_id = 0;
  std::string hostname;
  std::string machine_id;
  std::string device;  // CPU / SoC model
  std::string runtime_version;
  std::int64_t pid = 0;
  std::string started_utc, last_seen_utc;
};

// Where a profile's plan stands: kernels in it, open, claimed (leased to a worker), done.
struct PlanState {
  std::int64_t size = 0, open = 0, claimed = 0, done = 0;
  // Claimed kernels whose lease has not expired yet (the rest are claimable again).
  std::int64_t leased = 0;
};

struct DatabaseStats {
  std::int64_t profiles = 0, kernels = 0, measurements = 0, failed_measurements = 0, model_measurements = 0;
  double median_cv = 0;         // over successful measurements; 0 when there are none
  std::int64_t remeasured = 0;  // successful measurements that needed at least one extra attempt
};

// The schema version this build writes; older databases are migrated on open.
inline constexpr int kSchemaVersion = 4;

class Database {
 public:
  // Opens (creating and migrating as needed) the database at `path`: a file (SQLite),
  // or a postgresql:// URL (credentials from the URL, the PG* environment variables or
  // ~/.pgpass). Throws Error(kIo) naming the file or the URL (its password masked) when
  // it cannot be opened or reached, refuses the credentials, is not an infercast
  // database, or has a schema newer than this build knows; nothing is written then.
  static Database open(const std::filesystem::path& path);
  ~Database();
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;

  int schema_version() const;
  // "sqlite" or "postgresql".
  std::string backend() const;
  // The file, or the URL with its password masked: safe to print.
  std::string target() const;

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

  // --- The farm: one plan per profile, claimed kernel by kernel with a lease. ---
  // Registers a worker (its device context) and returns its id.
  std::int64_t add_worker(const Worker& worker);
  std::vector<Worker> workers() const;
  // Writes the profile's plan once: the kernels (upserted) in order, in one transaction.
  // A plan that already holds at least as many kernels is left as it is; a shorter one
  // gets the missing tail. Returns the plan's size.
  std::int64_t write_plan(std::int64_t profile_id, const std::vector<Kernel>& kernels);
  // The same with the kernels made on demand (`kernel_at(i)` for i < count): called only by
  // the one worker that writes the plan, while it holds the plan's lock, so workers that
  // start together do not all compute features the first of them stores.
  std::int64_t write_plan(std::int64_t profile_id, std::size_t count,
                          const std::function<Kernel(std::size_t)>& kernel_at);
  PlanState plan_state(std::int64_t profile_id) const;
  // Claims the first open kernel of the plan, or one whose lease expired, or one this
  // worker already holds, for `lease_s` seconds (FOR UPDATE SKIP LOCKED on PostgreSQL:
  // concurrent workers never wait on each other's claims). nullopt: nothing claimable now.
  std::optional<Kernel> claim_kernel(std::int64_t profile_id, std::int64_t worker_id, double lease_s);
  // Writes the measurement of a claimed kernel and marks it done, in one transaction.
  // False, and nothing written, when the claim is no longer this worker's (its lease
  // expired and another worker took the kernel). Safe to repeat after a lost connection.
  bool finish_claim(std::int64_t worker_id, const Measurement& m);
  // Opens again the plan's kernels whose measurement failed (bench --retry-failed).
  std::int64_t reopen_failed(std::int64_t profile_id);
  // Copies every profile, kernel, measurement and model measurement of an export_json()
  // document in (matched by profile name, kernel key, (profile, kernel) and (profile,
  // model hash, timestamp); existing rows are updated), in one transaction. Returns the
  // number of measurements and model measurements copied.
  std::int64_t import_json(const nlohmann::json& doc);

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
