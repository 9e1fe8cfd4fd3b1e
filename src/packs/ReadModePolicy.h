// ReadModePolicy: whether packs keep coming from the compressed pack cache or are read raw
// from the model file, judged from the pack reads' telemetry. No clock, no I/O, no locks:
// the manager feeds it what the I/O and decode threads measured; tests feed synthetic rates.
//
// Rates, bytes per second:
//  - disk: stored bytes read / the I/O threads' active time (wall time with at least one
//    read in flight): what the storage gives at the engine's queue depth;
//  - decode capacity: raw bytes decoded / the decode threads' summed busy time x decode
//    threads (each decode thread has a core of its own);
//  - compressed delivery: min(disk / stored ratio, decode capacity), the raw bytes per
//    second the pack cache path hands over;
//  - raw delivery: disk (the model file read at the rate the cache file was read).
// Auto reads raw once compressed delivery < raw delivery (the codec slows the run: the
// decode capacity is below the disk's rate), judged after kMinPacks decoded packs. The
// switch is for the rest of the run (the manager never switches back).
#pragma once

#include <string>
#include <string_view>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// [memory] compressed_reads: auto (the rule above), always (never fall back), never (raw
// reads of the model file even when a pack cache exists).
enum class CompressedReads : uint8 { Auto, Always, Never };
Expected<CompressedReads> parse_compressed_reads(std::string_view s);
const char* compressed_reads_name(CompressedReads m);

// What the pack reads measured so far (cumulative since the manager started).
struct PackReadTelemetry {
    uint64 stored_bytes_read = 0;    // bytes read from storage (the pack cache's stored bytes)
    double io_active_seconds = 0;    // wall time with at least one read in flight
    uint64 raw_bytes_decoded = 0;    // raw pack bytes the decode threads produced
    double decode_busy_seconds = 0;  // summed wall time of decodes (+ checksums) over decode threads
    uint32 decode_threads = 0;
    uint64 packs_decoded = 0;
};

struct ReadModeVerdict {
    bool decided = false;  // enough packs to judge (always decided for Always / Never)
    bool read_raw = false;
    double disk_bps = 0, decode_bps = 0, compressed_bps = 0, raw_bps = 0;
    std::string reason;  // one line for the log: the rates and the rule
};

class ReadModePolicy {
public:
    static constexpr uint64 kMinPacks = 8;
    // `stored_ratio`: the cache's stored / raw bytes (PackCacheReader::ratio, in (0, 1]).
    static ReadModeVerdict judge(const PackReadTelemetry& t, double stored_ratio, CompressedReads mode);
};

}  // namespace vk_symbiote
