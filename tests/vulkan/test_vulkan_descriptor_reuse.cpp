// ShaderRuntime descriptor sets: allocated in chunks, kept across recordings and rewritten
// by the next recording. A recording of more dispatches than one pool holds (1024), then a
// second recording with other buffers, must see each dispatch's own bindings.
#include <gtest/gtest.h>

#include "VulkanTestEnv.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

namespace {

// y[i] += x[k][i] for k < n_add (one dispatch each, x rows at element offset k * n), y's
// expected value sum_k x[k][i].
void add_rows(VulkanEnv& env, uint32 n, uint32 n_add, uint64 seed) {
    auto xv = random_values(size_t(n) * n_add, seed);
    auto x = env.upload(xv.data(), xv.size() * 4);
    std::vector<float> zero(n, 0.0f);
    auto y = env.upload(zero.data(), n * 4);
    ShaderSpecialization s;
    env.run(s, [&](OpContext& c) -> ExpectedVoid {
        for (uint32 k = 0; k < n_add; ++k) {
            VKS_TRY(op_add(c, ActView{x.buffer, k * n, n}, ActView{y.buffer, 0, n}, n));
            c.rt.barrier();
        }
        return {};
    });
    auto got = env.download(y, n);
    for (uint32 i = 0; i < n; ++i) {
        float want = 0.0f;  // same order as the GPU: one f32 add per dispatch
        for (uint32 k = 0; k < n_add; ++k) want += xv[size_t(k) * n + i];
        ASSERT_EQ(got[i], want) << "element " << i << " after " << n_add << " dispatches";
    }
}

}  // namespace

TEST(VulkanDescriptorReuse, ManyDispatchesAndRecordings) {
    VKS_REQUIRE_VULKAN();
    add_rows(*env, 64, 1100, 1);  // more than one pool (1024 sets) in one recording
    add_rows(*env, 96, 70, 2);    // the previous recording's sets rewritten with new buffers
    add_rows(*env, 32, 1100, 3);  // both pools reused
}
