#include "engine/MultiDeviceSetup.h"

#include <charconv>

#include "config/Logger.h"

namespace vk_symbiote {

Expected<std::vector<int32>> parse_device_list(const std::string& text) {
    if (text == "all") return std::vector<int32>{};
    std::vector<int32> out;
    for (size_t at = 0;;) {
        const size_t comma = std::min(text.find(',', at), text.size());
        const std::string item = text.substr(at, comma - at);
        int32 v = -1;
        auto r = std::from_chars(item.data(), item.data() + item.size(), v);
        if (item.empty() || r.ec != std::errc() || r.ptr != item.data() + item.size() || v < 0 || v > 1023)
            return make_error(ErrorCode::InvalidArgument, "--devices: '" + item + "' in '" + text + "' is not a device index (0 .. 1023; or 'all')");
        out.push_back(v);
        if (comma == text.size()) break;
        at = comma + 1;
    }
    return out;
}

Expected<std::vector<uint64>> device_budgets(const MemoryConfig& m, size_t n_devices) {
    const std::vector<double>& list = m.vram_budgets_gb;
    if (list.size() > 1 && list.size() != n_devices)
        return make_error(ErrorCode::InvalidArgument, "--vram-gb: " + std::to_string(list.size()) + " budgets for " + std::to_string(n_devices) +
                                                          " devices (--devices): give one per device, in the same order, or one for each");
    std::vector<uint64> out(n_devices, m.vram_budget_set ? m.vram_budget_bytes() : 0);
    if (list.size() > 1)
        for (size_t d = 0; d < n_devices; ++d) out[d] = uint64(list[d] * MemoryConfig::kBytesPerGB);
    return out;
}

#ifdef VKS_HAS_VULKAN
namespace {

Expected<std::unique_ptr<VulkanBackend>> open_one(const VulkanOptions& base, int32 index, uint64 budget) {
    VulkanOptions o = base;
    o.device_index = index;
    o.decode_ahead = false;  // a device holds some layers only: no token queued ahead (DecodeAhead.h)
    if (budget) o.vram_budget_bytes = budget;  // before create(): the allocator's block size follows the budget
    auto be = VulkanBackend::create(o);
    if (!be) return make_error(be.error().code, "--devices: device " + std::to_string(index) + ": " + be.error().message);
    return std::move(*be);
}

// "all": indices 0, 1, ... until the first the machine lacks; CPU implementations (lavapipe)
// only when nothing else is there.
Expected<std::vector<int32>> all_devices(const VulkanOptions& base) {
    std::vector<int32> gpus, cpus;
    for (int32 i = 0; i < 1024; ++i) {
        auto be = open_one(base, i, 0);
        if (!be && be.error().code == ErrorCode::InvalidArgument) break;  // out of range: the last one was the last device
        if (!be) return be.error();
        ((*be)->device().caps().is_cpu ? cpus : gpus).push_back(i);
    }
    return gpus.empty() ? cpus : gpus;
}

}  // namespace

Expected<std::unique_ptr<MultiDeviceBackend>> open_devices(const ConfigManager& config, const VulkanOptions& base) {
    auto list = parse_device_list(config.performance().devices);
    if (!list) return list.error();
    if (list->empty()) {
        auto all = all_devices(base);
        if (!all) return all.error();
        *list = std::move(*all);
    }
    if (list->size() < 2)
        return make_error(ErrorCode::InvalidArgument, "--devices " + config.performance().devices + ": " + std::to_string(list->size()) +
                                                          " device(s); several devices need at least two (one device: --device-index)");
    auto budgets = device_budgets(config.memory(), list->size());
    if (!budgets) return budgets.error();
    std::vector<std::unique_ptr<VulkanBackend>> parts;
    for (size_t d = 0; d < list->size(); ++d) {
        auto be = open_one(base, (*list)[d], (*budgets)[d]);
        if (!be) return be.error();
        parts.push_back(std::move(*be));
    }
    return MultiDeviceBackend::create(std::move(parts));
}
#endif

}  // namespace vk_symbiote
