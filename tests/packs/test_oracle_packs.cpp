// The oracle's decisions carried out by the RAM tier (NomadPackManager +
// PackWeightProvider) under a budget smaller than the model: Belady keeps a fixed resident
// set and reads every other pack exactly once per pass; eviction_aggression 0 stops
// prefetches from evicting; the logits do not depend on any of it.
#include <gtest/gtest.h>

#include "PackTestUtil.h"
#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "packs/PackWeightProvider.h"
#include "support/ReferenceCase.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::packtest;

namespace {

// A provider with 4 KiB packs and a budget of the minimum + `extra` bytes.
std::unique_ptr<PackWeightProvider> provider(const Path& model, float aggression, uint32 lookahead, uint64 extra, uint64 act_kv = 0,
                                             uint64 read_ahead = 0) {
    PackOptions o;
    o.read_ahead_bytes = read_ahead;
    o.max_pack_bytes = 4096;
    o.embedding_cache_rows = 16;
    o.oracle.eviction_aggression = aggression;
    o.oracle.prefetch_lookahead = lookahead;
    o.activation_kv_bytes = act_kv;
    auto min = PackWeightProvider::minimum_ram_budget(model, o);
    EXPECT_TRUE(min) << min.error().to_string();
    o.ram_budget_bytes = (min ? *min : 0) + extra;
    auto p = PackWeightProvider::open(model, o);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? std::move(*p) : nullptr;
}

// One pass of the forward scan: every tensor in use order, each released before the next.
void pass(PackWeightProvider& w) {
    for (const auto& d : w.registry().tensors()) {
        if (d.id.role == TensorRole::TokenEmbd) continue;
        auto h = w.acquire(d.id);
        ASSERT_TRUE(h) << h.error().to_string();
    }
}

std::vector<uint64> loads(NomadPackManager& m) {
    std::vector<uint64> v(m.pack_count());
    for (uint64 i = 0; i < v.size(); ++i) v[i] = m.pack_loads(i);
    return v;
}

Path syn_f32() { return test::models_dir() / "syn-f32.gguf"; }

}  // namespace

TEST(OracleRamTier, EveryNonResidentPackIsReadExactlyOncePerPass) {
    for (float a : {1.0f, 0.7f}) {
        SCOPED_TRACE(a);
        // Room for about one and a half layers; the window (one layer ahead, all of it: no
        // read-ahead cap) takes less than that, so part of the budget holds a fixed resident set.
        auto w = provider(syn_f32(), a, 1, 512 * 1024, 0, PackManagerOptions::kNoReadAheadCap);
        ASSERT_TRUE(w);
        NomadPackManager& m = w->manager();
        ASSERT_LT(m.pack_budget_bytes() * 3, w->plan().total_bytes * 2) << "the budget must be well below the model";
        constexpr int kPasses = 5;
        pass(*w);  // the first pass fills RAM
        wait_for_reads(m);
        const auto first = loads(m);
        const uint64 bytes_first = m.get_ram_stats().bytes_loaded;
        for (int p = 1; p < kPasses; ++p) pass(*w);
        wait_for_reads(m);
        const auto last = loads(m);
        uint64 streamed = 0, resident = 0, streamed_bytes = 0;
        for (uint64 id = 0; id < last.size(); ++id) {
            const uint64 reads = last[id] - first[id];
            // Never twice in a pass: either it stayed resident, or it was read once per pass.
            EXPECT_TRUE(reads == 0 || reads == uint64(kPasses - 1)) << "pack " << id << " read " << reads << " times in " << kPasses - 1 << " passes";
            if (reads) streamed++, streamed_bytes += m.plan().packs[id].byte_size;
            else resident++;
        }
        EXPECT_GT(streamed, 0u);
        EXPECT_GT(resident, 0u) << "Belady keeps a fixed resident set";
        // bytes_loaded per pass == the bytes of the packs that are not resident.
        EXPECT_EQ(m.get_ram_stats().bytes_loaded - bytes_first, uint64(kPasses - 1) * streamed_bytes);
        auto st = m.oracle_stats();
        EXPECT_GT(st.hits, st.misses) << "the window predicts the cyclic scan";
        EXPECT_GT(st.updates, 0u);
        EXPECT_LE(m.get_ram_stats().peak_bytes, m.pack_budget_bytes());
    }
}

// The read-ahead cap (default: I/O threads + 1 packs on their way) against the whole
// lookahead window (3 layers, the default): every pack read ahead holds RAM the resident set
// would keep, so the capped window reads fewer bytes per pass; and still no read is wasted:
// no prefetched pack is dropped unused and no pack is read more than once per use.
TEST(OracleRamTier, ReadAheadCapReadsFewerBytesPerPassAndNoPackTwicePerUse) {
    constexpr int kWarm = 3, kPasses = 6;
    struct Run {
        double bytes_per_pass = 0;
        uint64 most_loads = 0, unused = 0, capped = 0, read_ahead = 0;
    };
    auto run = [](uint64 read_ahead) {
        Run r;
        auto w = provider(syn_f32(), 0.7f, 3, 512 * 1024, 0, read_ahead);
        EXPECT_TRUE(w);
        if (!w) return r;
        NomadPackManager& m = w->manager();
        for (int p = 0; p < kWarm; ++p) pass(*w);
        wait_for_reads(m);
        const auto first = loads(m);
        const uint64 b0 = m.get_ram_stats().bytes_loaded, u0 = m.oracle_stats().unused_predictions;
        for (int p = 0; p < kPasses; ++p) pass(*w);
        wait_for_reads(m);
        const auto last = loads(m);
        for (uint64 id = 0; id < last.size(); ++id) r.most_loads = std::max(r.most_loads, last[id] - first[id]);
        r.bytes_per_pass = double(m.get_ram_stats().bytes_loaded - b0) / kPasses;
        r.unused = m.oracle_stats().unused_predictions - u0;
        r.capped = m.get_ram_stats().prefetch_capped;
        r.read_ahead = m.read_ahead_bytes();
        EXPECT_LE(m.get_ram_stats().peak_bytes, m.pack_budget_bytes());
        return r;
    };
    const Run capped = run(0), whole = run(PackManagerOptions::kNoReadAheadCap);
    EXPECT_EQ(capped.read_ahead, uint64(PackOptions{}.io_threads + 1) * 4096) << "I/O threads + 1, packs of 4 KiB";
    EXPECT_GT(capped.capped, 0u) << "the cap held reads back";
    EXPECT_EQ(whole.capped, 0u);
    EXPECT_LT(capped.bytes_per_pass, 0.85 * whole.bytes_per_pass) << "capped " << capped.bytes_per_pass << " vs whole window " << whole.bytes_per_pass;
    EXPECT_EQ(capped.unused, 0u) << "prefetched packs dropped before use (read twice)";
    // One read per use at most; the window reads the next pass's first packs before the last
    // wait, so a pack may show kPasses + 1 loads in kPasses passes.
    EXPECT_LE(capped.most_loads, uint64(kPasses + 1));
}

TEST(OracleRamTier, AggressionZeroNeverEvictsForAPrefetch) {
    auto run = [](float a) {
        auto w = provider(syn_f32(), a, 2, 64 * 1024);
        EXPECT_TRUE(w);
        if (!w) return PackTierStats{};
        for (int p = 0; p < 4; ++p) pass(*w);
        wait_for_reads(w->manager());
        return w->manager().get_ram_stats();
    };
    const PackTierStats zero = run(0.0f), one = run(1.0f);
    EXPECT_EQ(zero.prefetch_evictions, 0u);
    EXPECT_GT(zero.evictions, 0u) << "demand loads still evict";
    EXPECT_GT(one.prefetch_evictions, 0u);
    EXPECT_GT(zero.misses, one.misses) << "without room made for them, fewer prefetches arrive before use";
    EXPECT_GT(one.prefetch_issued, zero.prefetch_issued);
}

TEST(OracleRamTier, ReferenceLogitsUnchangedByLookaheadAndAggression) {
    auto ref = test::load_reference_case("stories260K.once");
    ASSERT_TRUE(ref) << ref.error().to_string();
    const Path model = test::models_dir() / ref->model;
    const uint32 n = uint32(ref->prompt_tokens.size()), n_gen = uint32(ref->greedy_tokens.size());
    auto g = open_model_source(model);
    ASSERT_TRUE(g);
    auto cfg = ModelConfig::from_source(**g);
    ASSERT_TRUE(cfg);
    const uint64 act_kv = estimate_activation_kv_bytes(*cfg, n + n_gen, n);
    std::vector<float> want(uint64(n) * ref->n_vocab);
    {
        auto fw = FileWeightProvider::open(model);
        ASSERT_TRUE(fw);
        CpuBackend be(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
        ASSERT_TRUE(be.prepare(**fw, n, n));
        ForwardRequest req{ref->prompt_tokens.data(), n, 0, true, want.data()};
        ASSERT_TRUE(be.forward(req));
    }
    for (auto [a, la] : {std::pair{0.0f, 1u}, std::pair{0.7f, 3u}, std::pair{1.0f, 6u}}) {
        SCOPED_TRACE(testing::Message() << "aggression " << a << " lookahead " << la);
        auto w = provider(model, a, la, 100000, act_kv);
        ASSERT_TRUE(w);
        ASSERT_LT(w->manager().pack_budget_bytes() * 2, w->registry().total_bytes());
        CpuBackend be(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
        ASSERT_TRUE(be.prepare(*w, n + n_gen, n));
        std::vector<float> logits(uint64(n) * ref->n_vocab);
        ForwardRequest req{ref->prompt_tokens.data(), n, 0, true, logits.data()};
        ASSERT_TRUE(be.forward(req));
        for (uint32 p = 0; p < n; ++p) EXPECT_LT(test::nmse(logits.data() + uint64(p) * ref->n_vocab, ref->logits_at(p), ref->n_vocab), 1e-6) << p;  // f32 weights
        EXPECT_EQ(logits, want) << "the pack schedule changed the computed function";
        // Greedy continuation token by token: one pass over the packs per token.
        std::vector<uint32> got;
        const float* last = logits.data() + uint64(n - 1) * ref->n_vocab;
        std::vector<float> step_logits(last, last + ref->n_vocab);
        for (uint32 i = 0; i < n_gen; ++i) {
            uint32 tok = uint32(test::argmax(step_logits.data(), ref->n_vocab));
            got.push_back(tok);
            if (i + 1 == n_gen) break;
            ForwardRequest step{&tok, 1, n + i, false, step_logits.data()};
            ASSERT_TRUE(be.forward(step));
        }
        EXPECT_EQ(got, ref->greedy_tokens);
        // No pack read twice in one pass: at most one read per forward (+ the first fill).
        wait_for_reads(w->manager());
        for (uint64 id = 0; id < w->manager().pack_count(); ++id) EXPECT_LE(w->manager().pack_loads(id), uint64(n_gen) + 1) << "pack " << id;
        EXPECT_GT(w->manager().get_ram_stats().evictions, 0u);
    }
}

// Tensors retired by the caller (a device keeps them resident) give their RAM to the rest:
// their packs are evicted first and never read ahead, so under a budget smaller than what
// is still in use, fewer bytes are read per pass than without retiring.
TEST(OracleRamTier, RetiredTensorsGiveTheirRamToTheRest) {
    auto run = [](bool retire) {
        auto w = provider(syn_f32(), 0.7f, 1, 512 * 1024);
        EXPECT_TRUE(w);
        if (!w) return std::pair<uint64, uint64>{};
        std::vector<TensorId> layer0;
        for (const auto& d : w->registry().tensors())
            if (d.id.layer == 0) layer0.push_back(d.id);
        pass(*w);  // everything once (like a device's prepare)
        if (retire) w->retire(layer0);
        NomadPackManager& m = w->manager();
        wait_for_reads(m);
        const uint64 before = m.get_ram_stats().bytes_loaded;
        for (int p = 0; p < 4; ++p)
            for (const auto& d : w->registry().tensors()) {
                if (d.id.role == TensorRole::TokenEmbd || d.id.layer == 0) continue;
                auto h = w->acquire(d.id);
                EXPECT_TRUE(h) << h.error().to_string();
            }
        wait_for_reads(m);
        uint64 layer0_in_ram = 0;
        for (uint64 id : m.get_loaded_pack_ids())
            if (m.plan().packs[id].layer == 0) ++layer0_in_ram;
        return std::pair<uint64, uint64>{m.get_ram_stats().bytes_loaded - before, layer0_in_ram};
    };
    const auto kept = run(false), retired = run(true);
    EXPECT_EQ(retired.second, 0u) << "retired packs are the first victims";
    EXPECT_GT(kept.second, 0u) << "without retiring, Belady keeps some of layer 0 for its next (never coming) use";
    EXPECT_LT(retired.first, kept.first) << "their room holds packs that are used";
}
