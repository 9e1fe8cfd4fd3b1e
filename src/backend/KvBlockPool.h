// KvBlockPool: the bookkeeping of a paged KV cache (the blocks themselves are the backend's
// storage; KvLayout gives their geometry). Blocks are handed out on demand, returned when a
// sequence ends, and reference counted so that sequences with a common prefix share its
// blocks. A write into a block that another table still reads copies it first (copy on
// write): the pool allocates the copy and asks the backend to copy the valid positions.
// Not thread-safe: one scheduler (or one backend's own sequence) drives it.
#pragma once

#include <functional>
#include <vector>

#include "model/KvLayout.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// One sequence's view of the cache: block ids for positions [0, blocks.size() x P), of
// which positions [0, n_pos) hold K and V.
struct KvBlockTable {
    std::vector<uint32> blocks;
    uint32 n_pos = 0;
};

class KvBlockPool {
public:
    // Copies positions [0, n) of every layer's K and V rows from block src to block dst.
    using CopyBlock = std::function<void(uint32 src, uint32 dst, uint32 n)>;

    KvBlockPool() = default;
    // value_bytes: bytes of one stored K / V value (4: the CPU's f32 rows; 2: a device's f16).
    KvBlockPool(const KvLayout& layout, CopyBlock copy, uint32 value_bytes = 4);

    const KvLayout& layout() const { return layout_; }
    // Bytes the blocks take where they are stored (the layout counts f32 values).
    uint64 storage_bytes() const { return layout_.bytes() / sizeof(float) * value_bytes_; }
    uint32 block_positions() const { return layout_.block_positions; }
    uint32 n_blocks() const { return layout_.n_blocks; }
    uint32 free_blocks() const { return uint32(free_.size()); }
    uint32 used_blocks() const { return n_blocks() - free_blocks(); }
    uint32 peak_used_blocks() const { return peak_used_; }
    uint32 ref_count(uint32 block) const { return refs_.at(block); }

    // Makes positions [from, to) of `t` writable, from <= t.n_pos: positions past `from` are
    // dropped (their blocks released), missing blocks are allocated and a shared block that
    // the write touches is copied first. Afterwards t.n_pos = to. OutOfMemory when the pool
    // lacks blocks: then only the drop past `from` has happened.
    ExpectedVoid prepare_write(KvBlockTable& t, uint32 from, uint32 to);
    // Blocks prepare_write(t, from, to) would allocate (after its drop past `from`).
    uint32 blocks_to_write(const KvBlockTable& t, uint32 from, uint32 to) const;
    // Keeps positions [0, n) of t (n <= t.n_pos) and releases the blocks past them.
    void truncate(KvBlockTable& t, uint32 n);
    // A table that shares positions [0, n) of src (n <= src.n_pos): same blocks, one more
    // reference each.
    KvBlockTable share_prefix(const KvBlockTable& src, uint32 n);
    // Releases every block of t and empties it.
    void release(KvBlockTable& t) { truncate(t, 0); }

private:
    ExpectedVoid allocate(uint32& block);
    void unref(uint32 block);

    KvLayout layout_;
    CopyBlock copy_;
    uint32 value_bytes_ = 4;
    std::vector<uint32> refs_;  // (n_blocks) references per block; 0: free
    std::vector<uint32> free_;  // free block ids, the next one to hand out at the back
    uint32 peak_used_ = 0;
};

}  // namespace vk_symbiote
