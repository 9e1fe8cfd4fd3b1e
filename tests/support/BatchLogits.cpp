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

void expect_bad_chunks_refused(Backend& be, const char* bad_token_words) {
    ASSERT_NE(be.kv_pool(), nullptr);
    KvBlockPool& pool = *be.kv_pool();
    KvBlockTable a, b;
    ASSERT_TRUE(pool.prepare_write(a, 0, 3));
    std::vector<uint32> toks{1, 2, 3, 4, 5};
    std::vector<float> logits(5 * 512);  // [5 tokens][stories260K's 512]
    auto refused = [&](std::vector<SeqChunk> chunks, const char* what) {
        auto r = be.forward_batch(chunks);
        ASSERT_FALSE(r) << what;
        EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
        EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    };
    refused({{&b, toks.data(), 1, 0, false, logits.data()}}, "does not cover");
    refused({{&a, toks.data(), 3, 0, false, logits.data()}, {&a, toks.data(), 1, 0, false, nullptr}}, "same block table");
    ASSERT_TRUE(pool.prepare_write(b, 0, 5));
    refused({{&b, toks.data(), 5, 0, false, logits.data()}}, "n_batch 4");
    toks[1] = 512;
    refused({{&a, toks.data(), 3, 0, false, logits.data()}}, bad_token_words);
    refused({}, "0 tokens");
}

}  // namespace vk_symbiote::test
