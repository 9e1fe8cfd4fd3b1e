// CpuBackend and FileWeightProvider: errors come back as Expected, weights arriving as
// several row slices give the same logits, embedding rows never load the whole table.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/CpuBackend.h"
#include "memory/FileWeightProvider.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

std::unique_ptr<FileWeightProvider> open_model(const char* name) {
    auto w = FileWeightProvider::open(test::models_dir() / name);
    EXPECT_TRUE(w) << w.error().to_string();
    return w ? std::move(*w) : nullptr;
}

// Wraps a provider and hands every matrix out as `n_slices` row slices of uneven size,
// recording acquire/release balance and the hints it was given.
class SlicingProvider final : public WeightProvider {
public:
    SlicingProvider(WeightProvider& inner, uint64 n_slices) : inner_(inner), n_slices_(n_slices) {}
    const ModelConfig& config() const override { return inner_.config(); }
    const TensorRegistry& registry() const override { return inner_.registry(); }
    Expected<WeightHandle> acquire(TensorId id) override {
        auto h = inner_.acquire(id);
        if (!h) return h.error();
        WeightView v = h->view();
        if (v.rows > 1) {
            const uint8* base = static_cast<const uint8*>(v.slices.at(0).data);
            const uint64 rb = v.cols * dtype_size(v.dtype);
            v.slices.clear();
            uint64 r = 0;
            for (uint64 k = 0; k < n_slices_ && r < v.rows; ++k) {
                uint64 end = k + 1 == n_slices_ ? v.rows : std::min(v.rows, r + std::max<uint64>(1, v.rows / (n_slices_ + k)));
                v.slices.push_back(WeightSlice{base + r * rb, r, end, k});
                r = end;
            }
        }
        ++pinned;
        return WeightHandle(std::move(v), [this] { --pinned; });
    }
    ExpectedVoid embedding_row(uint32 token, float* out) override { return inner_.embedding_row(token, out); }
    void hint_upcoming(const std::vector<TensorId>& ids) override { hints += ids.size(); }

    int pinned = 0;
    uint64 hints = 0;

private:
    WeightProvider& inner_;
    uint64 n_slices_;
};

std::vector<float> run(WeightProvider& w, const std::vector<uint32>& toks) {
    CpuBackend be(2);
    EXPECT_TRUE(be.prepare(w, 32, 8));
    std::vector<float> logits(toks.size() * w.config().n_vocab);
    auto f = be.forward({toks.data(), uint32(toks.size()), 0, true, logits.data()});
    EXPECT_TRUE(f) << f.error().to_string();
    return logits;
}

TEST(CpuBackend, RowSlicedWeightsGiveIdenticalLogits) {
    auto w = open_model("syn-f16.gguf");
    ASSERT_TRUE(w);
    std::vector<uint32> toks{1, 5, 300, 7, 9, 11, 42, 100, 200, 17, 3};  // 11 > n_batch 8: split too
    auto whole = run(*w, toks);
    SlicingProvider sliced(*w, 3);
    auto parts = run(sliced, toks);
    EXPECT_EQ(whole, parts);  // same rows, same kernels: bitwise equal
    EXPECT_EQ(sliced.pinned, 0) << "every acquired handle must be released";
    EXPECT_GT(sliced.hints, 0u) << "the forward pass hints upcoming tensors";
}

// A prompt in one pass (its weight products through the blocked batch product, CpuGemm) gives
// every position the logits that one-token decode steps give it, bit for bit, in every weight
// dtype: the batch product sums each row in the matvec's order, and the rest is per token.
TEST(CpuBackend, PromptBatchGivesDecodeStepsLogitsBitwise) {
    for (const char* model : {"syn-f16.gguf", "syn-bf16.gguf", "syn-f32.gguf"}) {
        auto w = open_model(model);
        ASSERT_TRUE(w);
        const std::vector<uint32> toks{1, 5, 300, 7, 9, 11, 42, 100, 200, 17, 3, 8, 64};  // 13: past the 8-token threshold
        const uint64 V = w->config().n_vocab;
        CpuBackend one_pass(2), be(2);
        ASSERT_TRUE(one_pass.prepare(*w, 32, 16));
        std::vector<float> batch(toks.size() * V), steps(toks.size() * V);
        ASSERT_TRUE(one_pass.forward({toks.data(), uint32(toks.size()), 0, true, batch.data()}));
        ASSERT_TRUE(be.prepare(*w, 32, 16));
        for (uint32 p = 0; p < toks.size(); ++p) ASSERT_TRUE(be.forward({&toks[p], 1, p, true, steps.data() + p * V}));
        EXPECT_EQ(batch, steps) << model;
    }
}

TEST(CpuBackend, ErrorsComeBackAsExpected) {
    auto w = open_model("stories260K.gguf");
    ASSERT_TRUE(w);
    CpuBackend be(1);
    std::vector<float> logits(512);
    uint32 tok = 1;
    auto e = be.forward({&tok, 1, 0, false, logits.data()});
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("before prepare"), std::string::npos) << e.error().message;
    EXPECT_FALSE(be.prepare(*w, 0, 1));
    EXPECT_FALSE(be.prepare(*w, 4, 0));
    ASSERT_TRUE(be.prepare(*w, 4, 2));
    EXPECT_EQ(be.n_ctx(), 4u);

    std::vector<uint32> toks{1, 2, 3, 4, 5};
    e = be.forward({toks.data(), 5, 0, false, logits.data()});  // 5 positions > n_ctx 4
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(e.error().message.find("n_ctx 4"), std::string::npos) << e.error().message;

    uint32 bad = 512;
    e = be.forward({&bad, 1, 0, false, logits.data()});
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("out of range"), std::string::npos) << e.error().message;

    e = be.forward({&tok, 1, 2, false, logits.data()});  // cache empty: position 2 leaves a gap
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("gap"), std::string::npos) << e.error().message;

    ASSERT_TRUE(be.forward({toks.data(), 3, 0, false, logits.data()}));  // split into 2 + 1
    EXPECT_EQ(be.n_past(), 3u);
    ASSERT_TRUE(be.forward({&tok, 1, 3, false, logits.data()}));
    e = be.forward({&tok, 1, 4, false, logits.data()});
    EXPECT_FALSE(e) << "position 4 is beyond n_ctx 4";
    be.reset();
    EXPECT_EQ(be.n_past(), 0u);
    EXPECT_TRUE(be.forward({&tok, 1, 0, false, logits.data()}));
}

TEST(CpuBackend, ProviderErrorsPropagate) {
    // A provider whose tensors fail to load: the forward pass returns that error.
    auto w = open_model("stories260K.gguf");
    ASSERT_TRUE(w);
    struct Failing final : WeightProvider {
        WeightProvider& in;
        explicit Failing(WeightProvider& i) : in(i) {}
        const ModelConfig& config() const override { return in.config(); }
        const TensorRegistry& registry() const override { return in.registry(); }
        Expected<WeightHandle> acquire(TensorId id) override {
            if (id.role == TensorRole::Wv && id.layer == 2) return make_error(ErrorCode::Io, "test: pack for blk.2.attn_v unreadable");
            return in.acquire(id);
        }
        ExpectedVoid embedding_row(uint32 t, float* o) override { return in.embedding_row(t, o); }
    } failing(*w);
    CpuBackend be(1);
    ASSERT_TRUE(be.prepare(failing, 8, 8));
    std::vector<float> logits(512);
    uint32 tok = 1;
    auto e = be.forward({&tok, 1, 0, false, logits.data()});
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::Io);
    EXPECT_NE(e.error().message.find("blk.2.attn_v"), std::string::npos);
}

TEST(FileWeightProvider, EmbeddingRowsAreRangedReads) {
    auto w = open_model("syn-spm-f16.gguf");  // 32000 x 64 f16 table
    ASSERT_TRUE(w);
    std::vector<float> row(w->config().n_embd);
    ASSERT_TRUE(w->embedding_row(31999, row.data()));
    EXPECT_EQ(w->loaded_bytes(), 0u) << "embedding_row must not load the whole table";
    // Same values as the whole tensor read directly, converted.
    const TensorDesc& d = w->registry().get({TensorRole::TokenEmbd, -1});
    std::vector<uint16> raw(d.cols);
    ASSERT_TRUE(w->source().read_range(d.file_offset + 31999 * d.row_bytes(), d.row_bytes(), raw.data()));
    for (uint64 i = 0; i < d.cols; ++i) ASSERT_EQ(row[i], cpu::f16_to_f32(raw[i])) << i;
    auto bad = w->embedding_row(32000, row.data());
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("32000"), std::string::npos);
}

TEST(FileWeightProvider, AcquireLoadsOnceAndEmbeddingRowsAgreeWithTheTable) {
    auto w = open_model("stories260K.gguf");
    ASSERT_TRUE(w);
    ASSERT_FALSE(w->config().tied_output);  // (no shared model has a tied output)
    auto a = w->acquire({TensorRole::Wq, 0});
    ASSERT_TRUE(a);
    const uint64 after_one = w->loaded_bytes();
    EXPECT_EQ(after_one, w->registry().get({TensorRole::Wq, 0}).byte_size);
    auto b = w->acquire({TensorRole::Wq, 0});
    ASSERT_TRUE(b);
    EXPECT_EQ(w->loaded_bytes(), after_one) << "second acquire must not reload";
    EXPECT_EQ(a->view().slices.at(0).data, b->view().slices.at(0).data);
    ASSERT_EQ(a->view().slices.size(), 1u);
    EXPECT_EQ(a->view().slices[0].row_end, a->view().rows);

    auto out = w->acquire({TensorRole::Output, -1});
    ASSERT_TRUE(out);
    auto emb = w->acquire({TensorRole::TokenEmbd, -1});
    ASSERT_TRUE(emb);
    EXPECT_NE(out->view().slices[0].data, emb->view().slices[0].data);
    std::vector<float> row(w->config().n_embd);
    ASSERT_TRUE(w->embedding_row(7, row.data()));
    const float* table = static_cast<const float*>(emb->view().slices[0].data);
    for (uint32 i = 0; i < w->config().n_embd; ++i) ASSERT_EQ(row[i], table[7 * w->config().n_embd + i]);
    EXPECT_FALSE(w->acquire({TensorRole::Wq, 99})) << "no such layer";
}

TEST(FileWeightProvider, OpenErrorsNameTheFile) {
    auto w = FileWeightProvider::open(test::models_dir() / "does-not-exist.gguf");
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find("does-not-exist.gguf"), std::string::npos) << w.error().message;
}

}  // namespace
