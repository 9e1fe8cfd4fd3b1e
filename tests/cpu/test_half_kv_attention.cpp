// attention_head_f16 (caches of f16 bits) against cpu::attention_head over the same values in
// f32: odd head sizes (the tails past the 8-wide blocks), soft-caps, both kernel paths.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "backend/cpu/HalfKvAttention.h"
#include "common/HalfFloat.h"

namespace vk_symbiote::cpu {

namespace {

struct Rows {
    std::vector<uint16> half;  // (n, stride) f16 bits
    std::vector<float> f32;    // the same values
};

Rows random_rows(uint32 n, uint64 stride, std::mt19937& g) {
    std::normal_distribution<float> d(0.0f, 1.0f);
    Rows r;
    r.half.resize(n * stride);
    r.f32.resize(n * stride);
    for (size_t i = 0; i < r.half.size(); ++i) {
        r.half[i] = f32_to_f16(d(g));
        r.f32[i] = f16_to_f32(r.half[i]);
    }
    return r;
}

}  // namespace

TEST(HalfKvAttention, MatchesTheF32KernelOnTheSameValues) {
    std::mt19937 g(7);
    for (KernelPath path : {KernelPath::Scalar, KernelPath::Avx2})
        for (uint32 hd : {8u, 13u, 64u, 128u})
            for (float cap : {0.0f, 5.0f}) {
                SCOPED_TRACE("head_dim " + std::to_string(hd) + " soft-cap " + std::to_string(cap));
                const uint32 n = 300;
                const uint64 stride = 2 * hd + 3;  // two KV heads and a gap: the slice is read, not the row
                const Rows k = random_rows(n, stride, g), v = random_rows(n, stride, g);
                std::vector<float> q(hd), scores(n), want(hd), got(hd, -1.0f);
                std::normal_distribution<float> d(0.0f, 1.0f);
                for (float& x : q) x = d(g);
                AttentionArgs fa;
                fa.q = q.data();
                fa.runs[0] = KvRun{k.f32.data() + hd, v.f32.data() + hd, n};
                fa.kv_stride = stride;
                fa.head_dim = hd;
                fa.scale = 0.125f;
                fa.softcap = cap;
                fa.scores = scores.data();
                fa.out = want.data();
                attention_head(fa, KernelPath::Scalar);
                HalfKvArgs ha;
                ha.q = q.data();
                ha.k = k.half.data() + hd;
                ha.v = v.half.data() + hd;
                ha.kv_stride = stride;
                ha.n = n;
                ha.head_dim = hd;
                ha.scale = 0.125f;
                ha.softcap = cap;
                ha.scores = scores.data();
                ha.out = got.data();
                attention_head_f16(ha, path);
                for (uint32 i = 0; i < hd; ++i) EXPECT_NEAR(got[i], want[i], 1e-5f * (1.0f + std::abs(want[i]))) << "column " << i;
            }
}

}  // namespace vk_symbiote::cpu
