// Peaks: the machine's ceilings the engine reports its achieved rates against (the --verbose
// oracle line) and seeds the hybrid split with: vk_symbiote_benchmark's probe cache for this
// machine when it exists, else quick probes (host memory, disk read of the model file); the
// bus peak is only known from the cache (the benchmark probes the device).
// Units: GB/s = 1e9 bytes per second.
#pragma once

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::probe {

struct OraclePeaks {
    double disk_gbps = 0;            // 0: unknown
    double host_to_device_gbps = 0;
    double host_memory_gbps = 0;
    std::string source;              // where the peaks come from ("probe cache <file>", "probed now", ...)
};

// The peaks for this machine: the benchmark's probe cache under cache_dir (keyed by host, CPU
// and device_name) or, when absent and probe_if_missing, quick probes (about a second).
OraclePeaks find_peaks(const Path& cache_dir, const std::string& device_name, const Path& model, bool probe_if_missing);

}  // namespace vk_symbiote::probe

namespace vk_symbiote {
// The engine names them unqualified (engine/OracleLine.h, BackendSelector.cpp).
using probe::find_peaks;
using probe::OraclePeaks;
}  // namespace vk_symbiote
