#include "backend/cpu/CpuKvStore.h"

#include <algorithm>
#include <new>

namespace vk_symbiote {

ExpectedVoid CpuKvStore::allocate(const KvLayout& layout) {
    pool_ = KvBlockPool();
    data_.reset();
    layout_ = KvLayout{};
    // Not value-initialised: the pages stay uncommitted until a block is written.
    data_.reset(new (std::nothrow) float[std::max<uint64>(1, uint64(layout.n_blocks) * layout.block_floats())]);
    if (!data_)
        return make_error(ErrorCode::OutOfMemory, "cpu backend: cannot allocate the KV cache (" + std::to_string(layout.bytes()) + " bytes: " +
                                                      std::to_string(layout.n_blocks) + " blocks of " + std::to_string(layout.block_positions) + " positions)");
    layout_ = layout;
    pool_ = KvBlockPool(layout, [this](uint32 src, uint32 dst, uint32 n) { copy_block(src, dst, n); });
    return {};
}

void CpuKvStore::copy_block(uint32 src, uint32 dst, uint32 n) {
    const uint64 row_floats = layout_.kv_dim;
    for (uint32 l = 0; l < layout_.n_layer; ++l)
        for (bool v : {false, true}) {
            const float* s = row(src, l, v, 0);
            std::copy(s, s + n * row_floats, row(dst, l, v, 0));
        }
}

}  // namespace vk_symbiote
