// PackReadStats: the pack-read figures (weights streamed in packs; all 0 otherwise), held by
// the engine's PerformanceMetrics (since the metrics were reset) and the benchmark's RunSample
// (deltas over a timed run); both inherit them, so users read m.pack_io_busy_seconds as before.
#pragma once

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Times in seconds, sums over threads where said. With a pack cache the decode threads turn
// the stored (compressed) bytes they read into the raw bytes the weights need.
struct PackReadStats {
    double pack_io_busy_seconds = 0;      // the I/O threads' summed busy time
    double pack_io_active_seconds = 0;    // wall time with a read in flight
    double pack_decode_busy_seconds = 0;  // the decode threads' summed busy time (pack cache)
    uint32 pack_decode_threads = 0;       // their count (0: no pack cache)
    uint64 pack_cache_bytes_read = 0;     // stored bytes read from the pack cache
    uint64 pack_cache_bytes_delivered = 0;  // raw bytes they delivered
    // Packs are read raw from the model file although a cache exists ([memory] compressed_reads).
    bool pack_reads_raw = false;
};

}  // namespace vk_symbiote
