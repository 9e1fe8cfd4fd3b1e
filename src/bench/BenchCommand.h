// BenchCommand: the benchmark as a command (BenchCommand.cpp has what it measures and its
// options), shared by vk_symbiote_benchmark and `vk_symbiote bench`.
#pragma once

namespace vk_symbiote::bench {

// argv[0] is skipped (the program or subcommand name); `program` names it in usage and
// error messages. Returns the process exit status (0, 1 on a failed run, 2 on bad options).
int run_bench_command(int argc, char** argv, const char* program);

}  // namespace vk_symbiote::bench
