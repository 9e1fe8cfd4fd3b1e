// VitalityOracle, PackScheduler and TelemetryMeter (src/oracle): the RAM tier's decisions
// on synthetic plans (layers x packs + a head, known answers) and on the real pack plan of
// a shared model. No I/O, no clock: telemetry gets fake times.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "gguf/GGUFLoader.h"
#include "packs/PackPlanner.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "oracle/HardwareTelemetry.h"
#include "oracle/PackScheduler.h"
#include "oracle/VitalityOracle.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

// `layers` x `per_layer` packs (Attention then MLP), then a head of one OutputNorm pack and
// `head - 1` Output packs; ids == orders; pack i is 1000 * (i + 1) bytes.
std::vector<PackMetadata> synthetic(uint32 layers, uint32 per_layer, uint32 head) {
    std::vector<PackMetadata> packs;
    auto add = [&](PackType t, int32 layer) {
        PackMetadata p;
        p.pack_id = packs.size();
        p.order = uint32(packs.size());
        p.type = t;
        p.layer = layer;
        p.byte_size = 1000 * (packs.size() + 1);
        packs.push_back(p);
    };
    for (uint32 l = 0; l < layers; ++l)
        for (uint32 k = 0; k < per_layer; ++k) add(k < per_layer / 2 ? PackType::Attention : PackType::MLP, int32(l));
    for (uint32 k = 0; k < head; ++k) add(k == 0 ? PackType::OutputNorm : PackType::Output, -1);
    return packs;
}

std::vector<uint64> range(uint64 b, uint64 e) {
    std::vector<uint64> v;
    for (uint64 i = b; i < e; ++i) v.push_back(i);
    return v;
}

OracleOptions opts(uint32 lookahead, float aggression) {
    OracleOptions o;
    o.prefetch_lookahead = lookahead;
    o.eviction_aggression = aggression;
    return o;
}

// All packs on disk, nothing pinned, each pack `bytes` budget bytes.
ResidencyView empty_view(uint64 n, uint64 bytes, uint64 free) {
    ResidencyView v;
    v.residency.assign(n, Residency::OnDisk);
    v.pinned.assign(n, 0);
    v.bytes.assign(n, bytes);
    v.free_bytes = free;
    return v;
}

// stories260K's pack plan with 4 KiB packs; n_layer is set from its config.
Expected<PackPlan> stories_plan(uint32& n_layer) {
    auto g = GGUFLoader::open(test::models_dir() / "stories260K.gguf");
    if (!g) return g.error();
    auto cfg = ModelConfig::from_source(**g);
    if (!cfg) return cfg.error();
    n_layer = cfg->n_layer;
    auto reg = TensorRegistry::bind(*cfg, **g);
    if (!reg) return reg.error();
    return plan_packs(*reg, {4096});
}

}  // namespace

TEST(VitalityOracle, DistanceCountsPacksToTheNextUseAndWraps) {
    VitalityOracle o(synthetic(4, 3, 2), {});  // 14 packs
    ASSERT_EQ(o.cycle_packs(), 14u);
    EXPECT_EQ(o.slots(), 5u);  // 4 layers + head
    EXPECT_EQ(o.distance(5, 5), 0u);
    EXPECT_EQ(o.distance(7, 5), 2u);
    EXPECT_EQ(o.distance(4, 5), 13u);  // used just before the cursor: a whole pass away
    EXPECT_EQ(o.distance(0, 13), 1u);  // head -> layer 0 of the next token
    EXPECT_EQ(o.distance(7, 5 + 14), 2u);  // cursors are taken modulo the cycle
    EXPECT_EQ(o.first_order_of(2), 6u);
    EXPECT_EQ(o.first_order_of(4), 12u);  // the head
    EXPECT_EQ(o.slot_of(13), 4u);
}

TEST(VitalityOracle, PredictNextPacksFollowsTheUseOrderByLayers) {
    VitalityOracle o(synthetic(4, 3, 2), {});
    const std::vector<uint32_t> none;
    EXPECT_EQ(o.predict_next_packs(none, 1, 2, 100), range(3, 9));
    EXPECT_EQ(o.predict_next_packs(none, 3, 1, 100), range(9, 12));
    EXPECT_EQ(o.predict_next_packs(none, 3, 2, 100), range(9, 14));  // the head is one layer
    std::vector<uint64> wrap = {12, 13, 0, 1, 2};
    EXPECT_EQ(o.predict_next_packs(none, 4, 2, 100), wrap);  // head, then layer 0 of the next token
    EXPECT_EQ(o.predict_next_packs(none, 1, 3, 4), range(3, 7));  // count caps it
    EXPECT_TRUE(o.predict_next_packs(none, 1, 0, 100).empty());
    EXPECT_EQ(o.predict_next_packs(none, 0, 99, 100), range(0, 14));  // at most one whole pass
    EXPECT_EQ(o.predict_next_packs(none, 6, 1, 100), range(3, 6));  // layer 6 == slot 1 (mod 5)
    // The default arguments: 3 layers, 8 packs.
    EXPECT_EQ(o.predict_next_packs(none, 0), range(0, 8));
    // From the middle of a layer: the rest of it counts as the first layer.
    EXPECT_EQ(o.predict_from(4, 2, 100), range(4, 9));
}

TEST(VitalityOracle, EmbeddingPacksOnlyForTheRowsOfTheTokens) {
    // Two embedding packs (rows [0,100) and [100,200)) used first, then one layer, then a head.
    std::vector<PackMetadata> packs;
    for (uint64 i = 0; i < 2; ++i) {
        PackMetadata p;
        p.pack_id = p.order = uint32(i);
        p.type = PackType::Embedding;
        p.byte_size = 400;
        PackSlice s;
        s.tensor_name = "token_embd.weight";
        s.row_begin = 100 * i;
        s.row_end = 100 * (i + 1);
        p.slices.push_back(s);
        packs.push_back(p);
    }
    for (auto p : synthetic(1, 2, 1)) {
        p.pack_id += 2;
        p.order += 2;
        packs.push_back(p);
    }
    VitalityOracle o(packs, {});
    std::vector<uint64> want = {1, 2, 3};
    EXPECT_EQ(o.predict_next_packs({150}, 0, 1, 100), want);
    want = {2, 3};
    EXPECT_EQ(o.predict_next_packs({}, 0, 1, 100), want);
    want = {0, 1, 2, 3};
    EXPECT_EQ(o.predict_next_packs({5, 150}, 0, 1, 100), want);
    EXPECT_EQ(o.score_pack(packs[1], {150}, 0, {}).relevance, 1.0f);
    EXPECT_EQ(o.score_pack(packs[1], {5}, 0, {}).relevance, 0.0f);
}

TEST(VitalityOracle, PredictionsOnTheRealPlanOfStories260K) {
    uint32 n_layer = 0;
    auto plan = stories_plan(n_layer);
    ASSERT_TRUE(plan) << plan.error().to_string();
    const auto& packs = plan->packs;
    for (const auto& p : packs) EXPECT_NE(p.type, PackType::Embedding) << "token_embd is read by rows, never planned as packs";
    VitalityOracle o(packs, {});
    ASSERT_EQ(o.slots(), n_layer + 1);
    const std::vector<uint32_t> tokens = {1, 403, 407};
    auto of_layer = [&](int32 layer) {
        std::vector<uint64> v;
        for (const auto& p : packs)
            if (p.layer == layer) v.push_back(p.pack_id);
        return v;
    };
    EXPECT_EQ(o.predict_next_packs(tokens, 0, 1, 100000), of_layer(0));
    auto two = of_layer(1);
    for (uint64 id : of_layer(2)) two.push_back(id);
    EXPECT_EQ(o.predict_next_packs(tokens, 1, 2, 100000), two);
    // Last layer + head, then wrap to layer 0.
    auto tail = of_layer(int32(n_layer) - 1);
    for (uint64 id : of_layer(-1)) tail.push_back(id);
    for (uint64 id : of_layer(0)) tail.push_back(id);
    EXPECT_EQ(o.predict_next_packs(tokens, n_layer - 1, 3, 100000), tail);
    EXPECT_EQ(o.predict_next_packs(tokens, 0, n_layer + 1, 100000), range(0, packs.size()));
    auto eight = o.predict_next_packs(tokens, 1, 3, 8);
    ASSERT_EQ(eight.size(), 8u);
    EXPECT_EQ(eight.front(), of_layer(1).front());
    for (size_t i = 1; i < eight.size(); ++i) EXPECT_EQ(packs[eight[i]].order, packs[eight[i - 1]].order + 1);
}

TEST(VitalityOracle, BundledNormPackIsNeededAgainBeforeTheMlp) {
    uint32 n_layer = 0;
    auto plan = stories_plan(n_layer);
    ASSERT_TRUE(plan) << plan.error().to_string();
    uint64 norm = VitalityOracle::kNoPack, last_attn = 0, first_mlp = VitalityOracle::kNoPack;
    for (const auto& p : plan->packs) {
        if (p.layer != 1) continue;
        if (p.type == PackType::Norm) norm = p.pack_id;
        if (p.type == PackType::Attention) last_attn = std::max<uint64>(last_attn, p.order);
        if (p.type == PackType::MLP) first_mlp = std::min<uint64>(first_mlp, p.order);
    }
    ASSERT_NE(norm, VitalityOracle::kNoPack);
    ASSERT_EQ(plan->packs[norm].slices.size(), 2u) << "attn_norm + ffn_norm";
    ASSERT_EQ(first_mlp, last_attn + 1);
    VitalityOracle o(plan->packs, {});
    const uint64 n = o.cycle_packs();
    // In the middle of the attention packs the norm pack is needed again soon (ffn_norm),
    // not a whole pass later: it is not the pack to give up.
    EXPECT_EQ(o.distance(norm, last_attn), 1u);
    EXPECT_EQ(o.use_position(norm, last_attn), first_mlp);
    EXPECT_EQ(o.use_position(norm, norm), o.order_of(norm));
    EXPECT_EQ(o.distance(norm, first_mlp + 1), (o.order_of(norm) + n - first_mlp - 1) % n);
    std::vector<uint64> cands = {norm, last_attn - 1};
    EXPECT_EQ(o.choose_victim(cands, last_attn), last_attn - 1);
    // A window that reaches the MLP predicts the norm pack for its second use.
    auto w = o.predict_from(last_attn, 1, 1000);
    EXPECT_EQ(w.front(), last_attn);
    EXPECT_NE(std::find(w.begin(), w.end(), norm), w.end());
}

TEST(VitalityOracle, ScoreFavoursPacksNeededSoonerAndCostlierToRead) {
    auto packs = synthetic(4, 3, 2);
    VitalityOracle o(packs, {});
    HardwareTelemetry t;
    t.disk_read_bps = 1e6;
    auto s3 = o.score_pack(packs[3], {}, 1, t), s4 = o.score_pack(packs[4], {}, 1, t), s2 = o.score_pack(packs[2], {}, 1, t);
    EXPECT_EQ(s3.distance, 0u);
    EXPECT_FLOAT_EQ(s3.relevance, 1.0f);
    EXPECT_FLOAT_EQ(s4.relevance, 0.5f);
    EXPECT_EQ(s2.distance, 13u);  // used just before layer 1: a whole pass away
    EXPECT_FLOAT_EQ(s3.hardware, 4000.0f / 1e6f);
    EXPECT_FLOAT_EQ(s3.score, s3.relevance * s3.hardware);
    EXPECT_GT(s3.relevance, s4.relevance);
    EXPECT_GT(s4.relevance, s2.relevance);
    // Same distance ordering, bigger pack: higher score.
    PackMetadata big = packs[4];
    big.byte_size *= 10;
    EXPECT_GT(o.score_pack(big, {}, 1, t).score, s4.score);
    // A compressed pack costs its stored bytes; a slower disk makes every read costlier.
    PackMetadata comp = packs[4];
    comp.compressed_size = 1000;
    EXPECT_FLOAT_EQ(o.score_pack(comp, {}, 1, t).hardware, 1000.0f / 1e6f);
    HardwareTelemetry slow = t;
    slow.disk_read_bps = 0.5e6;
    EXPECT_FLOAT_EQ(o.score_pack(packs[4], {}, 1, slow).hardware, 2 * s4.hardware);
    // Unknown rates: the probed peak, then the documented default.
    HardwareTelemetry peak_only;
    peak_only.peak_disk_bps = 4e6;
    EXPECT_FLOAT_EQ(o.score_pack(packs[4], {}, 1, peak_only).hardware, 5000.0f / 4e6f);
    EXPECT_FLOAT_EQ(o.score_pack(packs[4], {}, 1, {}).hardware, float(5000.0 / VitalityOracle::kDefaultDiskBytesPerSecond));
}

TEST(VitalityOracle, EvictionAggressionRules) {
    const auto packs = synthetic(10, 10, 0);  // 100 packs, no head
    const uint64 cursor = 0;
    {
        VitalityOracle o(packs, opts(3, 1.0f));  // pure Belady: anything needed later
        EXPECT_TRUE(o.should_evict_for_prefetch(51, 50, cursor));
        EXPECT_FALSE(o.should_evict_for_prefetch(50, 50, cursor));
        EXPECT_FALSE(o.should_evict_for_prefetch(10, 50, cursor));
    }
    {
        VitalityOracle o(packs, opts(3, 0.7f));  // margin 0.3 * 100 packs
        EXPECT_TRUE(o.should_evict_for_prefetch(81, 50, cursor));
        EXPECT_FALSE(o.should_evict_for_prefetch(80, 50, cursor));
        EXPECT_FALSE(o.should_evict_for_prefetch(60, 50, cursor));
        EXPECT_TRUE(o.should_evict_for_prefetch(99, 1, cursor));
    }
    {
        VitalityOracle o(packs, opts(3, 0.0f));  // prefetches never evict
        for (uint64 v = 0; v < 100; ++v) EXPECT_FALSE(o.should_evict_for_prefetch(v, 1, cursor)) << v;
    }
    VitalityOracle o(packs, {});
    // Belady's victim: the furthest next use from the cursor (40: pack 39 was just used).
    std::vector<uint64> cands = {45, 39, 70, 41};
    EXPECT_EQ(o.choose_victim(cands, 40), 39u);
    EXPECT_EQ(o.choose_victim(cands, 0), 70u);
    EXPECT_EQ(o.choose_victim({}, 0), VitalityOracle::kNoPack);
}

TEST(PackScheduler, PrefetchesTheWindowInUseOrderFromFreeSpace) {
    VitalityOracle o(synthetic(4, 3, 2), opts(2, 0.7f));
    auto v = empty_view(14, 100, 100 * 14);
    v.residency[4] = Residency::InRam;
    v.residency[6] = Residency::Loading;
    ScheduleRequest r;
    r.cursor = 3;
    r.lookahead = 2;
    auto s = PackScheduler::schedule(o, r, v);
    std::vector<uint64> want = {3, 5, 7, 8};  // layers 1 and 2, minus resident / loading ones
    EXPECT_EQ(s.prefetch, want);
    EXPECT_TRUE(s.unload.empty());
    EXPECT_EQ(s.skipped, 0u);
    // skip: packs the caller demands now are neither prefetched nor unloaded.
    r.skip = 2;
    s = PackScheduler::schedule(o, r, v);
    want = {5, 7, 8};  // window from pack 5: the rest of layer 1, then layer 2
    EXPECT_EQ(s.prefetch, want);
    // Room for only one pack and nothing to evict: the earliest only; the rest is skipped.
    r.skip = 0;
    v.free_bytes = 100;
    s = PackScheduler::schedule(o, r, v);
    want = {3};
    EXPECT_EQ(s.prefetch, want);
    EXPECT_EQ(s.skipped, 3u);
}

TEST(PackScheduler, ReadAheadStopsAtMaxBytesCountingLoadingPacks) {
    VitalityOracle o(synthetic(4, 3, 2), opts(2, 0.7f));
    auto v = empty_view(14, 100, 100 * 14);  // packs of 100 bytes, room for all
    v.residency[4] = Residency::InRam;
    ScheduleRequest r;
    r.cursor = 3;
    r.lookahead = 2;  // window 3, 4, 5, 6, 7, 8 (4 resident)
    r.max_bytes = 250;
    auto s = PackScheduler::schedule(o, r, v);
    std::vector<uint64> want = {3, 5};  // 200 bytes on the way; a third would pass 250
    EXPECT_EQ(s.prefetch, want);
    EXPECT_EQ(s.capped, 3u);  // 6, 7, 8 left for a later call
    EXPECT_EQ(s.skipped, 0u);
    // Packs of the window already loading count: 3 loading leaves room for one read.
    v.residency[3] = Residency::Loading;
    s = PackScheduler::schedule(o, r, v);
    want = {5};
    EXPECT_EQ(s.prefetch, want);
    // Nothing on the way: the first read is allowed even above the cap.
    v.residency[3] = Residency::OnDisk;
    r.max_bytes = 50;
    s = PackScheduler::schedule(o, r, v);
    want = {3};
    EXPECT_EQ(s.prefetch, want);
    EXPECT_EQ(s.capped, 4u);
    // 0: the whole window.
    r.max_bytes = 0;
    s = PackScheduler::schedule(o, r, v);
    want = {3, 5, 6, 7, 8};
    EXPECT_EQ(s.prefetch, want);
    EXPECT_EQ(s.capped, 0u);
}

TEST(PackScheduler, NeverUnloadsPinnedOrSoonerNeededPacks) {
    VitalityOracle o(synthetic(4, 3, 2), opts(1, 1.0f));
    auto v = empty_view(14, 100, 0);  // budget full
    for (uint64 id : {0, 1, 2, 4, 10, 12}) v.residency[id] = Residency::InRam;
    v.pinned[2] = 1;  // in use: never
    ScheduleRequest r;
    r.cursor = 3;  // window = layer 1 = packs 3, 4, 5
    r.lookahead = 1;
    auto s = PackScheduler::schedule(o, r, v);
    std::vector<uint64> want = {3, 5};
    EXPECT_EQ(s.prefetch, want);
    // Furthest first: 1 (distance 12), then 0 (11). 2 is pinned, 4 is in the window,
    // 10 / 12 are needed sooner than 0 / 1.
    want = {1, 0};
    EXPECT_EQ(s.unload, want);
}

TEST(PackScheduler, AggressionZeroNeverEvictsForAPrefetch) {
    VitalityOracle o(synthetic(4, 3, 2), opts(2, 0.0f));
    auto v = empty_view(14, 100, 100);
    for (uint64 id : {0, 1, 2}) v.residency[id] = Residency::InRam;
    ScheduleRequest r;
    r.cursor = 3;
    r.lookahead = 2;
    auto s = PackScheduler::schedule(o, r, v);
    EXPECT_TRUE(s.unload.empty());
    std::vector<uint64> want = {3};  // the free space only
    EXPECT_EQ(s.prefetch, want);
    EXPECT_EQ(s.skipped, 5u);
}

TEST(PackScheduler, RandomViewsKeepTheRules) {
    const auto packs = synthetic(6, 5, 3);  // 33 packs
    const uint64 n = packs.size();
    std::mt19937 rng(7);
    uint64 unloads = 0, prefetches = 0;
    for (int trial = 0; trial < 500; ++trial) {
        const float a = std::uniform_real_distribution<float>(0, 1)(rng);
        VitalityOracle o(packs, opts(1 + rng() % 4, a));
        ResidencyView v = empty_view(n, 0, 0);
        uint64 used = 0;
        for (uint64 i = 0; i < n; ++i) {
            v.residency[i] = Residency(rng() % 3);
            v.pinned[i] = v.residency[i] != Residency::OnDisk && rng() % 4 == 0;
            v.bytes[i] = 100 + rng() % 400;
            if (v.residency[i] != Residency::OnDisk) used += v.bytes[i];
        }
        const uint64 budget = used + rng() % 1500;
        v.free_bytes = budget - used;
        ScheduleRequest r;
        r.cursor = rng() % n;
        r.skip = rng() % 3;
        r.lookahead = o.effective_lookahead();
        auto s = PackScheduler::schedule(o, r, v);
        int64 free = int64(v.free_bytes);
        for (uint64 u : s.unload) {
            EXPECT_EQ(v.residency[u], Residency::InRam);
            EXPECT_FALSE(v.pinned[u]);
            EXPECT_GE(o.distance(u, r.cursor), r.skip) << "a pack in use now";
            for (uint64 q : s.prefetch) EXPECT_NE(u, q);
            // Needed later than the first prefetched pack, by the aggression margin.
            ASSERT_FALSE(s.prefetch.empty());
            EXPECT_TRUE(o.should_evict_for_prefetch(u, s.prefetch.front(), r.cursor));
            free += int64(v.bytes[u]);
        }
        uint64 prev = 0;
        for (size_t k = 0; k < s.prefetch.size(); ++k) {
            const uint64 q = s.prefetch[k];
            EXPECT_EQ(v.residency[q], Residency::OnDisk);
            const uint64 d = o.distance(q, r.cursor);
            if (k) {
                EXPECT_GT(d, prev) << "use order";
            }
            prev = d;
            free -= int64(v.bytes[q]);
        }
        EXPECT_GE(free, 0) << "orders stay within the budget";
        unloads += s.unload.size();
        prefetches += s.prefetch.size();
    }
    EXPECT_GT(unloads, 100u) << "the trials must exercise eviction";
    EXPECT_GT(prefetches, 100u);
}

TEST(VitalityOracle, RecordAccessCountsHitsAndMisses) {
    VitalityOracle o(synthetic(4, 3, 2), opts(2, 0.7f));
    o.predict_from(0, 1, 100);  // predicts 0, 1, 2
    o.record_access(0, true, 0.5f);   // predicted: hit
    o.record_access(1, true, 0.5f);   // hit
    o.record_access(3, true, 0.1f);   // not predicted: miss
    o.record_access(2, false, 0.2f);  // predicted, dropped unused: miss
    o.record_access(5, false, 0.2f);  // never predicted: nothing to judge
    o.record_access(0, true, 0.5f);   // its prediction was consumed by the first use: miss
    auto s = o.stats();
    EXPECT_EQ(s.hits, 2u);
    EXPECT_EQ(s.misses, 3u);
    EXPECT_EQ(s.unused_predictions, 1u);
    EXPECT_DOUBLE_EQ(s.hit_rate, 2.0 / 5.0);
    EXPECT_DOUBLE_EQ(s.mean_score_hits, 0.5);
    EXPECT_EQ(o.access_count(0), 2u);
    EXPECT_EQ(o.access_count(2), 0u);
}

TEST(VitalityOracle, UpdateModelWidensOnMissesAndNarrowsOnHits) {
    const auto packs = synthetic(4, 3, 2);
    VitalityOracle o(packs, opts(2, 0.7f));
    EXPECT_EQ(o.effective_lookahead(), 2u);
    o.update_model();  // nothing recorded: no change
    EXPECT_EQ(o.stats().updates, 0u);
    // Passes in which the model reads packs in a random order while the caller predicts
    // one layer ahead of each read: most reads land outside the predictions.
    std::mt19937 rng(3);
    auto out_of_order_pass = [&] {
        std::vector<uint64> ids = range(0, 14);
        std::shuffle(ids.begin(), ids.end(), rng);
        for (uint64 id : ids) {
            o.record_access(id, true, 0.0f);
            o.predict_from(o.order_of(id) + 1, 1, 100);
        }
        o.update_model();
    };
    auto in_order_pass = [&] {
        for (uint64 id = 0; id < 14; ++id) {
            o.record_access(id, true, 0.0f);
            o.predict_from(id + 1, o.effective_lookahead(), 100);
        }
        o.update_model();
    };
    out_of_order_pass();
    EXPECT_EQ(o.effective_lookahead(), 3u);
    out_of_order_pass();
    EXPECT_EQ(o.effective_lookahead(), 4u);
    out_of_order_pass();
    EXPECT_EQ(o.effective_lookahead(), 4u) << "at most 2 x prefetch_lookahead";
    EXPECT_LT(o.stats().hit_rate, VitalityOracle::kWidenBelow);
    o.predict_from(0, 1, 100);  // the in-order reader predicts ahead of its first read too
    in_order_pass();  // every pack predicted by the previous step: all hits
    EXPECT_EQ(o.effective_lookahead(), 3u);
    in_order_pass();
    EXPECT_EQ(o.effective_lookahead(), 2u);
    in_order_pass();
    EXPECT_EQ(o.effective_lookahead(), 2u) << "never below the option";
    EXPECT_EQ(o.stats().updates, 6u);
    EXPECT_EQ(o.stats().effective_lookahead, 2u);
}

TEST(TelemetryMeter, BytesWeightedMovingAverageWithFakeTimes) {
    using R = TelemetryMeter::Rate;
    TelemetryMeter m;
    EXPECT_EQ(m.snapshot().disk_read_bps, 0.0);
    const double GiB = double(uint64(1) << 30);
    m.record(R::DiskRead, uint64(1) << 30, 1.0);
    EXPECT_DOUBLE_EQ(m.snapshot().disk_read_bps, GiB);
    // A tiny, slow sample (latency-bound) barely moves it.
    m.record(R::DiskRead, 4096, 1e-3);
    EXPECT_NEAR(m.snapshot().disk_read_bps, GiB, GiB * 0.01);
    // A big sample at twice the speed moves most of the way: exp(-4) of the old sums stay.
    TelemetryMeter m2;
    m2.record(R::DiskRead, uint64(1) << 30, 1.0);
    m2.record(R::DiskRead, uint64(1) << 30, 0.5);
    const double keep = std::exp(-4.0);
    EXPECT_NEAR(m2.snapshot().disk_read_bps, (GiB * keep + GiB) / (keep + 0.5), 1.0);
    EXPECT_GT(m2.snapshot().disk_read_bps, 1.9 * GiB);
    // Kinds are separate; bad samples are ignored.
    m.record(R::HostToDevice, 1000, 0.0);
    m.record(R::HostToDevice, 0, 1.0);
    EXPECT_EQ(m.samples(R::HostToDevice), 0u);
    m.record(R::CpuWeight, 3000, 1.0);
    m.record(R::GpuWeight, 8000, 2.0);
    auto t = m.snapshot();
    EXPECT_EQ(t.host_to_device_bps, 0.0);
    EXPECT_DOUBLE_EQ(t.cpu_weight_bps, 3000.0);
    EXPECT_DOUBLE_EQ(t.gpu_weight_bps, 4000.0);
    EXPECT_EQ(m.samples(R::DiskRead), 2u);
    // Peaks are reported as set; disk_bps() falls back to the peak when nothing was measured.
    TelemetryMeter p;
    p.set_peaks(3e9, 25e9, 100e9, 3000e9);
    t = p.snapshot();
    EXPECT_EQ(t.peak_host_to_device_bps, 25e9);
    EXPECT_EQ(t.peak_host_memory_bps, 100e9);
    EXPECT_EQ(t.peak_device_memory_bps, 3000e9);
    EXPECT_EQ(t.disk_bps(), 3e9);
    p.record(R::DiskRead, 1000, 1e-6);
    EXPECT_DOUBLE_EQ(p.snapshot().disk_bps(), 1e9);
}

TEST(VitalityOracle, RetiredPacksLeaveTheScan) {
    auto packs = synthetic(3, 4, 2);  // 14 packs
    VitalityOracle o(packs, opts(2, 0.0f));
    o.set_retired({4, 5, 6, 7});  // layer 1 lives elsewhere now
    EXPECT_TRUE(o.retired(5));
    EXPECT_FALSE(o.retired(3));
    // Beyond any real next use, so Belady gives it up first even right before its position.
    EXPECT_EQ(o.distance(4, 3), o.cycle_packs());
    EXPECT_EQ(o.choose_victim({0, 1, 2, 3, 4}, 3), 4u);
    // Never predicted: the window from layer 0 skips layer 1 and counts it as a layer.
    for (uint64 id : o.predict_from(0, 2, 100)) EXPECT_FALSE(id >= 4 && id < 8) << id;
    // Even aggression 0 lets a prefetch take a retired pack's room, and not the reverse.
    EXPECT_TRUE(o.should_evict_for_prefetch(5, 9, 0));
    EXPECT_FALSE(o.should_evict_for_prefetch(9, 5, 0));
    // A new set replaces the old one.
    o.set_retired({});
    EXPECT_FALSE(o.retired(5));
    EXPECT_EQ(o.distance(4, 3), 1u);
}
