#include "engine/OracleLine.h"

#include <cstdio>
#include <filesystem>

#include "common/Units.h"
#include "probe/Probes.h"

namespace vk_symbiote {

namespace {

std::string f2(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}

// Bytes moved per forward pass, in the unit of the rates beside them: "3.39 GB" or, below
// 0.1 GB, "12.3 MB" (small models). What sits in a budget is in GiB (format_gib).
std::string amount(double bytes) {
    char b[32];
    if (bytes >= 1e8) std::snprintf(b, sizeof b, "%.2f GB", bytes / 1e9);
    else std::snprintf(b, sizeof b, "%.1f MB", bytes / 1e6);
    return b;
}

// "29.3 GB/s (57% of the 51.1 GB/s peak)" or "29.3 GB/s (peak unknown)".
std::string rate(double bytes, double seconds, double peak) {
    const double gbps = seconds > 0 ? bytes / seconds / 1e9 : 0;
    char b[96];
    if (peak > 0) std::snprintf(b, sizeof b, "%.1f GB/s (%.0f%% of the %.1f GB/s peak)", gbps, 100.0 * gbps / peak, peak);
    else std::snprintf(b, sizeof b, "%.1f GB/s (peak unknown)", gbps);
    return b;
}

}  // namespace

std::string oracle_line(const PerformanceMetrics& m, const OraclePeaks& p) {
    const double passes = double(std::max<uint64>(1, m.total_inferences));
    const double secs = double(m.total_inference_time_ns) / 1e9;
    std::string s = "oracle: ";
    if (m.backend.rfind("vulkan", 0) == 0) {
        s += "VRAM-resident " + format_gib(m.weight_bytes_vram_resident) + " of weights (" + std::to_string(m.vram_resident_layers) + " of " +
             std::to_string(m.n_layers) + " layers whole), " + std::to_string(m.streamed_layers) + " layers streamed";
        if (m.decode_kv_heads > 0)
            s += ", decode split by rows: in every streamed layer the CPU computes " + std::to_string(m.decode_cpu_kv_heads) + " of " +
                 std::to_string(m.decode_kv_heads) + " KV heads' share of the rows from RAM, the GPU the rest streamed" +
                 (m.decode_head_on_cpu ? " (the output head all on the CPU)" : "");
        else if (m.weight_bytes_cpu > 0 || m.decode_cpu_layers > 0)
            s += ", decode split " + std::to_string(m.decode_cpu_layers) + " on the CPU from RAM / " +
                 std::to_string(m.streamed_layers - std::min(m.streamed_layers, m.decode_cpu_layers)) + " streamed to the GPU";
    } else {
        s += "CPU path, all " + std::to_string(m.n_layers) + " layers computed from RAM";
    }
    if (m.ram_pack_budget_bytes > 0) {
        char b[200];
        const std::string cap = m.ram_read_ahead_bytes > 0 ? " (at most " + format_gib(m.ram_read_ahead_bytes) + " on the way)" : "";
        std::snprintf(b, sizeof b, "; RAM tier: packs %s resident of a %s budget, read-ahead %u layer(s)%s, predictions %.1f%% hit",
                      format_gib(m.ram_pack_resident_bytes).c_str(), format_gib(m.ram_pack_budget_bytes).c_str(), m.ram_lookahead_layers, cap.c_str(),
                      100.0 * m.ram_prediction_hit_rate);
        s += b;
    }
    s += "; per forward pass: disk " + amount(m.weight_bytes_disk / passes) + ", bus " + amount(m.weight_bytes_uploaded / passes) +
         ", CPU from RAM " + amount(m.weight_bytes_cpu / passes);
    s += "; achieved: disk " + rate(double(m.weight_bytes_disk), secs, p.disk_gbps) + ", bus " + rate(double(m.weight_bytes_uploaded), secs, p.host_to_device_gbps) +
         ", CPU " + rate(double(m.weight_bytes_cpu), secs, p.host_memory_gbps);
    if (m.telemetry_cpu_weight_gbps > 0 || m.telemetry_gpu_weight_gbps > 0 || m.telemetry_host_to_device_gbps > 0)
        s += "; measured rates: CPU layers " + f2(m.telemetry_cpu_weight_gbps) + " GB/s, GPU passes " + f2(m.telemetry_gpu_weight_gbps) +
             " GB/s, host->device " + f2(m.telemetry_host_to_device_gbps) + " GB/s";
    s += "; " + std::to_string(m.total_inferences) + " passes in " + f2(secs) + " s";
    if (!p.source.empty()) s += "; peaks: " + p.source;
    return s;
}

}  // namespace vk_symbiote
