// KvBlockPool (the paged KV cache's bookkeeping) and CpuKvStore: blocks on demand, freed at
// the end of a sequence, shared prefixes with copy on write of a partly filled block, a full
// pool refused with a clear error, and a pool that never holds more than the RAM budget counts.
#include <gtest/gtest.h>

#include "backend/KvBlockPool.h"
#include "backend/cpu/CpuBackend.h"
#include "backend/cpu/CpuKvStore.h"
#include "memory/FileWeightProvider.h"
#include "packs/PackWeightProvider.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

ModelConfig small_config() {
    ModelConfig c;
    c.n_layer = 2;
    c.n_head = 2;
    c.n_head_kv = 1;
    c.head_dim = 4;
    c.n_embd = 8;
    return c;
}

// A pool of n_blocks over a CpuKvStore whose rows are filled with their own position.
struct Fixture {
    CpuKvStore store;
    explicit Fixture(uint32 n_blocks) {
        auto ok = store.allocate(KvLayout::for_tokens(small_config(), uint64(n_blocks) * kKvBlockPositions));
        EXPECT_TRUE(ok) << ok.error().to_string();
    }
    KvBlockPool& pool() { return store.pool(); }
    void write(const KvBlockTable& t, uint32 from, uint32 to, float tag) {
        for (uint32 p = from; p < to; ++p)
            for (uint32 l = 0; l < 2; ++l)
                for (bool v : {false, true}) store.row(t, l, v, p)[0] = tag + float(p);
    }
    float read(const KvBlockTable& t, uint32 pos, uint32 layer = 1, bool v = true) { return store.row(t, layer, v, pos)[0]; }
};

constexpr uint32 P = kKvBlockPositions;

}  // namespace

TEST(KvBlockPool, BlocksComeOnDemandAndGoBackWhenTheSequenceEnds) {
    Fixture f(4);
    KvBlockTable t;
    ASSERT_TRUE(f.pool().prepare_write(t, 0, 1));
    EXPECT_EQ(t.blocks.size(), 1u);
    EXPECT_EQ(f.pool().used_blocks(), 1u);
    ASSERT_TRUE(f.pool().prepare_write(t, 1, P + 1));  // crosses into a second block
    EXPECT_EQ(t.blocks.size(), 2u);
    EXPECT_EQ(t.n_pos, P + 1);
    f.pool().truncate(t, P);  // the second block holds nothing any more
    EXPECT_EQ(t.blocks.size(), 1u);
    EXPECT_EQ(f.pool().used_blocks(), 1u);
    f.pool().release(t);
    EXPECT_EQ(f.pool().used_blocks(), 0u);
    EXPECT_EQ(f.pool().peak_used_blocks(), 2u);
    EXPECT_TRUE(t.blocks.empty());
}

// The layout counts f32 values; a pool over f16 storage (the Vulkan device's) takes half.
TEST(KvBlockPool, StorageBytesFollowTheStoredValueSize) {
    const KvLayout l = KvLayout::for_tokens(small_config(), 64);
    EXPECT_EQ(KvBlockPool(l, nullptr).storage_bytes(), l.bytes());
    EXPECT_EQ(KvBlockPool(l, nullptr, 2).storage_bytes(), l.bytes() / 2);
}

TEST(KvBlockPool, AFullPoolIsAnErrorThatChangesNothing) {
    Fixture f(2);
    KvBlockTable a, b;
    ASSERT_TRUE(f.pool().prepare_write(a, 0, P + 3));
    auto r = f.pool().prepare_write(b, 0, P + 1);  // needs 2 blocks, 0 free
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::OutOfMemory);
    EXPECT_NE(r.error().message.find("--kv-pool-tokens"), std::string::npos) << r.error().message;
    EXPECT_TRUE(b.blocks.empty());
    EXPECT_EQ(f.pool().used_blocks(), 2u);
    f.pool().release(a);
    EXPECT_TRUE(f.pool().prepare_write(b, 0, 2 * P));  // the whole pool, once it is free
}

TEST(KvBlockPool, SharedPrefixIsCopiedOnWriteOnlyWhereItIsPartlyFilled) {
    Fixture f(8);
    KvBlockTable a;
    ASSERT_TRUE(f.pool().prepare_write(a, 0, P + 5));  // one full block, one with 5 positions
    f.write(a, 0, P + 5, 1000.0f);
    KvBlockTable b = f.pool().share_prefix(a, P + 3);  // b reads 3 positions of a's second block
    EXPECT_EQ(b.blocks, a.blocks);
    EXPECT_EQ(f.pool().ref_count(a.blocks[0]), 2u);
    EXPECT_EQ(f.pool().used_blocks(), 2u);
    EXPECT_EQ(f.pool().blocks_to_write(b, P + 3, P + 4), 1u);  // the copy

    ASSERT_TRUE(f.pool().prepare_write(b, P + 3, P + 4));
    f.write(b, P + 3, P + 4, 2000.0f);
    EXPECT_EQ(b.blocks[0], a.blocks[0]) << "the full block stays shared";
    EXPECT_NE(b.blocks[1], a.blocks[1]) << "the partly filled block was copied";
    EXPECT_EQ(f.pool().ref_count(a.blocks[1]), 1u);
    for (uint32 p = P; p < P + 3; ++p) EXPECT_EQ(f.read(b, p), 1000.0f + float(p)) << "copied position " << p;
    EXPECT_EQ(f.read(b, P + 3), 2000.0f + float(P + 3));
    EXPECT_EQ(f.read(a, P + 3), 1000.0f + float(P + 3)) << "the source keeps its own position";
    EXPECT_EQ(f.pool().used_blocks(), 3u);

    f.pool().release(a);
    EXPECT_EQ(f.pool().ref_count(b.blocks[0]), 1u);
    EXPECT_EQ(f.read(b, 0, 0, false), 1000.0f) << "b still holds the shared block";
    f.pool().release(b);
    EXPECT_EQ(f.pool().used_blocks(), 0u);
}

TEST(KvBlockPool, APrefixEndingOnABlockBoundaryNeedsNoCopy) {
    Fixture f(4);
    KvBlockTable a;
    ASSERT_TRUE(f.pool().prepare_write(a, 0, 2 * P));
    KvBlockTable b = f.pool().share_prefix(a, P);
    EXPECT_EQ(b.blocks.size(), 1u);
    EXPECT_EQ(f.pool().blocks_to_write(b, P, P + 1), 1u);  // a new block, no copy
    ASSERT_TRUE(f.pool().prepare_write(b, P, P + 1));
    EXPECT_EQ(b.blocks[0], a.blocks[0]);
    EXPECT_EQ(f.pool().used_blocks(), 3u);
}

// What the pool allocates is what the RAM budget counts: the CPU backend's pool is
// KvLayout::for_tokens(kv tokens), and estimate_activation_kv_bytes grows by exactly that.
TEST(KvBlockPool, CpuPoolIsWhatTheBudgetCounts) {
    auto w = FileWeightProvider::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(w) << w.error().to_string();
    const ModelConfig& cfg = (*w)->config();
    for (uint64 tokens : {uint64(0), uint64(1), uint64(100), uint64(1000)}) {
        CpuBackend be(1);
        be.set_kv_pool_tokens(tokens);
        ASSERT_TRUE(be.prepare(**w, 64, 8));
        const KvLayout& l = be.kv_pool()->layout();
        EXPECT_EQ(l.positions(), uint64(l.blocks_for(tokens ? tokens : 64)) * P);
        EXPECT_GE(l.positions(), tokens);
        const uint64 counted = estimate_activation_kv_bytes(cfg, 64, 8, tokens) - estimate_activation_kv_bytes(cfg, 64, 8, 1);
        EXPECT_EQ(counted + KvLayout::for_tokens(cfg, 1).bytes(), l.bytes()) << tokens << " tokens";
        EXPECT_EQ(l.block_bytes(), uint64(cfg.n_layer) * 2 * P * cfg.kv_dim() * 4);
    }
}

// Sequences taking blocks until the pool is full never hold more than it has: the pool's
// peak stays at its size, and further writes are refused instead.
TEST(KvBlockPool, PeakNeverExceedsThePool) {
    Fixture f(5);
    std::vector<KvBlockTable> seqs(4);
    uint32 refused = 0;
    for (uint32 step = 0; step < 3 * P; ++step)
        for (KvBlockTable& t : seqs)
            if (!f.pool().prepare_write(t, t.n_pos, t.n_pos + 1)) ++refused;
    EXPECT_EQ(f.pool().peak_used_blocks(), 5u);
    EXPECT_EQ(f.pool().used_blocks(), 5u);
    EXPECT_GT(refused, 0u);
    uint32 held = 0;
    for (const KvBlockTable& t : seqs) held += uint32(t.blocks.size());
    EXPECT_EQ(held, 5u);
}
