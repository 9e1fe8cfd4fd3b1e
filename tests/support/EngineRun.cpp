#include "support/EngineRun.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string_view>

#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"

namespace vk_symbiote::test {

Expected<std::unique_ptr<VulkanSymbioteEngine>> make_engine(const Path& model, std::vector<std::string> args, const std::string& cache_name) {
    ConfigManager c;
    const Path cache_dir = tmp_dir() / cache_name;
    std::filesystem::create_directories(cache_dir);
    args.insert(args.end(), {"--log-level", "ERROR", "--cache-dir", cache_dir.string()});
    if (std::find(args.begin(), args.end(), "--ctx-size") == args.end()) args.insert(args.end(), {"--ctx-size", "64"});
    auto r = c.load(args, [](std::string_view) { return std::optional<std::string>(); });  // no environment
    if (!r) return r.error();
    return VulkanSymbioteEngine::create(model, c);
}

probe::ProbeResults flat_probes(double gbps) {
    probe::ProbeResults p;
    for (probe::Bandwidth* b : {&p.disk_read, &p.host_memory, &p.host_to_device, &p.device_to_host, &p.device_memory}) {
        b->measured = true;
        b->gbps = gbps;
    }
    return p;
}

}  // namespace vk_symbiote::test
