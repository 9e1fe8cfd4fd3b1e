// StreamCopySchedule: where, in a prompt pass, the shader copies (copy.comp) of streamed
// weights into the streaming slots are recorded, so that they run beside the weight kernels
// instead of before them. Pure arithmetic (no Vulkan), unit-tested without a device.
//
// Why: on the H100 the transfer queue and a second compute queue are time-sliced with the
// compute queue (vk_symbiote_kernel_bench --overlap: a 1.5 GB host->device DMA beside 25 ms of
// prompt kernels finished after 64 ms, more than the 58 ms of both alone), while a copy
// kernel of a few workgroups recorded between the weight kernels of the same command buffer
// overlapped them (39 ms). Everything then runs in one queue, in recording order: a copy
// recorded after a barrier starts once every earlier kernel finished, and the barrier after
// the next kernel makes it visible to the kernels after that barrier. So no semaphores.
//
// Model. A pass is a sequence of kernel groups (the dispatches between two barriers that
// read weights: Q/K/V, O, gate/up, down of each layer, then the head), each with its weight
// bytes (a proxy for its time) and the slot byte ranges it reads. Copies (ranges of the slot
// space: slot * slot_bytes + offset) are needed by a consumer group. A chunk of a copy may be
// recorded before group k (running beside k) when no group in [k, consumer) reads its range
// (the old contents: with one slot, layer i + 1's Q/K/V/O go where layer i's were as soon as
// layer i's O has run), and must be recorded before the consumer: before group consumer - 1
// to overlap, else right before the consumer behind an extra barrier (issue.barrier).
// Between those bounds chunks go in consumer order, each group taking a share in proportion
// to its weight bytes (see the .cpp: the bus then stays busy beside every kernel instead of
// the copies piling up beside the first short one that frees a range).
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
