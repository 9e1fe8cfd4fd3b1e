// EngineRun: the engine as the public-API tests of the benchmark's accounting create it, and
// the fixed probe results they hand the accounting (tests/bench, tests/moe).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "probe/ProbeResults.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote::test {

// An engine on `model` configured from the command-line words `args`, plus --log-level ERROR,
// --cache-dir tmp_dir()/<cache_name> (a pack cache, when a budget puts the model in packs,
// goes under the build directory, never next to the model in ../shared) and --ctx-size 64
// unless `args` sets one. The configuration's or the engine's error otherwise.
Expected<std::unique_ptr<VulkanSymbioteEngine>> make_engine(const Path& model, std::vector<std::string> args, const std::string& cache_name);

// Every bandwidth (disk, host memory, host <-> device, device memory) measured at `gbps`.
probe::ProbeResults flat_probes(double gbps);

}  // namespace vk_symbiote::test
