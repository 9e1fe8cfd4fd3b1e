#include "probe/Peaks.h"

#include <filesystem>

#include "probe/Probes.h"

namespace vk_symbiote::probe {

OraclePeaks find_peaks(const Path& cache_dir, const std::string& device_name, const Path& model, bool probe_if_missing) {
    OraclePeaks p;
    const Path file = cache_dir / "probes.json";
    auto cached = ProbeCache(file).load(machine_key(host_name(), cpu_model_name(), device_name));
    if (cached) {
        p.disk_gbps = cached->disk_read.measured ? cached->disk_read.gbps : 0;
        p.host_to_device_gbps = cached->host_to_device.measured ? cached->host_to_device.gbps : 0;
        p.host_memory_gbps = cached->host_memory.measured ? cached->host_memory.gbps : 0;
        p.source = "probe cache " + file.string() + " (" + cached->probed_at + ")";
        return p;
    }
    if (!probe_if_missing) {
        p.source = "not probed (vk_symbiote_benchmark probes and caches them)";
        return p;
    }
    HostMemoryProbeOptions ho;
    ho.buffer_bytes = uint64(512) << 20;
    ho.repetitions = 2;
    if (auto h = probe_host_memory(ho)) p.host_memory_gbps = h->gbps;
    // A disk read of a small file measures latency, not bandwidth: only from 256 MiB.
    std::error_code ec;
    const bool big = std::filesystem::file_size(model, ec) >= (uint64(256) << 20) && !ec;
    DiskProbeOptions d;
    d.max_bytes = uint64(512) << 20;
    if (big)
        if (auto r = probe_disk_read(model, d)) p.disk_gbps = r->gbps;
    p.source = std::string("host memory") + (big ? " and disk" : "") +
               " probed now (quick), bus peak not probed (vk_symbiote_benchmark probes and caches it)";
    return p;
}

}  // namespace vk_symbiote::probe
