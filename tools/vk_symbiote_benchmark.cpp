// vk_symbiote_benchmark: prompt processing and generation speed against this machine's
// probed ceilings (src/bench/BenchCommand.cpp; the same as `vk_symbiote bench`).
#include <cstdio>
#include <exception>

#include "bench/BenchCommand.h"
#include "common/TempFiles.h"

int main(int argc, char** argv) {
    vk_symbiote::install_temp_file_cleanup();  // a benchmark model or pack cache being written leaves no .tmp
    try {
        return vk_symbiote::bench::run_bench_command(argc, argv, "vk_symbiote_benchmark");
    } catch (const std::exception& ex) {
        std::fprintf(stderr, "vk_symbiote_benchmark: internal error: %s\n", ex.what());
        return 1;
    }
}
