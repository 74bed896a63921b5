// infercast train: fit a predictor bundle from timed kernels.
#include <algorithm>
#include <cstdio>

#include "commands.hpp"
#include "infercast/base/error.hpp"
#include "infercast/predict/profile.hpp"

namespace infercast::cli {
namespace {

struct TrainOptions {
  std::string db;
  std::string profile;
  std::string output;
  std::string format = "table";
  std::vector<std::string> kinds;
  std::vector<std::string> exclude_families;
  bool composition = false;
  bool per_operator_cost = false;
  bool select_composition = false;
  bool no_host_speed = false;
  std::size_t cache_bytes = 0;  // 0: the profile's measured cache, else its last-level cache
};

// Checked before the database is read: a typo must not cost a training run.
void check_families(const std::vector<std::string>& names) {
  const std::vector<std::string>& known = predict::family_names();
  for (const std::string& name : names) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string list;
    for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(ErrorKind::kInvalidArgument, "", "--exclude-family", "unknown family '" + name + "' (" + list + ")");
  }
}

int run_train(const TrainOptions& o) {
  check_families(o.exclude_families);
  predict::FusionRules rules;
  nlohmann::json p;
  const store::Database db = store::Database::open(o.db);
  const std::vector<predict::TimedSpec> timed = predict::timed_from_database(db, o.profile, rules, p, !o.no_host_speed);
  predict::TrainOptions options;
  if (!o.kinds.empty()) {
    options.kinds.clear();
    for (const auto& k : o.kinds) options.kinds.push_back(predict::model_kind_from_name(k));
  }
  // The cache a model's weights stay in between runs: --cache-bytes, else what the
  // profile measured (measure::effective_cache_bytes), else (profiles stored before it
  // was measured) the last-level cache's reported size.
  std::size_t cache_bytes = o.cache_bytes;
  if (cache_bytes == 0) cache_bytes = p.value("cache_bytes", std::size_t{0});
  if (cache_bytes == 0) cache_bytes = p.value("llc_bytes", std::size_t{0});
  options.llc_bytes = cache_bytes;
  options.exclude_families.insert(o.exclude_families.begin(), o.exclude_families.end());
  options.layer_excess_ms = p.value("layer_excess_ms", 0.0);
  options.kernel_start_ms = p.value("kernel_start_ms", 0.0);
  options.runtime = p.value("runtime", "");
  int unusable = 0;
  predict::Bundle bundle = predict::train_from_timed(timed, rules, options, &unusable);
  bundle.runtime = p.value("runtime", "");
  bundle.runtime_version = p.value("runtime_version", "");
  bundle.threads = p.value("threads", 0);
  bundle.precision = p.value("precision", "fp32");
  bundle.profile = p;
  bundle.created_utc = p.value("created_utc", "");
  bundle.l2_bytes = p.value("l2_bytes", std::size_t{0});
  bundle.llc_bytes = cache_bytes;
  // Cold scales first: the composition is fitted on the kernels' predictions as `predict` makes them.
  if (p.contains("cold_chains")) predict::calibrate_cold(bundle, p["cold_chains"]);
  if ((o.composition || o.per_operator_cost || o.select_composition) && p.contains("networks")) {
    const predict::CompositionFit fit = o.composition          ? predict::CompositionFit::kFull
                                        : o.select_composition ? predict::CompositionFit::kSelect
                                                               : predict::CompositionFit::kCost;
    predict::calibrate_composition(bundle, p["networks"], fit);
  }
  predict::save_bundle(bundle, o.output);
  if (o.format == "json") {
    write_output("-", predict::bundle_summary(bundle).dump(2) + "\n");
    return 0;
  }
  std::string table =
      "family            samples  model      gbm rmspe%  forest rmspe%  roofline rmspe%  chosen within10%\n";
  for (const auto& [family, f] : bundle.families) {
    auto pct = [&](const char* kind) {
      const auto it = f.cv.find(kind);
      return it == f.cv.end() ? std::string("-") : std::to_string(static_cast<int>(it->second.rmspe + 0.5));
    };
    const auto chosen = f.cv.find(predict::model_kind_name(f.kind));
    char row[200];
    std::snprintf(
        row, sizeof row, "%-17s %7d  %-9s %11s %14s %16s %17s\n", family.c_str(), f.samples,
        predict::model_kind_name(f.kind).c_str(), pct("gbm").c_str(), pct("forest").c_str(), pct("roofline").c_str(),
        chosen == f.cv.end() ? "-" : std::to_string(static_cast<int>(100 * chosen->second.within10 + 0.5)).c_str());
    table += row;
  }
  table += host_speed_line(p);
  table += composition_line(bundle.composition);
  table += cold_scale_line(bundle);
  for (const auto& [family, samples] : bundle.excluded_families)
    table += "excluded          " + family + " (" + std::to_string(samples) +
             " samples left out; its kernels get the fallback roofline estimate)\n";
  write_output("-", table + "wrote " + o.output + " (" + std::to_string(timed.size()) + " timed kernels, " +
                        std::to_string(unusable) + " unusable)\n");
  return 0;
}

}  // namespace

void register_train(CLI::App& app, Action& action) {
  auto options = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Fit a predictor bundle from timed kernels (per-family CV error)");
  cmd->add_option(
         "--db", options->db,
         "measurement database (infercast bench, or the BUNDLE.db profile keeps): a file or a postgresql:// URL")
      ->required();
  cmd->add_option("--profile", options->profile, "the database profile to train on")->required();
  cmd->add_option("-o,--output", options->output, "predictor bundle to write")->required();
  cmd->add_option("--model", options->kinds, "candidate models (gbm, forest, roofline; repeatable; default all)");
  cmd->add_option("--format", options->format, "table | json")->capture_default_str();
  cmd->add_option("--cache-bytes", options->cache_bytes,
                  "bytes of data that stay cached between two runs of a model (default: what profile measured, or "
                  "the profile's last-level cache)");
  cmd->add_option("--exclude-family", options->exclude_families,
                  "leave these families' samples out (comma-separated: conv, dwconv, ...): their kernels are "
                  "predicted by the fallback roofline, as in leave-one-family-out validation")
      ->delimiter(',');
  cmd->add_flag("--composition", options->composition,
                "fit the whole-model composition on the synthetic networks the profile measured (profile "
                "--network-share); off by default, see docs/predict.md");
  cmd->add_flag("--per-operator-cost", options->per_operator_cost,
                "fit only the composition's cost per executed kernel on the synthetic networks, every group's "
                "scale held at 1 (with --composition, the full fit)");
  cmd->add_flag("--select-composition", options->select_composition,
                "fit the per-operator cost, with the convolutions' scales where they predict the networks better "
                "(leave-one-out); profile fits the per-operator cost alone by default");
  cmd->add_flag("--no-host-speed", options->no_host_speed,
                "train on the labels as measured, without dividing them by the host's speed around each kernel "
                "(the profile's host reference readings; docs/predict.md)");
  cmd->callback([options, &action] { action = [options] { return run_train(*options); }; });
}

}  // namespace infercast::cli
