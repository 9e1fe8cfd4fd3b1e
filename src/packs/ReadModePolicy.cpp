#include "packs/ReadModePolicy.h"

#include <algorithm>
#include <cstdio>

namespace vk_symbiote {

Expected<CompressedReads> parse_compressed_reads(std::string_view s) {
    if (s == "auto") return CompressedReads::Auto;
    if (s == "always") return CompressedReads::Always;
    if (s == "never") return CompressedReads::Never;
    return make_error(ErrorCode::InvalidArgument, "compressed_reads: '" + std::string(s) + "' is not one of auto, always, never");
}

const char* compressed_reads_name(CompressedReads m) {
    switch (m) {
        case CompressedReads::Auto: return "auto";
        case CompressedReads::Always: return "always";
        case CompressedReads::Never: return "never";
    }
    return "?";
}

ReadModeVerdict ReadModePolicy::judge(const PackReadTelemetry& t, double stored_ratio, CompressedReads mode) {
    ReadModeVerdict v;
    if (mode != CompressedReads::Auto) {
        v.decided = true;
        v.read_raw = mode == CompressedReads::Never;
        v.reason = std::string("compressed_reads = ") + compressed_reads_name(mode);
        return v;
    }
    if (t.packs_decoded < kMinPacks || t.io_active_seconds <= 0 || t.decode_busy_seconds <= 0 || t.decode_threads == 0 || t.stored_bytes_read == 0)
        return v;
    const double ratio = std::clamp(stored_ratio, 1e-3, 1.0);
    v.decided = true;
    v.disk_bps = double(t.stored_bytes_read) / t.io_active_seconds;
    v.decode_bps = double(t.raw_bytes_decoded) / t.decode_busy_seconds * double(t.decode_threads);
    v.compressed_bps = std::min(v.disk_bps / ratio, v.decode_bps);
    v.raw_bps = v.disk_bps;
    v.read_raw = v.compressed_bps < v.raw_bps;
    char b[256];
    std::snprintf(b, sizeof b,
                  "disk %.2f GB/s, %u decode thread(s) %.2f GB/s of raw bytes, stored/raw %.3f: compressed reads deliver %.2f GB/s, raw reads %.2f GB/s "
                  "(after %llu packs)",
                  v.disk_bps / 1e9, t.decode_threads, v.decode_bps / 1e9, ratio, v.compressed_bps / 1e9, v.raw_bps / 1e9,
                  static_cast<unsigned long long>(t.packs_decoded));
    v.reason = b;
    return v;
}

}  // namespace vk_symbiote
