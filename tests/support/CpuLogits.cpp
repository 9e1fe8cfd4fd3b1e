#include "support/CpuLogits.h"

#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/CpuBackend.h"

namespace vk_symbiote::test {

std::vector<float> cpu_prompt_logits(WeightProvider& w, const std::vector<uint32>& tokens, uint32 n_batch) {
    CpuBackend be(2, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
    const uint32 n = uint32(tokens.size());
    auto ok = be.prepare(w, n, n_batch ? n_batch : n);
    EXPECT_TRUE(ok) << ok.error().to_string();
    std::vector<float> logits(uint64(n) * w.config().n_vocab, NAN);
    auto f = be.forward({tokens.data(), n, 0, true, logits.data()});
    EXPECT_TRUE(f) << f.error().to_string();
    return logits;
}

}  // namespace vk_symbiote::test
