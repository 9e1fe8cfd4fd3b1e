// Probes: the ceilings that bound inference on this machine, each measured, in GB/s
// (1e9 bytes/s), with the method named in the result.
//
//   probe_disk_read      sequential read of a file with a cold page cache where possible:
//                        O_DIRECT into aligned buffers, else posix_fadvise(DONTNEED) + buffered
//   probe_host_memory    streaming sum over a buffer much larger than the last-level cache,
//                        one thread per core, each on its own first-touched slice
//   probe_vulkan         (VulkanProbe.h) host<->device and device-local copy bandwidth,
//                        device-memory read bandwidth and f16 matmul throughput (compute shaders)
//
// Results are cached per machine (JSON under the cache dir) keyed by hostname, CPU model and
// device name; see ProbeCache. Every probe is blocking and uses the whole machine while it
// runs; none is thread-safe against another probe running at the same time.
#pragma once

#include <string>

#include "probe/ProbeResults.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::probe {

struct DiskProbeOptions {
    uint64 max_bytes = uint64(2) << 30;  // read at most this much of the file (from its start)
    uint64 block_bytes = uint64(16) << 20;  // one read() call; multiple of 4096
    bool allow_direct = true;             // false: skip O_DIRECT (tests, filesystems without it)
    // Blocks read at once (threads; a sequential read with this many requests queued, as the
    // engine's I/O threads keep it; figures: docs/tuning.md).
    uint32 in_flight = 4;
};
// Fails (Io / InvalidArgument) when the file cannot be opened or read, or is empty.
Expected<Bandwidth> probe_disk_read(const Path& file, const DiskProbeOptions& opts = {});

struct HostMemoryProbeOptions {
    uint64 buffer_bytes = 0;  // 0: max(1 GiB, 8 x last-level cache)
    uint32 threads = 0;       // 0: one per hardware thread
    uint32 repetitions = 3;   // best of
};
Expected<Bandwidth> probe_host_memory(const HostMemoryProbeOptions& opts = {});

// Machine identity for the cache key and the report.
std::string host_name();
std::string cpu_model_name();     // /proc/cpuinfo "model name" (or "unknown cpu")
uint64 last_level_cache_bytes();  // from sysfs; 0 if unknown
std::string utc_now_iso8601();
std::string machine_key(const std::string& hostname, const std::string& cpu, const std::string& device);

// Peak resident set size of this process (VmHWM), bytes; 0 if unreadable.
uint64 peak_rss_bytes();
// Resets VmHWM to the current RSS (Linux: write "5" to /proc/self/clear_refs), so a peak
// measured after it excludes e.g. the memory probe's buffer. Returns false if not supported.
bool reset_peak_rss();

// The cache file holds {"schema_version": 4, "machines": {machine_key: ProbeResults}}. A file
// of another schema version reads as NotFound (probe again) and is replaced by store().
inline constexpr int kProbeCacheSchemaVersion = 4;  // 3: host memory probed on huge-page-advised buffers; 4: the disk with 4 reads in flight
class ProbeCache {
public:
    explicit ProbeCache(Path file) : file_(std::move(file)) {}
    const Path& file() const { return file_; }
    // The cached results for `key`; NotFound if absent, Format/Io if the file is damaged.
    Expected<ProbeResults> load(const std::string& key) const;
    // Stores (replaces) the entry for results.machine_key, keeping other machines' entries.
    // Writes to a temporary file and renames it, so a crash never leaves half a cache.
    ExpectedVoid store(const ProbeResults& results) const;

private:
    Path file_;
};

// $XDG_CACHE_HOME/vk_symbiote, else $HOME/.cache/vk_symbiote, else ./.cache/vk_symbiote.
Path default_cache_dir();

}  // namespace vk_symbiote::probe
