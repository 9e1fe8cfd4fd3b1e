// VulkanBackend::stats(): the engine's snapshot of the backend, built from its public
// accessors only (counters since prepare(), the placement, the hybrid decode's state); and
// the stream timeline's debug log.
#include <cstdio>
#include <string>

#include "backend/vulkan/VulkanBackend.h"
#include "backend/vulkan/WeightStreamRing.h"
#include "config/Logger.h"

namespace vk_symbiote {

namespace {

std::string ms(double seconds) { return std::to_string(int(seconds * 1000)); }

std::string fixed1(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

// The hybrid decode's share and timings since prepare(), after the placement summary.
std::string hybrid_text(const VulkanBackend& b) {
    const std::string share = b.hybrid_rows() ? "rows split, the CPU's share of every streamed layer " + std::to_string(b.hybrid_cpu_heads()) + " of " +
                                                    std::to_string(b.model_kv_heads()) + " KV heads now (at least " +
                                                    std::to_string(b.hybrid_min_cpu_heads()) + "), "
                                              : std::to_string(b.hybrid_cpu_layers()) + " streamed layers on the CPU now, ";
    std::string t = "; hybrid decode: " + share + std::to_string(b.hybrid_cpu_layer_runs()) + " CPU layer runs, " + ms(b.hybrid_cpu_seconds()) +
                    " ms CPU, " + ms(b.hybrid_wait_seconds()) + " ms waiting for the GPU side";
    if (b.hybrid_rows()) {
        const auto& w = b.hybrid_rows_waits();
        t += " (after attention / wo / gate-up / down / for x after resident layers: " + ms(w[0]) + " / " + ms(w[1]) + " / " + ms(w[2]) + " / " +
             ms(w[3]) + " / " + ms(w[4]) + " ms)";
    }
    if (const ComputeSplit* sp = b.hybrid_split())
        t += "; split search: best " + std::to_string(sp->best_cpu_layers()) + " of " + std::to_string(sp->streamed_layers()) + " at " +
             fixed1(sp->best_token_seconds() * 1e3) + " ms/token" + (sp->settled() ? ", settled" : ", exploring") + " after " +
             std::to_string(sp->changes()) + " changes" + (sp->reseeded() ? " (re-seeded from the measured rates)" : "");
    return t;
}

}  // namespace

BackendStats VulkanBackend::stats() {
    BackendStats s;
    s.gpu_time_ns = total_gpu_time_ns();
    s.weight_bytes_uploaded = weight_bytes_uploaded();
    s.vram_hits = vram_hits();
    s.vram_misses = vram_misses();
    s.expert_vram_hits = expert_vram_hits();
    s.expert_vram_misses = expert_vram_misses();
    s.hybrid_cpu_weight_bytes = hybrid_cpu_weight_bytes();
    s.ram_kv_gpu_rows = ram_kv_gpu_rows();
    s.ram_kv_streamed_bytes = ram_kv_streamed_bytes();
    for (const auto& k : shaders().kernel_times()) s.kernel_times.push_back({k.name, k.dispatches, k.total_ns});
    s.decode_recording = last_decode_recording();
    if (model_ && model_->ahead) {
        s.decode_recording.queued_ahead = model_->ahead->used;
        s.decode_recording.dropped_ahead = model_->ahead->dropped;
    }
    s.n_layers = uint32(plan().segment_stream_bytes.size()) - 1;
    s.vram_resident_layers = plan().resident_layers;
    s.streamed_layers = streamed_layer_count();
    s.decode_cpu_layers = hybrid_cpu_layers();
    s.decode_cpu_kv_heads = hybrid_cpu_heads();
    s.decode_head_on_cpu = hybrid_head_on_cpu();
    s.decode_kv_heads = hybrid_rows() ? model_kv_heads() : 0;
    s.weight_bytes_vram_resident = plan().resident_weight_bytes;
    s.device_memory_reserved = device_memory_stats().bytes_reserved;
    const HardwareTelemetry t = telemetry();
    s.telemetry_cpu_weight_gbps = t.cpu_weight_bps * 1e-9;
    s.telemetry_gpu_weight_gbps = t.gpu_weight_bps * 1e-9;
    s.telemetry_host_to_device_gbps = t.host_to_device_bps * 1e-9;
    const StreamOverlap so = stream_overlap(stream_timeline());
    s.stream_span_ns = so.span_ns;
    s.stream_upload_busy_ns = so.upload_ns;
    s.stream_compute_busy_ns = so.compute_ns;
    s.stream_overlap_ns = so.both_ns;
    s.placement = plan().summary();
    if (hybrid_cpu_layer_runs() > 0) s.placement += hybrid_text(*this);
    const auto& one = one_row_passes();
    if (one[kOneRowShader] + one[kOneRowDma] + one[kOneRowGpu] > 0)
        s.placement += "; one-row batched passes: " + std::to_string(one[kOneRowShader]) + " rows split by copy.comp, " + std::to_string(one[kOneRowDma]) +
                       " rows split by DMA, " + std::to_string(one[kOneRowGpu]) + " all on the GPU";
    return s;
}

void VulkanBackend::log_timeline(uint32 n_tokens) const {
    const StreamOverlap o = stream_overlap(last_timeline_);
    VKS_LOG_DEBUG("stream timeline (" << n_tokens << " tokens): span " << o.span_ns / 1000 << " us, uploads " << o.uploads << " busy "
                                      << o.upload_ns / 1000 << " us, compute " << o.computes << " busy " << o.compute_ns / 1000
                                      << " us, both " << o.both_ns / 1000 << " us");
    for (const auto& s : last_timeline_)
        VKS_LOG_DEBUG("  " << (s.kind == StreamSpan::Upload ? "upload " : "compute") << " slot " << s.slot << " " << s.start_ns / 1000 << " .. "
                           << s.end_ns / 1000 << " us" << (s.bytes ? " " + std::to_string(s.bytes >> 20) + " MiB" : std::string()));
}

}  // namespace vk_symbiote
