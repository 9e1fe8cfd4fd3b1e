#include "backend/vulkan/StreamCopySchedule.h"

#include <algorithm>
#include <numeric>

namespace vk_symbiote {

namespace {
bool overlaps(const CopyRange& a, const CopyRange& b) { return a.begin < b.end && b.begin < a.end; }
}  // namespace

StreamCopySchedule::StreamCopySchedule(const std::vector<CopyGroup>& groups, const std::vector<SlotCopy>& copies, uint64 chunk_bytes,
                                       double budget_scale) {
    const uint32 G = uint32(groups.size());
    before_.assign(G, {});
    forced_.assign(G, 0);
    if (G == 0 || chunk_bytes == 0) return;
    struct Chunk {
        uint32 copy;
        uint64 offset, bytes;
        uint32 consumer, earliest;  // earliest: the first group it may run beside
    };
    std::vector<uint32> order(copies.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32 a, uint32 b) { return copies[a].consumer < copies[b].consumer; });
    std::vector<Chunk> chunks;
    for (uint32 c : order) {
        const SlotCopy& sc = copies[c];
        const uint32 consumer = std::min(sc.consumer, G - 1);
        for (uint64 off = 0; off < sc.dst.end - sc.dst.begin; off += chunk_bytes) {
            const uint64 bytes = std::min(chunk_bytes, sc.dst.end - sc.dst.begin - off);
            const CopyRange r{sc.dst.begin + off, sc.dst.begin + off + bytes};
            uint32 earliest = 0;  // after the last group before the consumer that reads the old contents
            for (uint32 j = 0; j < consumer; ++j)
                for (const CopyRange& rd : groups[j].reads)
                    if (overlaps(rd, r)) earliest = j + 1;
            chunks.push_back({c, off, bytes, consumer, earliest});
            total_ += bytes;
        }
    }
    // Spread: each group gets a budget of its weight bytes x (all copy bytes / all weight
    // bytes), i.e. a share of the copies in proportion to its share of the compute, so that the
    // copies fill every group's kernels instead of piling up beside a short one (with one slot
    // the next layer's Q/K/V/O become writable beside this layer's short O kernel, and nothing
    // else would be left for its long gate/up kernel). Unused budget does not carry over;
    // available chunks over budget wait for the next group, unless the next group is their
    // consumer (the last group they can run beside).
    double w_total = 0;
    for (const CopyGroup& g : groups) w_total += double(g.weight_bytes) + 1;
    const double ratio = double(total_) / w_total * budget_scale;
    size_t h = 0;
    for (uint32 g = 0; g < G; ++g) {
        while (h < chunks.size() && chunks[h].consumer <= g) {  // could not run beside an earlier group
            before_[g].push_back({chunks[h].copy, chunks[h].offset, chunks[h].bytes});
            forced_[g]++;
            unoverlapped_ += chunks[h].bytes;
            ++h;
        }
        const double budget = ratio * (double(groups[g].weight_bytes) + 1);
        double used = 0;
        while (h < chunks.size() && chunks[h].earliest <= g && (used < budget || chunks[h].consumer == g + 1)) {
            before_[g].push_back({chunks[h].copy, chunks[h].offset, chunks[h].bytes});
            used += double(chunks[h].bytes);
            ++h;
        }
    }
}

}  // namespace vk_symbiote
