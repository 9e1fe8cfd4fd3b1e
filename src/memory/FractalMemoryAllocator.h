// FractalMemoryAllocator: a buddy sub-allocator over big blocks obtained from a
// BlockSource (VkDeviceMemory for the Vulkan backend, aligned host memory for tests and
// pinned staging). Each block is a power of two bytes; level 0 is the whole block, level
// k holds chunks of block_size >> k. An allocation takes the smallest chunk >= its size
// (and >= its alignment), splitting larger chunks in halves; a freed chunk merges with its
// free buddy (offset ^ size), recursively, so freeing everything restores whole blocks.
// Chunk offsets are multiples of the chunk size, hence every power-of-two alignment up
// to the chunk size holds without padding.
//
// Requests larger than block_size get a dedicated block of their own (when <= the
// source's max_allocation_size), never a split. Empty blocks are kept (reserved) until
// trim() returns them to the source.
//
// Thread-safety: every public member function may be called from any thread (one mutex).
#pragma once

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// One big block handed out by a BlockSource. `native` is the source's handle (a
// VkDeviceMemory cast to uint64 for Vulkan, 0 for host memory).
struct MemoryBlock {
    uint64 native = 0;
    void* mapped = nullptr;  // host address of byte 0 when host-visible, else nullptr
    uint64 size = 0;
};

class BlockSource {
public:
    virtual ~BlockSource() = default;
    virtual Expected<MemoryBlock> allocate_block(uint64 size) = 0;
    virtual void free_block(const MemoryBlock& block) = 0;
    // Largest single block the source can produce (e.g. maxMemoryAllocationSize).
    virtual uint64 max_allocation_size() const = 0;
    virtual std::string name() const = 0;
};

// Host memory (std::aligned_alloc, 4096-byte aligned). For tests and host staging.
class HostBlockSource final : public BlockSource {
public:
    explicit HostBlockSource(uint64 max_allocation = uint64(1) << 40) : max_(max_allocation) {}
    Expected<MemoryBlock> allocate_block(uint64 size) override;
    void free_block(const MemoryBlock& block) override;
    uint64 max_allocation_size() const override { return max_; }
    std::string name() const override { return "host"; }

private:
    uint64 max_;
};

struct MemoryAllocation {
    uint64 native = 0;       // the block's native handle
    void* mapped = nullptr;  // host address of this allocation (nullptr if not host-visible)
    uint64 offset = 0;       // byte offset inside the block
    uint64 size = 0;         // bytes requested
    uint64 chunk_size = 0;   // bytes reserved (power of two, or the dedicated block size)
    uint32 block_index = 0;  // internal: which block
    bool dedicated = false;
    bool valid() const { return chunk_size != 0; }
};

struct AllocatorStats {
    uint64 bytes_requested = 0;     // sum of live allocation sizes
    uint64 bytes_in_use = 0;        // sum of live chunk sizes (includes rounding to powers of two)
    uint64 bytes_reserved = 0;      // sum of block sizes obtained from the source
    uint64 total_free = 0;          // bytes_reserved - bytes_in_use
    uint64 largest_free_block = 0;  // largest free chunk
    uint64 live_allocations = 0;
    uint64 blocks = 0;
    // 1 - largest_free / total_free (0 when nothing is free): 0 = all free space in one piece.
    double external_fragmentation() const {
        return total_free == 0 ? 0.0 : 1.0 - double(largest_free_block) / double(total_free);
    }
};

class FractalMemoryAllocator {
public:
    // block_size and min_chunk are rounded up to powers of two; block_size is capped by
    // the source's max_allocation_size. The source must outlive the allocator.
    FractalMemoryAllocator(BlockSource& source, uint64 block_size, uint64 min_chunk = 256);
    ~FractalMemoryAllocator();
    FractalMemoryAllocator(const FractalMemoryAllocator&) = delete;
    FractalMemoryAllocator& operator=(const FractalMemoryAllocator&) = delete;

    // alignment: a power of two (0 or 1 = none). size 0 is an InvalidArgument error.
    Expected<MemoryAllocation> allocate(uint64 size, uint64 alignment = 1);
    void free(const MemoryAllocation& a);
    // Returns empty blocks to the source.
    void trim();

    AllocatorStats stats() const;
    uint64 block_size() const { return block_size_; }
    uint64 min_chunk() const { return min_chunk_; }
    // Free chunks of every block as (block_index, offset, size), for invariant checks in tests.
    std::vector<std::array<uint64, 3>> free_chunks() const;

private:
    struct Block {
        MemoryBlock mem;
        bool dedicated = false;
        bool in_use = true;              // false once returned to the source (slot reusable)
        std::vector<std::set<uint64>> free_by_level;  // offsets of free chunks per level
        uint64 used = 0;
    };
    uint32 levels() const;
    uint32 level_of(uint64 chunk) const;
    Expected<uint32> add_block(uint64 size, bool dedicated);
    bool take_from(uint32 bi, uint32 level, uint64& offset);

    BlockSource& source_;
    uint64 block_size_;
    uint64 min_chunk_;
    mutable std::mutex mu_;
    std::vector<Block> blocks_;
    uint64 requested_ = 0;
    uint64 live_ = 0;
};

uint64 next_pow2(uint64 v);

}  // namespace vk_symbiote
