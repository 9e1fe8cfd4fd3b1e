// PackWeightProvider: weights served through packs under a tiny RAM budget are the
// file's bytes; errors (budget, truncation) are values.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "PackTestUtil.h"
#include "memory/FileWeightProvider.h"
#include "memory/MemoryStats.h"
#include "common/Units.h"
#include "packs/PackWeightProvider.h"

using namespace vk_symbiote;
using namespace vk_symbiote::packtest;

namespace {

float to_f32(DType dt, const uint8* p) {
    if (dt == DType::F32) {
        float f;
        std::memcpy(&f, p, 4);
        return f;
    }
    uint16 h;
    std::memcpy(&h, p, 2);
    uint32 bits;
    if (dt == DType::BF16) {
        bits = uint32(h) << 16;
    } else {  // normal and zero halves only (random test weights have no subnormals / inf)
        uint32 e = (h >> 10) & 0x1f, m = h & 0x3ff;
        bits = (uint32(h & 0x8000) << 16) | (e == 0 && m == 0 ? 0 : ((e + 112) << 23) | (m << 13));
        if (e == 0 && m != 0) return (h & 0x8000 ? -1.0f : 1.0f) * float(m) / 1024.0f / 16384.0f;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

PackOptions tiny_options(const Path& model) {
    PackOptions o;
    o.max_pack_bytes = 4096;
    o.embedding_cache_rows = 8;
    o.pin_wait_ms = 2000;
    auto min = PackWeightProvider::minimum_ram_budget(model, o);
    EXPECT_TRUE(min) << min.error().to_string();
    o.ram_budget_bytes = min ? *min : 0;
    return o;
}

}  // namespace

TEST(PackWeightProvider, EveryModelServesTheFileBytesUnderATinyBudget) {
    for (const auto& name : model_names()) {
        SCOPED_TRACE(name);
        const Path path = test::models_dir() / name;
        auto o = tiny_options(path);
        auto pw = PackWeightProvider::open(path, o);
        ASSERT_TRUE(pw) << pw.error().to_string();
        PackWeightProvider& w = **pw;
        EXPECT_LT(o.ram_budget_bytes, w.registry().total_bytes()) << "budget must be a fraction of the model";
        // Two passes over every tensor in use order (the second exercises eviction + hits).
        for (int pass = 0; pass < 2; ++pass)
            for (const auto& d : w.registry().tensors()) {
                if (d.id.role == TensorRole::TokenEmbd) continue;
                auto h = w.acquire(d.id);
                ASSERT_TRUE(h) << h.error().to_string();
                const WeightView& v = h->view();
                EXPECT_EQ(v.rows, d.rows);
                EXPECT_EQ(v.cols, d.cols);
                EXPECT_EQ(v.dtype, d.dtype);
                const std::string gguf = d.id.role == TensorRole::Output && w.config().tied_output ? "token_embd.weight" : d.name;
                auto want = w.file().read_tensor(gguf);
                ASSERT_TRUE(want) << want.error().to_string();
                uint64 next = 0;
                for (const auto& s : v.slices) {
                    ASSERT_EQ(s.row_begin, next) << d.name;
                    ASSERT_EQ(std::memcmp(s.data, want->data() + s.row_begin * d.row_bytes(), (s.row_end - s.row_begin) * d.row_bytes()), 0)
                        << d.name << " rows [" << s.row_begin << ", " << s.row_end << ")";
                    next = s.row_end;
                }
                EXPECT_EQ(next, d.rows) << d.name;
            }
        // Embedding rows: converted to f32 from the raw table, twice (cache hits the second time).
        const TensorDesc& e = w.registry().get({TensorRole::TokenEmbd, -1});
        auto table = w.file().read_tensor(e.name);
        ASSERT_TRUE(table);
        std::vector<float> row(w.config().n_embd);
        for (int rep = 0; rep < 2; ++rep)
            for (uint32 tok : {0u, 1u, 7u, w.config().n_vocab - 1}) {
                ASSERT_TRUE(w.embedding_row(tok, row.data()));
                for (uint32 i = 0; i < w.config().n_embd; ++i)
                    ASSERT_EQ(row[i], to_f32(e.dtype, table->data() + tok * e.row_bytes() + i * dtype_size(e.dtype))) << "token " << tok << " col " << i;
            }
        EXPECT_EQ(w.embedding_cache_hits(), 4u);
        EXPECT_FALSE(w.embedding_row(w.config().n_vocab, row.data()));
        auto s = w.manager().get_ram_stats();
        EXPECT_LE(s.peak_bytes, w.manager().pack_budget_bytes());
        EXPECT_GT(s.bytes_loaded, w.manager().pack_budget_bytes()) << "the model must have streamed through the budget";
        EXPECT_GT(s.evictions, 0u);
        EXPECT_EQ(s.pinned_packs, 0u);
    }
}

TEST(PackWeightProvider, BudgetBelowTheMinimumIsRefusedWithTheMinimumInGB) {
    const Path path = test::models_dir() / "stories260K.gguf";
    auto o = tiny_options(path);
    const uint64 min = o.ram_budget_bytes;
    o.ram_budget_bytes = min - 1;
    auto pw = PackWeightProvider::open(path, o);
    ASSERT_FALSE(pw);
    EXPECT_EQ(pw.error().code, ErrorCode::BudgetTooSmall);
    EXPECT_NE(pw.error().message.find("minimum is " + format_gib_up(min)), std::string::npos) << pw.error().message;
    EXPECT_NE(pw.error().message.find("embedding row cache"), std::string::npos) << pw.error().message;
}

TEST(PackWeightProvider, TokenEmbdIsNotServedAsPacks) {
    const Path path = test::models_dir() / "syn-f16.gguf";
    auto pw = PackWeightProvider::open(path, tiny_options(path));
    ASSERT_TRUE(pw);
    auto h = (*pw)->acquire({TensorRole::TokenEmbd, -1});
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().code, ErrorCode::InvalidArgument);
    EXPECT_FALSE((*pw)->acquire({TensorRole::Wq, 999}));
}

TEST(PackWeightProvider, TruncatedModelIsAnErrorFromAcquireAndEmbeddingRow) {
    const Path tmp = test::tmp_dir() / "provider-truncated.gguf";
    std::filesystem::copy_file(test::models_dir() / "syn-f32.gguf", tmp, std::filesystem::copy_options::overwrite_existing);
    auto pw = PackWeightProvider::open(tmp, tiny_options(tmp));
    ASSERT_TRUE(pw);
    ASSERT_TRUE((*pw)->acquire({TensorRole::Wq, 0}));
    std::filesystem::resize_file(tmp, std::filesystem::file_size(tmp) - 4096);
    auto h = (*pw)->acquire({TensorRole::Output, -1});
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().code, ErrorCode::Io);
    EXPECT_NE(h.error().message.find("provider-truncated.gguf"), std::string::npos) << h.error().message;
    std::vector<float> row((*pw)->config().n_embd);
    EXPECT_FALSE((*pw)->embedding_row(3, row.data()));
}

TEST(PackWeightProvider, InjectedReadErrorSurfacesFromAcquire) {
    const Path path = test::models_dir() / "stories260K.gguf";
    auto o = tiny_options(path);
    o.fault_hook = [](uint64, uint64) -> ExpectedVoid { return make_error(ErrorCode::Io, "injected EIO"); };
    auto pw = PackWeightProvider::open(path, o);
    ASSERT_TRUE(pw);
    auto h = (*pw)->acquire({TensorRole::Wup, 2});
    ASSERT_FALSE(h);
    EXPECT_NE(h.error().message.find("injected EIO"), std::string::npos) << h.error().message;
    EXPECT_NE(h.error().message.find("blk.2.ffn_up.weight"), std::string::npos) << h.error().message;
}

TEST(PackWeightProvider, MemoryStatsReadsProc) {
    auto m = read_process_memory();
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_GT(m->rss_bytes, 0u);
    EXPECT_GE(m->peak_rss_bytes, m->rss_bytes);
    EXPECT_GT(m->rss_file_bytes, 0u);  // this test binary's own code pages are file-backed
    EXPECT_LE(m->rss_file_bytes, m->rss_bytes);
}

// Issue 26: loading a model into RAM shows progress. The provider reports every tensor it
// reads, ending exactly at the bytes it announced (the engine's progress line finishes there).
TEST(FileWeightProviderProgress, ReportsEveryLoadUpToTheExpectedBytes) {
    auto w = FileWeightProvider::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(w) << w.error().to_string();
    std::vector<std::pair<uint64, uint64>> calls;
    (*w)->on_load([&](uint64 loaded, uint64 total) { calls.emplace_back(loaded, total); });
    for (const TensorDesc& t : (*w)->registry().tensors()) {
        if (t.id.role == TensorRole::TokenEmbd) continue;  // read row by row, never whole
        ASSERT_TRUE((*w)->acquire(t.id));
    }
    ASSERT_FALSE(calls.empty());
    for (size_t i = 1; i < calls.size(); ++i) EXPECT_GT(calls[i].first, calls[i - 1].first);
    EXPECT_EQ(calls.back().first, (*w)->expected_bytes());
    EXPECT_EQ(calls.back().second, (*w)->expected_bytes());
    EXPECT_EQ((*w)->loaded_bytes(), (*w)->expected_bytes());
}
