// KvPlacement: where each layer's KV cache lives, decided from the VRAM budget like the weights'
// resident set (decisions only: no device, no I/O). Every cache stays in VRAM while all fit in
// what the budget leaves once the weights can stream; else the caches that must stay (sliding
// rings, families the host attention does not serve) stay, then the others in layer order while
// they fit, and the rest go to RAM, where the host computes those layers' attention
// (HostAttention). A cache read per token costs the same bytes as a weight of its size, so the
// budget does not favour one over the other: the weights' resident set gets what is left.
#pragma once

#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct KvLayerCost {
    uint64 device_bytes = 0;  // the layer's K and V caches as the device allocator reserves them
    uint64 host_bytes = 0;    // the same caches in RAM
    bool may_leave = true;    // false: must stay in VRAM (sliding ring, unsupported family)
};

struct KvPlacement {
    std::vector<uint8> in_ram;  // (n_layer) 1: the layer's cache is in RAM
    uint64 vram_bytes = 0;      // device bytes of the caches kept in VRAM
    uint64 ram_bytes = 0;       // host bytes of the caches in RAM
    uint32 ram_layers = 0;
    bool any_in_ram() const { return ram_layers > 0; }
    // "KV cache: 2 of 3 layers in VRAM (2.00 MiB), 1 in RAM (4.00 MiB)" for the stats / INFO line.
    std::string summary() const;
};

// The placement of `layers` when `vram_bytes` is what the budget leaves the caches. Caches that
// must stay are kept even when they do not fit (the VRAM plan then states its minimum).
KvPlacement place_kv(const std::vector<KvLayerCost>& layers, uint64 vram_bytes);

}  // namespace vk_symbiote
