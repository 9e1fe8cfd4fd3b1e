// OracleLine: the one line `--verbose` prints after a run, so the VitalityOracle's choices
// are visible: what is resident in VRAM, how the non-resident layers split between the CPU
// (from RAM) and the GPU (streamed over the bus), the weight bytes each tier moved per
// forward pass, and the achieved rates against the machine's probed peaks.
//
// Achieved rate of a tier = its bytes over the run / wall time inside forward passes (the
// tiers run at the same time, so the rates add up to what the run really moved per second).
// Peaks come from vk_symbiote_benchmark's probe cache for this machine when it exists, else
// from quick probes run here (host memory, disk read of the model file); the bus peak is
// only known from the cache (the benchmark probes the device).
#pragma once

#include <string>

#include "vk_symbiote/Common.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote {

struct OraclePeaks {
    double disk_gbps = 0;            // 0: unknown
    double host_to_device_gbps = 0;
    double host_memory_gbps = 0;
    std::string source;              // where the peaks come from ("probe cache <file>", "probed now", ...)
};

// Pure formatting (tested): "oracle: ..." without a trailing newline.
std::string oracle_line(const PerformanceMetrics& m, const OraclePeaks& peaks);

// The peaks for this machine: the benchmark's probe cache under cache_dir (keyed by host, CPU
// and device_name) or, when absent and probe_if_missing, quick probes (about a second).
OraclePeaks find_peaks(const Path& cache_dir, const std::string& device_name, const Path& model, bool probe_if_missing);

}  // namespace vk_symbiote
