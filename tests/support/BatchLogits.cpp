#include "support/BatchLogits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backend/KvBlockPool.h"

namespace vk_symbiote::test {

std::vector<std::vector<uint32>> mixed_sequences(const std::vector<uint32>& prompt) {
    const size_t n = prompt.size();
    std::vector<uint32> shorter(prompt.begin(), prompt.begin() + long(std::max<size_t>(2, n / 2)));
    std::vector<uint32> reversed(prompt.rbegin(), prompt.rend());
    return {prompt, shorter, reversed};
}

std::vector<std::vector<float>> batched_logits(Backend& be, const std::vector<std::vector<uint32>>& seqs, uint32 step, uint32 n_vocab) {
    KvBlockPool& pool = *be.kv_pool();
    std::vector<KvBlockTable> kv(seqs.size());
    std::vector<std::vector<float>> out(seqs.size());
    for (size_t s = 0; s < seqs.size(); ++s) out[s].assign(seqs[s].size() * n_vocab, NAN);
    for (uint32 pos = 0;; pos += step) {
        std::vector<SeqChunk> chunks;
        for (size_t s = 0; s < seqs.size(); ++s) {
            if (pos >= seqs[s].size()) continue;
            const uint32 n = std::min<uint32>(step, uint32(seqs[s].size()) - pos);
            EXPECT_TRUE(pool.prepare_write(kv[s], pos, pos + n));
            chunks.push_back({&kv[s], seqs[s].data() + pos, n, pos, true, out[s].data() + uint64(pos) * n_vocab});
        }
        if (chunks.empty()) break;
        auto f = be.forward_batch(chunks);
        EXPECT_TRUE(f) << f.error().to_string();
        if (!f) break;
    }
    for (KvBlockTable& t : kv) pool.release(t);
    return out;
}

}  // namespace vk_symbiote::test
