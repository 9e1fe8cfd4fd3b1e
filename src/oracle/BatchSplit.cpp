#include "oracle/BatchSplit.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote {

uint32 BatchSplit::row_class(uint32 rows) {
    uint32 c = 1;
    while (c < rows && c < (1u << 30)) c <<= 1;
    return c;
}

void BatchSplit::record_cpu(uint32 rows, uint64 bytes, double seconds) {
    if (bytes == 0 || seconds <= 0) return;
    const double r = double(bytes) / seconds;
    auto [it, fresh] = rate_.emplace(row_class(rows), r);
    if (!fresh) it->second = 0.75 * it->second + 0.25 * r;  // smooths one slow pass (page faults, a busy core)
}

double BatchSplit::cpu_rate(uint32 rows) const {
    auto it = rate_.upper_bound(row_class(rows));  // the first class above B's
    if (it == rate_.begin()) return seed_;
    return std::prev(it)->second;
}

uint32 BatchSplit::cpu_heads(uint32 rows, double bus_bps) const {
    if (g_ < 2 || min_ >= g_ || rows > kMaxCpuRows) return 0;
    const double cpu = cpu_rate(rows), bus = bus_rate(bus_bps);
    const uint32 lo = std::max(min_, 1u);
    if (cpu <= 0 || bus <= 0) return lo <= g_ / 2 ? g_ / 2 : 0;
    // Both sides finish together at h = G cpu / (cpu + bus); per unit of S bytes:
    const double G = g_;
    auto pass = [&](uint32 h) { return std::max(h / G / cpu, (G - h) / G / bus); };
    const uint32 best = uint32(std::llround(G * cpu / (cpu + bus)));
    uint32 h = std::clamp(best, lo, g_ - 1);
    // The rounded share or its neighbour, whichever the model says is faster.
    if (h + 1 <= g_ - 1 && pass(h + 1) < pass(h)) ++h;
    if (h > lo && pass(h - 1) < pass(h)) --h;
    return pass(h) < 1.0 / bus ? h : 0;
}

void BatchSplit::record_bus(uint64 bytes, double gpu_s, bool bus_bound, double bus_bps) {
    if (bytes == 0 || gpu_s <= 0) return;
    const double r = double(bytes) / gpu_s;
    if (bus_bound) bus_ = bus_ > 0 ? 0.75 * bus_ + 0.25 * r : r;
    else if (bus_ > 0) bus_ = std::max({bus_, r, bus_bps > bus_ ? 0.75 * bus_ + 0.25 * bus_bps : 0.0});
}

BatchSplit::Prediction BatchSplit::predict(uint32 rows, uint32 heads, double bus_bps, uint64 bytes) const {
    const double cpu = cpu_rate(rows), bus = bus_rate(bus_bps), G = g_, S = double(bytes);
    Prediction p;
    if (heads > 0) p.cpu_s = cpu > 0 ? S * heads / G / cpu : INFINITY;
    p.bus_s = bus > 0 ? S * (G - std::min<double>(heads, G)) / G / bus : INFINITY;
    return p;
}

}  // namespace vk_symbiote
