// Subcommands of the infercast CLI. Each file parses its options into an options
// struct and calls library code; no logic lives here.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace infercast::cli {

// A subcommand's action, run after parsing; returns the process exit code.
using Action = std::function<int()>;

void register_analyze(CLI::App& app, Action& action);
void register_ops(CLI::App& app, Action& action);
void register_run(CLI::App& app, Action& action);
void register_verify(CLI::App& app, Action& action);
void register_export(CLI::App& app, Action& action);
void register_train(CLI::App& app, Action& action);
void register_predict(CLI::App& app, Action& action);
void register_validate(CLI::App& app, Action& action);
void register_profile(CLI::App& app, Action& action);
void register_bench(CLI::App& app, Action& action);
void register_db(CLI::App& app, Action& action);

// Writes `text` to `path` (atomically, via a temporary file beside it), or to stdout
// when `path` is empty or "-". Throws Error(kIo).
void write_output(const std::string& path, const std::string& text);

}  // namespace infercast::cli
