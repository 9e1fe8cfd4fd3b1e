// MultiDeviceBackend's statistics: each device's part (DevicePartStats) and their sums in the
// one-device fields, and the one-line summary of the placement.
#include "backend/vulkan/MultiDeviceBackend.h"

namespace vk_symbiote {

namespace {

void add_counters(BackendStats& sum, const BackendStats& s) {
    sum.gpu_time_ns += s.gpu_time_ns;
    sum.weight_bytes_uploaded += s.weight_bytes_uploaded;
    sum.vram_hits += s.vram_hits;
    sum.vram_misses += s.vram_misses;
    sum.hybrid_cpu_weight_bytes += s.hybrid_cpu_weight_bytes;
    sum.kernel_times.insert(sum.kernel_times.end(), s.kernel_times.begin(), s.kernel_times.end());
    sum.n_layers += s.n_layers;
    sum.vram_resident_layers += s.vram_resident_layers;
    sum.streamed_layers += s.streamed_layers;
    sum.decode_cpu_layers += s.decode_cpu_layers;
    sum.decode_cpu_kv_heads += s.decode_cpu_kv_heads;
    sum.decode_head_on_cpu = sum.decode_head_on_cpu || s.decode_head_on_cpu;
    sum.weight_bytes_vram_resident += s.weight_bytes_vram_resident;
    sum.device_memory_reserved += s.device_memory_reserved;
    sum.stream_span_ns += s.stream_span_ns;
    sum.stream_upload_busy_ns += s.stream_upload_busy_ns;
    sum.stream_compute_busy_ns += s.stream_compute_busy_ns;
    sum.stream_overlap_ns += s.stream_overlap_ns;
}

std::string range_text(const LayerRange& r) { return "layers [" + std::to_string(r.first) + ", " + std::to_string(r.first + r.count) + ")"; }

}  // namespace

BackendStats MultiDeviceBackend::stats() {
    BackendStats sum;
    for (uint32 d = 0; d < parts_.size(); ++d) {
        const BackendStats s = parts_[d]->stats();
        add_counters(sum, s);
        sum.decode_kv_heads = s.decode_kv_heads;
        // The rates: the first device's (each device measures its own link).
        if (d == 0) {
            sum.telemetry_cpu_weight_gbps = s.telemetry_cpu_weight_gbps;
            sum.telemetry_gpu_weight_gbps = s.telemetry_gpu_weight_gbps;
            sum.telemetry_host_to_device_gbps = s.telemetry_host_to_device_gbps;
        }
        DevicePartStats p;
        p.device = parts_[d]->device_name();
        p.device_index = parts_[d]->device_index();
        if (d < ranges_.size()) {
            p.first_layer = ranges_[d].first;
            p.n_layers = ranges_[d].count;
        }
        p.embeds = d == 0;
        p.head = d + 1 == parts_.size();
        p.vram_resident_layers = s.vram_resident_layers;
        p.streamed_layers = s.streamed_layers;
        p.weight_bytes_vram_resident = s.weight_bytes_vram_resident;
        p.weight_bytes_uploaded = s.weight_bytes_uploaded;
        p.vram_budget_bytes = parts_[d]->vram_budget_bytes();
        p.device_memory_peak = parts_[d]->device_memory_stats().bytes_reserved;
        p.activation_bytes_in = d < rows_in_.size() ? rows_in_[d] : 0;
        p.placement = s.placement;
        sum.devices.push_back(std::move(p));
    }
    sum.placement = summary();
    return sum;
}

std::string MultiDeviceBackend::summary() const {
    std::string s;
    for (uint32 d = 0; d < parts_.size(); ++d) {
        s += (d ? "; " : "") + std::string("device ") + std::to_string(d) + " (" + parts_[d]->device_name() + ")";
        if (d < ranges_.size()) s += " " + range_text(ranges_[d]);
        if (parts_[d]->n_ctx() > 0) s += ": " + parts_[d]->plan().summary();
    }
    return s;
}

}  // namespace vk_symbiote
