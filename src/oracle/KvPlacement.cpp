#include "oracle/KvPlacement.h"

#include <sstream>

#include "common/Units.h"

namespace vk_symbiote {

KvPlacement place_kv(const std::vector<KvLayerCost>& layers, uint64 vram_bytes) {
    KvPlacement p;
    const size_t n = layers.size();
    p.in_ram.assign(n, 0);
    uint64 all = 0, fixed = 0;
    for (const KvLayerCost& l : layers) {
        all += l.device_bytes;
        if (!l.may_leave) fixed += l.device_bytes;
    }
    if (all <= vram_bytes) {
        p.vram_bytes = all;
        return p;
    }
    // What stays regardless, then the movable caches in layer order while they fit.
    uint64 left = vram_bytes > fixed ? vram_bytes - fixed : 0;
    p.vram_bytes = fixed;
    for (size_t i = 0; i < n; ++i) {
        const KvLayerCost& l = layers[i];
        if (!l.may_leave) continue;
        if (l.device_bytes <= left) {
            left -= l.device_bytes;
            p.vram_bytes += l.device_bytes;
            continue;
        }
        p.in_ram[i] = 1;
        p.ram_bytes += l.host_bytes;
        ++p.ram_layers;
    }
    return p;
}

std::string KvPlacement::summary() const {
    std::ostringstream os;
    const size_t n = in_ram.size();
    os << "KV cache: " << n - ram_layers << " of " << n << " layers in VRAM (" << format_gib(vram_bytes) << ")";
    if (ram_layers) os << ", " << ram_layers << " in RAM (" << format_gib(ram_bytes) << ", decode attention on the CPU, prompts per --ram-kv-prompt)";
    return os.str();
}

}  // namespace vk_symbiote
