// predict/: the host's speed over a profile (HostSpeed) and the labels divided by it
// (timed_from_database), from host reference readings stored as the bench loop stores
// them; the bench loop taking those readings on a real runtime; and predict --read-host
// (read_host, scale_to_host).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "infercast/base/error.hpp"
#include "infercast/bench/bench.hpp"
#include "infercast/predict/profile.hpp"
#include "infercast/runtime/runtime.hpp"
#include "infercast/store/store.hpp"

namespace {

namespace fs = std::filesystem;
using namespace infercast;
using predict::HostSpeed;

class HostSpeedDb : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("infercast_host_speed_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// A 1-thread profile of `runtime` named as bench names it ("ort-1t").
std::int64_t add_profile(store::Database& db, const std::string& runtime,
                         const nlohmann::json& extra = nlohmann::json::object()) {
  store::Profile p;
  p.name = runtime + "-1t";
  p.runtime = runtime;
  p.threads = 1;
  p.extra = extra;
  return db.upsert_profile(p);
}

// A reading as the bench loop stores it.
store::ModelMeasurement reading(std::int64_t profile_id, const std::string& utc, double own_median_ms) {
  const bench::KernelSpec reference = bench::host_reference_spec();
  store::ModelMeasurement m;
  m.profile_id = profile_id;
  m.model_name = std::string(bench::kHostReferenceName) + " " + reference.key();
  m.model_hash = reference.key();
  m.stats.n = 10;
  m.stats.median = own_median_ms * 1.2;  // end to end: the graph's boundary layers on top
  m.layers = nlohmann::json::array({{{"name", "own"}, {"median_ms", own_median_ms}, {"min_ms", own_median_ms}}});
  m.timestamp_utc = utc;
  return m;
}

TEST(HostSpeed, TheNearestReadingsOverTheMedianOfAll) {
  // A host at 1.0 ms for the reference, slowed to 1.3 ms for a minute in the middle.
  std::vector<HostSpeed::Reading> r;
  for (int i = 0; i < 10; ++i) r.push_back({1000 + 20 * i, 1.0});
  for (int i = 10; i < 13; ++i) r.push_back({1000 + 20 * i, 1.3});
  for (int i = 13; i < 20; ++i) r.push_back({1000 + 20 * i, 1.0});
  const HostSpeed speed(r);
  ASSERT_TRUE(speed.active());
  EXPECT_DOUBLE_EQ(speed.median_ms(), 1.0);
  EXPECT_DOUBLE_EQ(speed.factor(1000 + 20 * 11), 1.3);  // inside the slow minute
  EXPECT_DOUBLE_EQ(speed.factor(1000 + 20 * 11 + 7), 1.3);
  EXPECT_DOUBLE_EQ(speed.factor(1000 + 20 * 3), 1.0);
  // One slow reading among fast neighbours is the median's outlier, not the host.
  std::vector<HostSpeed::Reading> spike = r;
  spike[4].ms = 3.0;
  EXPECT_DOUBLE_EQ(HostSpeed(spike).factor(1000 + 20 * 4), 1.0);
  // Before the first and after the last reading: the nearest ones, up to kMaxGapS away.
  EXPECT_DOUBLE_EQ(speed.factor(900), 1.0);
  EXPECT_DOUBLE_EQ(speed.factor(1000 + 20 * 19 + HostSpeed::kMaxGapS + 1), 1.0);
  // Within kDeadBand of the median, a reading's own scatter: no correction.
  std::vector<HostSpeed::Reading> scatter = r;
  for (int i = 10; i < 13; ++i) scatter[i].ms = 1.04;
  EXPECT_DOUBLE_EQ(HostSpeed(scatter).factor(1000 + 20 * 11), 1.0);
  for (int i = 10; i < 13; ++i) scatter[i].ms = 0.9;
  EXPECT_DOUBLE_EQ(HostSpeed(scatter).factor(1000 + 20 * 11), 0.9);
  EXPECT_GT(speed.p90(), 1.2);
  EXPECT_DOUBLE_EQ(speed.p10(), 1.0);
}

TEST(HostSpeed, TooFewReadingsOrNoneNearbyChangeNothing) {
  EXPECT_FALSE(HostSpeed().active());
  EXPECT_DOUBLE_EQ(HostSpeed().factor(123), 1.0);
  const HostSpeed four({{10, 1.0}, {20, 2.0}, {30, 2.0}, {40, 2.0}});
  EXPECT_FALSE(four.active());
  EXPECT_DOUBLE_EQ(four.factor(30), 1.0);
  // Unreadable times and non-positive or non-finite times are dropped.
  const HostSpeed dropped({{-1, 1.0}, {0, 1.0}, {10, 0.0}, {20, -2.0}, {30, std::nan("")}, {40, 1.0}});
  EXPECT_EQ(dropped.readings(), 1u);
  // A host far slower than ever plausible is clamped to 2.
  const HostSpeed wild({{10, 1.0}, {20, 1.0}, {30, 1.0}, {40, 1.0}, {1000, 50.0}, {1010, 50.0}, {1020, 50.0}});
  EXPECT_DOUBLE_EQ(wild.factor(1010), 2.0);
  EXPECT_DOUBLE_EQ(wild.factor(1020 + HostSpeed::kMaxGapS - 1), 2.0);
  EXPECT_DOUBLE_EQ(wild.factor(1020 + HostSpeed::kMaxGapS + 1), 1.0);  // no reading nearby
}

TEST(HostSpeed, EpochSecondsOfStoreTimestamps) {
  EXPECT_EQ(predict::epoch_seconds("1970-01-01T00:00:10Z"), 10);
  EXPECT_EQ(predict::epoch_seconds("2026-12-07T01:00:00Z"), 1796605200);
  EXPECT_EQ(predict::epoch_seconds(""), -1);
  EXPECT_EQ(predict::epoch_seconds("2026-12-07 01:00:00"), -1);
  EXPECT_EQ(predict::epoch_seconds("2026-12-07T01:00:00Zjunk"), -1);
}

TEST_F(HostSpeedDb, LabelsAreDividedByTheHostsSpeedAroundEachKernel) {
  store::Database db = store::Database::open(dir_ / "p.db");
  // Synthetic networks (profile --network-share) timed in the slow minute, in a quiet one, and
  // one stored without a time.
  const nlohmann::json networks = {
      {{"seed", 1}, {"name", "a"}, {"median_ms", 10.0}, {"epoch_s", predict::epoch_seconds("2026-12-07T01:10:00Z")}},
      {{"seed", 2}, {"name", "b"}, {"median_ms", 10.0}, {"epoch_s", predict::epoch_seconds("2026-12-07T01:03:00Z")}},
      {{"seed", 3}, {"name", "c"}, {"median_ms", 10.0}}};
  const std::int64_t pid = add_profile(db, "xnnpack", {{"cache_bytes", 32 << 20}, {"networks", networks}});
  // Two kernels: one timed in a minute when the host ran the reference at twice its usual
  // time, one when it ran as usual.
  auto kernel = [&](const std::string& type, const std::string& utc, double ms) {
    bench::KernelSpec spec;
    spec.type = type;
    spec.params = {{"n", 1}, {"c", 16}, {"h", 8}, {"w", 8}};
    store::Kernel k;
    k.type = type;
    k.key = spec.key();
    k.params = bench::to_json(spec);
    store::Measurement m;
    m.profile_id = pid;
    m.kernel_id = db.upsert_kernel(k);
    m.stats.n = 10;
    m.stats.median = m.stats.mean = m.stats.min = m.stats.max = ms;
    m.own_ms = m.own_median_ms = m.layers_ms = m.cold_ms = ms;
    m.layer_count = 1;
    m.timestamp_utc = utc;
    db.add_measurement(m);
  };
  kernel("relu", "2026-12-07T01:10:00Z", 0.5);
  kernel("sigmoid", "2026-12-07T01:03:00Z", 0.5);
  // A kernel streaming more than the cache holds, timed in the slow minute: the reference
  // reads the cores, not the memory, so its label stays as measured.
  {
    bench::KernelSpec spec;
    spec.type = "fc";
    spec.params = {{"n", 1}, {"cin", 25088}, {"cout", 4096}};
    store::Kernel k;
    k.type = "fc";
    k.key = spec.key();
    k.params = bench::to_json(spec);
    k.features = {{"read_bytes", 411e6}, {"write_bytes", 16384}};
    store::Measurement m;
    m.profile_id = pid;
    m.kernel_id = db.upsert_kernel(k);
    m.stats.n = 10;
    m.stats.median = m.stats.min = 20.0;
    m.own_ms = m.own_median_ms = 20.0;
    m.timestamp_utc = "2026-12-07T01:10:00Z";
    db.add_measurement(m);
  }
  for (const auto& [utc, ms] : std::vector<std::pair<std::string, double>>{{"2026-12-07T01:00:00Z", 1.0},
                                                                           {"2026-12-07T01:02:40Z", 1.0},
                                                                           {"2026-12-07T01:03:20Z", 1.0},
                                                                           {"2026-12-07T01:09:50Z", 2.0},
                                                                           {"2026-12-07T01:10:10Z", 2.0},
                                                                           {"2026-12-07T01:10:30Z", 2.0},
                                                                           {"2026-12-07T01:20:00Z", 1.0},
                                                                           {"2026-12-07T01:25:00Z", 1.0}})
    db.add_model_measurement(reading(pid, utc, ms));
  // A model measurement that is not a reading is not one.
  store::ModelMeasurement other = reading(pid, "2026-12-07T01:10:05Z", 40.0);
  other.model_name = "resnet18.onnx";
  other.model_hash = "abc";
  db.add_model_measurement(other);

  predict::FusionRules rules;
  nlohmann::json context;
  const auto corrected = predict::timed_from_database(db, "xnnpack-1t", rules, context);
  ASSERT_EQ(corrected.size(), 3u);
  ASSERT_TRUE(context.contains("host_speed"));
  EXPECT_EQ(context["host_speed"]["readings"], 8);
  EXPECT_TRUE(context["host_speed"]["applied"].get<bool>());
  EXPECT_DOUBLE_EQ(context["host_speed"]["median_ms"].get<double>(), 1.0);
  EXPECT_EQ(context["host_speed"]["reference"], bench::host_reference_spec().key());
  ASSERT_EQ(context["networks"].size(), 3u);
  EXPECT_DOUBLE_EQ(context["networks"][0].value("host_factor", 0.0), 2.0);
  EXPECT_DOUBLE_EQ(context["networks"][1].value("host_factor", 0.0), 1.0);
  EXPECT_FALSE(context["networks"][2].contains("host_factor"));
  for (const auto& t : corrected) {
    if (t.spec["type"] == "fc") {
      EXPECT_DOUBLE_EQ(t.label_ms(), 20.0);
      continue;
    }
    const bool slow_minute = t.spec["type"] == "relu";
    const double expected = slow_minute ? 0.25 : 0.5;
    EXPECT_DOUBLE_EQ(t.label_ms(), expected) << t.spec.dump();
    EXPECT_DOUBLE_EQ(t.kernel_ms, expected);
    EXPECT_DOUBLE_EQ(t.stats.median, expected);
    EXPECT_DOUBLE_EQ(t.stats.min, expected);
    EXPECT_DOUBLE_EQ(t.cold_ms, expected);
  }
  nlohmann::json plain_context;
  const auto plain = predict::timed_from_database(db, "xnnpack-1t", rules, plain_context, false);
  EXPECT_FALSE(plain_context["host_speed"]["applied"].get<bool>());
  for (const auto& n : plain_context["networks"]) EXPECT_FALSE(n.contains("host_factor"));
  for (const auto& t : plain) EXPECT_DOUBLE_EQ(t.label_ms(), t.spec["type"] == "fc" ? 20.0 : 0.5);
}

TEST_F(HostSpeedDb, WithoutReadingsTheLabelsAreAsMeasured) {
  store::Database db = store::Database::open(dir_ / "p.db");
  const std::int64_t pid = add_profile(db, "ort");
  for (const char* utc : {"2026-12-07T01:00:00Z", "2026-12-07T01:00:20Z", "2026-12-07T01:00:40Z"})
    db.add_model_measurement(reading(pid, utc, 1.0));
  predict::FusionRules rules;
  nlohmann::json context;
  EXPECT_TRUE(predict::timed_from_database(db, "ort-1t", rules, context).empty());
  EXPECT_EQ(context["host_speed"]["readings"], 3);
  EXPECT_FALSE(context["host_speed"]["applied"].get<bool>());  // fewer than kMinReadings
}

TEST_F(HostSpeedDb, TheBenchLoopReadsTheHostBeforeTheFirstKernelAndAfterTheLast) {
  store::Database db = store::Database::open(dir_ / "b.db");
  bench::BenchOptions o;
  o.runtime = "xnnpack";
  o.sampler.sampler = "grid";
  o.sampler.kernel_types = {"relu"};
  o.count = 3;
  o.cold_pass = false;
  o.quiet = true;
  o.protocol.min_time_s = 0.6;  // the run lasts more than 1.5 s: a closing reading is taken
  o.protocol.min_repeats = 3;
  o.protocol.max_remeasure = 0;
  o.reference_every_s = 3600;  // never again inside so short a run
  std::ostringstream progress;
  const bench::BenchSummary s = bench::run_bench(o, db, progress);
  EXPECT_EQ(s.measured, 3u);
  EXPECT_EQ(s.host_readings, 2u);
  EXPECT_NE(bench::summary_line(s).find("2 host reference readings"), std::string::npos);
  const auto stored = db.model_measurements(s.profile_id);
  ASSERT_EQ(stored.size(), 2u);
  for (const auto& m : stored) {
    EXPECT_TRUE(bench::host_reference_reading(m));
    EXPECT_EQ(m.model_hash, bench::host_reference_spec().key());
    EXPECT_GT(bench::host_reference_ms(m), 0);
    EXPECT_LT(bench::host_reference_ms(m), m.stats.median * 1.5);
  }
  // Off: no readings.
  store::Database off = store::Database::open(dir_ / "off.db");
  o.reference_every_s = 0;
  EXPECT_EQ(bench::run_bench(o, off, progress).host_readings, 0u);
  EXPECT_TRUE(off.model_measurements(1).empty());
}

// predict --read-host: the reference read now over the profile's median. Against a profile
// whose median reading was twice the time read just now, the host runs at about half the
// profile's time (wide bounds: the reference is two readings of a noisy host).
TEST(ReadHost, TheReferenceNowOverTheProfilesMedian) {
  auto engine = runtime::make_runtime("xnnpack");
  predict::Bundle bundle;
  bundle.runtime = "xnnpack";
  bundle.threads = 1;
  try {
    (void)predict::read_host(bundle, *engine);
    ADD_FAILURE() << "a bundle without host readings must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("host_speed"), std::string::npos) << e.what();
  }
  const double now_ms = predict::read_host_reference_ms(*engine, 1);
  ASSERT_GT(now_ms, 0);
  bundle.profile["host_speed"] = {{"median_ms", 2 * now_ms}, {"readings", 40}};
  EXPECT_DOUBLE_EQ(predict::host_profile_median_ms(bundle), 2 * now_ms);
  const predict::HostReading r = predict::read_host(bundle, *engine);
  EXPECT_DOUBLE_EQ(r.profile_median_ms, 2 * now_ms);
  EXPECT_GT(r.reference_ms, 0);
  EXPECT_DOUBLE_EQ(r.speed, r.reference_ms / r.profile_median_ms);
  EXPECT_GT(r.speed, 0.3);
  EXPECT_LT(r.speed, 0.8);
}

// Every time of a prediction scales with the host's speed: each kernel's time, interval and
// cold excess, the lines outside the kernels, and the model's; the sum stays the model's time.
TEST(ReadHost, ScaleToHostScalesEveryTime) {
  predict::Prediction p;
  p.per_kernel.resize(2);
  p.per_kernel[0].ms = 1.0;
  p.per_kernel[0].lo_ms = 0.8;
  p.per_kernel[0].hi_ms = 1.3;
  p.per_kernel[0].cold_excess_ms = 0.1;
  p.per_kernel[1].ms = 3.0;
  p.per_kernel[1].lo_ms = 2.5;
  p.per_kernel[1].hi_ms = 3.6;
  p.between_kernels_ms = 0.2;
  p.run_overhead_ms = 0.2;
  p.ms = 4.4;
  p.lo_ms = 3.7;
  p.hi_ms = 5.3;
  predict::scale_to_host(p, 1.25);
  EXPECT_DOUBLE_EQ(p.per_kernel[0].ms, 1.25);
  EXPECT_DOUBLE_EQ(p.per_kernel[0].lo_ms, 1.0);
  EXPECT_DOUBLE_EQ(p.per_kernel[0].hi_ms, 1.625);
  EXPECT_DOUBLE_EQ(p.per_kernel[0].cold_excess_ms, 0.125);
  EXPECT_DOUBLE_EQ(p.per_kernel[1].ms, 3.75);
  EXPECT_DOUBLE_EQ(p.between_kernels_ms, 0.25);
  EXPECT_DOUBLE_EQ(p.run_overhead_ms, 0.25);
  EXPECT_DOUBLE_EQ(p.ms, 5.5);
  EXPECT_DOUBLE_EQ(p.ms, p.per_kernel[0].ms + p.per_kernel[1].ms + p.between_kernels_ms + p.run_overhead_ms);
  EXPECT_DOUBLE_EQ(p.lo_ms, 4.625);
  EXPECT_DOUBLE_EQ(p.hi_ms, 6.625);
  for (double bad : {0.0, -1.0, std::nan("")}) EXPECT_THROW(predict::scale_to_host(p, bad), Error);
  EXPECT_DOUBLE_EQ(p.ms, 5.5);  // a refused speed leaves the prediction alone
}

}  // namespace
