// StreamCopySchedule: before which kernel group of a prompt pass each shader copy (copy.comp)
// of streamed weights is recorded, so it runs beside the weight kernels in the same queue (a
// transfer queue may be time-sliced with compute: docs/tuning.md). Pure arithmetic.
// Groups: Q/K/V, O, gate/up, down of each layer, then the head, with their weight bytes (a
// proxy for time) and the slot ranges they read. A copy chunk may go before group k when no
// group in [k, consumer) reads its range, and must go before consumer - 1 to overlap, else
// right before the consumer behind a barrier; each group takes a share by its weight bytes.
#pragma once

#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct CopyRange {
    uint64 begin = 0, end = 0;  // [begin, end) in slot space
};

struct CopyGroup {
    uint64 weight_bytes = 0;        // all weights the group's kernels read (resident or streamed)
    std::vector<CopyRange> reads;   // slot space ranges it reads
};

struct SlotCopy {
    uint32 consumer = 0;  // first group that reads it
    CopyRange dst;        // slot space
    uint32 source = 0;    // caller's index (which source buffer / offset)
};

// One chunk to record before a group: bytes [offset, offset + bytes) of copies[copy].
struct CopyIssue {
    uint32 copy = 0;
    uint64 offset = 0, bytes = 0;
};

class StreamCopySchedule {
public:
    // chunk_bytes: the largest piece recorded at once (a multiple of 16; copies are split at
    // multiples of it, so their alignment is kept). budget_scale multiplies every group's
    // share (1: in proportion to weight bytes; larger: copies run further ahead).
    StreamCopySchedule(const std::vector<CopyGroup>& groups, const std::vector<SlotCopy>& copies, uint64 chunk_bytes, double budget_scale = 1.0);

    // Chunks to record before group g (after the barrier that ends group g - 1).
    const std::vector<CopyIssue>& before(uint32 g) const { return before_[g]; }
    // The first forced(g) chunks of before(g) are consumed by g itself: record a barrier
    // after them (before the others, which then run beside g).
    uint32 forced(uint32 g) const { return forced_[g]; }
    uint32 groups() const { return uint32(before_.size()); }
    uint64 total_bytes() const { return total_; }
    // Bytes recorded behind an extra barrier (no overlap): 0 in a well-formed plan.
    uint64 unoverlapped_bytes() const { return unoverlapped_; }

private:
    std::vector<std::vector<CopyIssue>> before_;
    std::vector<uint32> forced_;
    uint64 total_ = 0, unoverlapped_ = 0;
};

}  // namespace vk_symbiote
