// BatchSplit: how many KV heads' share of every streamed matrix the CPU computes in a batched
// pass of B rows (the Vulkan backend's rows split with a KV pool), or none (every streamed
// layer crosses the bus whole). Decisions only: the caller reports each rows pass's CPU part
// (bytes of weights, seconds) and the bus rate; no clock, no I/O.
// The model: one pass reads S streamed bytes; h of G KV heads put S h / G of them on the CPU
// and the rest on the bus, so a pass takes max(S h / G / cpu(B), S (G - h) / G / bus), and
// streaming everything takes S / bus. The bus cost does not depend on B, the CPU's does: its
// rate cpu(B) is measured per class of B (powers of two), since a batched matmul turns from
// memory-bound to compute-bound as B grows. A class not measured yet takes the rate of the
// nearest smaller measured class (optimistic: its first pass measures it), the smallest the
// single-token rate the caller seeds. The bus rate is the caller's (measured in earlier runs or
// probed) until batched passes measured their own (record_bus: DMA beside the CPU's reads of the
// same memory may run slower than a probe). Passes of more than kMaxCpuRows rows (prompt-sized)
// get no CPU share: there the GPU is compute-bound and one optimistic first pass could cost the
// CPU seconds.
#pragma once

#include <map>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class BatchSplit {
public:
    static constexpr uint32 kMaxCpuRows = 64;

    // n_head_kv: G; min_heads: the fewest CPU heads the layout allows (the GPU's pieces must fit
    // half a slot); the CPU keeps at least one head (none is a pass of whole layers) and at most
    // G - 1 (the GPU keeps one head's rows).
    BatchSplit(uint32 n_head_kv, uint32 min_heads) : g_(n_head_kv), min_(min_heads) {}

    // The class of B rows: the smallest power of two >= B.
    static uint32 row_class(uint32 rows);
    // The CPU's weight rate (bytes / s) before any batch was measured (the single-token rate).
    void seed_cpu_rate(double bps) { seed_ = bps; }
    // A rows pass of `rows` rows: the CPU read `bytes` of weights in `seconds` (smoothed per class).
    void record_cpu(uint32 rows, uint64 bytes, double seconds);
    // The CPU's rate for B rows (0: unknown).
    double cpu_rate(uint32 rows) const;
    // CPU KV heads for a pass of B rows over the bus at bus_bps: in [min_heads, G - 1], or 0 when
    // streaming every layer whole is faster, B > kMaxCpuRows, or no rate is known and min_heads > G / 2.
    // bus_bps: the caller's bus rate, used until record_bus measured one.
    uint32 cpu_heads(uint32 rows, double bus_bps) const;

    // A rows pass uploaded `bytes` while its exchanges that read them took `gpu_s` (submission
    // to done); bus_bound: they waited for their uploads, so bytes / gpu_s is the bus's rate.
    // Else it is only a lower bound, and the rate moves a quarter of the way back to the
    // caller's `bus_bps`: a rate measured too low gives the CPU too much, its passes stop
    // waiting for the bus, and the share comes back until they just do (the balance).
    void record_bus(uint64 bytes, double gpu_s, bool bus_bound, double bus_bps);
    double bus_rate(double fallback) const { return bus_ > 0 ? bus_ : fallback; }
    // Seconds of the two sides of a pass of B rows with h CPU heads over `bytes` streamed bytes.
    struct Prediction {
        double cpu_s = 0, bus_s = 0;
        double pass_s() const { return cpu_s > bus_s ? cpu_s : bus_s; }
    };
    Prediction predict(uint32 rows, uint32 heads, double bus_bps, uint64 bytes) const;

private:
    uint32 g_, min_;
    double seed_ = 0, bus_ = 0;
    std::map<uint32, double> rate_;  // row class -> measured CPU bytes / s
};

}  // namespace vk_symbiote
