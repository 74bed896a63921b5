// `infercast bench` as a user runs it (the real CLI binary): durability under SIGKILL
// at 20 seeded random moments, SIGINT stopping after the kernel in flight, reruns
// resuming without duplicates, and `db stats` / `db export`. Database facts are read
// with SQLite directly, not through the store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "../test_files.hpp"

namespace {

namespace fs = std::filesystem;

// Small kernels and a short protocol: one kernel takes a few milliseconds.
const std::map<std::string, std::string> kQuickBench = {
    {"--runtime", "xnnpack"}, {"--kernels", "relu,add,sigmoid,maxpool"},
    {"--warmup", "1"},        {"--repeats", "3"},
    {"--min-time", "0"},      {"--max-remeasure", "1"},
    {"--threads", "1"}};

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("infercast_bench_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = dir_ / "k.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Starts the CLI with stdout/stderr to files; returns the child's pid.
  pid_t spawn(const std::vector<std::string>& args) {
    std::vector<std::string> all{INFERCAST_CLI};
    all.insert(all.end(), args.begin(), args.end());
    const std::string out = (dir_ / "stdout").string(), err = (dir_ / "stderr").string();
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::freopen(out.c_str(), "w", stdout);
      std::freopen(err.c_str(), "w", stderr);
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return pid;
  }
  int wait_exit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  }
  int run(const std::vector<std::string>& args) { return wait_exit(spawn(args)); }
  // `bench` with the quick options, `overrides` replacing or adding options.
  std::vector<std::string> quick(const std::map<std::string, std::string>& overrides = {}) {
    std::map<std::string, std::string> options = kQuickBench;
    for (const auto& [k, v] : overrides) options[k] = v;
    std::vector<std::string> a{"bench", "--db", db_.string(), "-q"};
    for (const auto& [k, v] : options) a.insert(a.end(), {k, v});
    return a;
  }

  // Rows of a query as strings, through SQLite itself.
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3* h = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
    std::vector<std::vector<std::string>> out;
    while (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        const auto* t = sqlite3_column_text(s, c);
        row.emplace_back(t != nullptr ? reinterpret_cast<const char*>(t) : "NULL");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    return out;
  }
  long long count(const std::string& sql) {
    const auto r = rows(sql);
    return r.empty() ? -1 : std::stoll(r[0][0]);
  }
  bool has_tables() {
    return fs::exists(db_) && count("SELECT count(*) FROM sqlite_master WHERE name='measurements'") == 1;
  }

  fs::path dir_, db_;
};

TEST_F(BenchCli, SurvivesSigkillAtTwentyRandomMomentsWithoutLosingOrDuplicatingRows) {
  std::mt19937 rng(20240605);
  std::uniform_int_distribution<int> delay_ms(5, 400);
  // Finished measurements seen so far: (profile, kernel) -> (median, timestamp).
  std::map<std::string, std::string> finished;
  int kills = 0;
  // Every kernel takes at least 50 ms (--min-time), so the 190 kernels need more than 9.5 s:
  // more than 20 rounds of at most 400 ms can finish, whatever the machine's speed, and
  // every kill lands in a run with work left.
  const auto slow = quick({{"--min-time", "0.05"}});
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = spawn(slow);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    const int code = wait_exit(pid);
    if (code == 128 + SIGKILL) ++kills;
    if (!has_tables()) continue;  // killed before the schema was committed
    ASSERT_EQ(rows("PRAGMA integrity_check")[0][0], "ok") << "round " << round;
    const auto now = rows(
        "SELECT m.profile_id || '/' || k.key, m.median_ms || '@' || m.timestamp_utc FROM measurements m "
        "JOIN kernels k ON k.id = m.kernel_id");
    std::map<std::string, std::string> current;
    for (const auto& r : now) current[r[0]] = r[1];
    for (const auto& [key, value] : finished) {
      ASSERT_EQ(current.count(key), 1u) << "round " << round << ": lost " << key;
      EXPECT_EQ(current[key], value) << "round " << round << ": changed " << key;
    }
    EXPECT_GE(current.size(), finished.size());
    finished = current;
  }
  EXPECT_EQ(kills, 20) << "every run should have been killed mid-way; raise the work per run";
  // The final rerun completes and adds exactly the missing rows, once each.
  ASSERT_EQ(run(quick()), 0) << infercast::testing::read_file(dir_ / "stderr");
  EXPECT_EQ(rows("PRAGMA integrity_check")[0][0], "ok");
  EXPECT_EQ(count("SELECT count(*) FROM (SELECT profile_id, kernel_id FROM measurements "
                  "GROUP BY profile_id, kernel_id HAVING count(*) > 1)"),
            0);
  EXPECT_EQ(count("SELECT count(*) FROM (SELECT key FROM kernels GROUP BY key HAVING count(*) > 1)"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM profiles"), 1);
  const long long total = count("SELECT count(*) FROM measurements");
  EXPECT_EQ(total, count("SELECT count(*) FROM kernels"));
  EXPECT_GE(total, static_cast<long long>(finished.size()));
  // Another rerun has nothing left to do.
  ASSERT_EQ(run(quick()), 0);
  EXPECT_EQ(count("SELECT count(*) FROM measurements"), total);
  const std::string summary = infercast::testing::read_file(dir_ / "stdout");
  EXPECT_NE(summary.find("0 measured"), std::string::npos) << summary;
  std::printf("SIGKILL rounds: %d killed mid-run; %lld measurements at the end, %zu before the final rerun\n", kills,
              total, finished.size());
}

TEST_F(BenchCli, SigintStopsAfterTheKernelInFlightAndKeepsIt) {
  // Each kernel takes >= 0.3 s, so the interrupt lands mid-measurement.
  auto args = quick({{"--min-time", "0.3"}, {"--max-remeasure", "0"}});
  const pid_t pid = spawn(args);
  for (int i = 0; i < 200 && !(has_tables() && count("SELECT count(*) FROM measurements") >= 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGINT);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_exit(pid), 130);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  const std::string out = infercast::testing::read_file(dir_ / "stdout");
  EXPECT_NE(out.find("interrupted"), std::string::npos) << out;
  const long long measured = count("SELECT count(*) FROM measurements");
  EXPECT_GE(measured, 1);
  // The summary's count is what the database holds: the kernel in flight was committed.
  EXPECT_NE(out.find(std::to_string(measured) + " measured"), std::string::npos) << out;
  EXPECT_EQ(rows("PRAGMA integrity_check")[0][0], "ok");
}

TEST_F(BenchCli, CountIsADefiniteSetThatAKilledRunCompletes) {
  // --count 12 killed after its first measurements, then rerun: exactly the 12 kernels of
  // the plan, not 12 more; a rerun of the finished plan measures nothing.
  const auto plan = quick({{"--count", "12"}, {"--min-time", "0.05"}});
  const pid_t pid = spawn(plan);
  for (int i = 0; i < 400 && !(has_tables() && count("SELECT count(*) FROM measurements") >= 2); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  const long long before = count("SELECT count(*) FROM measurements");
  EXPECT_GE(before, 2);
  EXPECT_LT(before, 12);
  ASSERT_EQ(run(plan), 0) << infercast::testing::read_file(dir_ / "stderr");
  EXPECT_EQ(count("SELECT count(*) FROM measurements"), 12);
  ASSERT_EQ(run(plan), 0);
  EXPECT_EQ(count("SELECT count(*) FROM measurements"), 12);
  EXPECT_NE(infercast::testing::read_file(dir_ / "stdout").find("0 measured"), std::string::npos);
}

TEST_F(BenchCli, CountBudgetResumeStatsAndExport) {
  ASSERT_EQ(run(quick({{"--count", "5"}})), 0) << infercast::testing::read_file(dir_ / "stderr");
  EXPECT_EQ(count("SELECT count(*) FROM measurements"), 5);
  ASSERT_EQ(run(quick({{"--count", "5"}})), 0);  // the same plan: done already
  EXPECT_EQ(count("SELECT count(*) FROM measurements"), 5);
  ASSERT_EQ(run(quick({{"--more", "5"}})), 0);  // explicitly five more
  EXPECT_EQ(count("SELECT count(*) FROM measurements"), 10);
  EXPECT_NE(infercast::testing::read_file(dir_ / "stdout").find("5 skipped"), std::string::npos);
  // A budget of zero seconds left starts nothing after the first check.
  ASSERT_EQ(run(quick({{"--budget", "0.000001s"}})), 0);
  EXPECT_NE(infercast::testing::read_file(dir_ / "stdout").find("budget reached"), std::string::npos);
  const long long total = count("SELECT count(*) FROM measurements");
  EXPECT_LE(total, 11);  // at most the kernel started within the budget

  ASSERT_EQ(run({"db", "stats", "--db", db_.string(), "--format", "json"}), 0);
  const auto stats = nlohmann::json::parse(infercast::testing::read_file(dir_ / "stdout"));
  for (const char* k : {"profiles", "kernels", "measurements", "failed_measurements", "model_measurements", "median_cv",
                        "remeasured"}) {
    EXPECT_TRUE(stats.contains(k)) << k;
  }
  EXPECT_EQ(stats["measurements"], total);
  EXPECT_EQ(stats["profiles"], 1);
  EXPECT_EQ(stats["remeasured"], count("SELECT count(*) FROM measurements WHERE remeasured > 0"));

  ASSERT_EQ(run({"db", "export", "--db", db_.string(), "--format", "csv"}), 0);
  const std::string csv = infercast::testing::read_file(dir_ / "stdout");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), total + 1);
  ASSERT_EQ(run({"db", "export", "--db", db_.string(), "--format", "json"}), 0);
  const auto j = nlohmann::json::parse(infercast::testing::read_file(dir_ / "stdout"));
  EXPECT_EQ(static_cast<long long>(j["measurements"].size()), total);
  EXPECT_GT(j["kernels"][0]["features"]["read_bytes"].get<double>(), 0);

  // Errors: one line, exit 2, naming the file or option.
  EXPECT_EQ(run({"db", "stats", "--db", (dir_ / "missing.db").string()}), 2);
  EXPECT_NE(infercast::testing::read_file(dir_ / "stderr").find("missing.db"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "missing.db"));
  EXPECT_EQ(run(quick({{"--budget", "ten"}})), 2);
  EXPECT_NE(infercast::testing::read_file(dir_ / "stderr").find("--budget"), std::string::npos);
  EXPECT_EQ(run(quick({{"--kernels", "conv,warp"}})), 2);
  EXPECT_NE(infercast::testing::read_file(dir_ / "stderr").find("warp"), std::string::npos);
  EXPECT_EQ(run(quick({{"--sampler", "prior"}})), 2);
  EXPECT_NE(infercast::testing::read_file(dir_ / "stderr").find("--models"), std::string::npos);
  // A profile name is one runtime configuration: reusing it for another thread count is refused.
  EXPECT_EQ(run(quick({{"--threads", "2"}, {"--profile", "xnnpack-1t"}})), 2);
  EXPECT_NE(infercast::testing::read_file(dir_ / "stderr").find("xnnpack-1t"), std::string::npos);
}

}  // namespace
