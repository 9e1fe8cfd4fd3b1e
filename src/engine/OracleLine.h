// OracleLine: the one line `--verbose` prints after a run, so the VitalityOracle's choices
// are visible: what is resident in VRAM, how the non-resident layers split between the CPU
// (from RAM) and the GPU (streamed over the bus), the weight bytes each tier moved per
// forward pass, and the achieved rates against the machine's probed peaks.
//
// Achieved rate of a tier = its bytes over the run / wall time inside forward passes (the
// tiers run at the same time, so the rates add up to what the run really moved per second).
// Peaks: probe/Peaks.h.
#pragma once

#include <string>

#include "probe/Peaks.h"
#include "vk_symbiote/Common.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote {

// Pure formatting (tested): "oracle: ..." without a trailing newline.
std::string oracle_line(const PerformanceMetrics& m, const OraclePeaks& peaks);

}  // namespace vk_symbiote
