#include <gtest/gtest.h>

#include <map>
#include <set>

#include "PackTestUtil.h"
#include "packs/PackPlanner.h"
#include "packs/WeightPack.h"

using namespace vk_symbiote;
using namespace vk_symbiote::packtest;

namespace {

// Checks every invariant of a plan against the registry.
void check_plan(const TensorRegistry& reg, const PackPlan& plan, uint64 max_bytes, const std::string& what) {
    SCOPED_TRACE(what + " max_pack_bytes=" + std::to_string(max_bytes));
    ASSERT_EQ(plan.tensor_packs.size(), reg.tensors().size());
    for (size_t i = 0; i < plan.packs.size(); ++i) {
        const auto& p = plan.packs[i];
        EXPECT_EQ(p.pack_id, i);
        EXPECT_EQ(p.order, i);
        EXPECT_LE(p.byte_size, max_bytes);
        EXPECT_GT(p.byte_size, 0u);
        ASSERT_FALSE(p.slices.empty());
        for (size_t s = 0; s < p.slices.size(); ++s) {
            const auto& sl = p.slices[s];
            EXPECT_LE(sl.pack_offset + sl.byte_size, p.byte_size);
            if (s > 0) {
                EXPECT_GE(sl.pack_offset, p.slices[s - 1].pack_offset + p.slices[s - 1].byte_size) << "slices overlap in pack " << i;
            }
        }
        // Use order: layers ascending, output packs last.
        if (i > 0) {
            const auto& q = plan.packs[i - 1];
            int32 a = q.layer < 0 ? INT32_MAX : q.layer, b = p.layer < 0 ? INT32_MAX : p.layer;
            EXPECT_LE(a, b) << "pack " << i << " out of use order";
        }
    }
    // Coverage: each row of each tensor exactly once, in row order, bytes at the right file offsets.
    for (size_t t = 0; t < reg.tensors().size(); ++t) {
        const TensorDesc& d = reg.tensors()[t];
        const auto& refs = plan.tensor_packs[t];
        if (d.id.role == TensorRole::TokenEmbd) {
            EXPECT_TRUE(refs.empty()) << "token_embd must not be planned as packs";
            continue;
        }
        uint64 next_row = 0;
        for (const auto& r : refs) {
            ASSERT_LT(r.pack_id, plan.packs.size());
            const PackMetadata& p = plan.packs[r.pack_id];
            const PackSlice& s = p.slices[r.slice];
            EXPECT_EQ(s.row_begin, next_row) << d.name;
            EXPECT_GT(s.row_end, s.row_begin);
            EXPECT_EQ(s.byte_size, (s.row_end - s.row_begin) * d.row_bytes());
            EXPECT_EQ(s.file_offset, d.file_offset + s.row_begin * d.row_bytes());
            EXPECT_EQ(p.type, pack_type_for(d.id.role)) << d.name;
            EXPECT_EQ(p.layer, d.id.layer) << d.name;
            next_row = s.row_end;
        }
        EXPECT_EQ(next_row, d.rows) << d.name << ": rows not covered";
    }
    // Every slice belongs to exactly one tensor reference.
    size_t n_slices = 0, n_refs = 0;
    for (const auto& p : plan.packs) n_slices += p.slices.size();
    for (const auto& r : plan.tensor_packs) n_refs += r.size();
    EXPECT_EQ(n_slices, n_refs);
    // Norm bundling: per layer exactly one Norm pack holding both norms.
    std::map<int32, int> norm_packs;
    for (const auto& p : plan.packs)
        if (p.type == PackType::Norm) {
            norm_packs[p.layer]++;
            EXPECT_EQ(p.slices.size(), 2u) << "layer " << p.layer << " norm pack should bundle attn_norm + ffn_norm";
        }
    for (const auto& [layer, count] : norm_packs) EXPECT_EQ(count, 1) << "layer " << layer;
    // Extents cover every slice with buffer positions mirroring the file.
    for (const auto& p : plan.packs) {
        auto ex = PackPlan::extents(p);
        EXPECT_LE(ex.size(), p.slices.size());
        for (const auto& s : p.slices) {
            bool in = false;
            for (const auto& e : ex)
                in = in || (s.file_offset >= e.file_offset && s.file_offset + s.byte_size <= e.file_offset + e.size &&
                            s.pack_offset - e.pack_offset == s.file_offset - e.file_offset);
            EXPECT_TRUE(in) << "slice of " << s.tensor_name << " outside the extents of pack " << p.pack_id;
        }
    }
    // Working set: the largest per-layer (or output) group.
    std::map<int32, uint64> group;
    for (const auto& p : plan.packs) group[p.layer] += pack_buffer_bytes(p.byte_size);
    uint64 ws = 0;
    for (auto& [l, b] : group) ws = std::max(ws, b);
    EXPECT_EQ(plan.working_set_bytes, ws);
}

}  // namespace

TEST(PackPlanner, InvariantsForEveryModelAndSeveralMaxima) {
    for (const auto& name : model_names()) {
        auto m = open_model(test::models_dir() / name);
        ASSERT_TRUE(m.file);
        for (uint64 max : {uint64(4096), uint64(64) << 10, uint64(32) << 20}) {
            auto plan = plan_packs(m.reg, {max});
            ASSERT_TRUE(plan) << plan.error().to_string();
            check_plan(m.reg, *plan, max, name);
        }
    }
}

TEST(PackPlanner, LargeMatricesSplitByRowsUnderTinyMaximum) {
    auto m = open_model(test::models_dir() / "syn-spm-f16.gguf");
    auto plan = plan_packs(m.reg, {4096});
    ASSERT_TRUE(plan);
    // The 32000-row output matrix must be cut into many packs.
    size_t t_out = 0;
    for (size_t i = 0; i < m.reg.tensors().size(); ++i)
        if (m.reg.tensors()[i].id.role == TensorRole::Output) t_out = i;
    EXPECT_GT(plan->tensor_packs[t_out].size(), 100u);
    EXPECT_LE(plan->largest_pack_bytes, 4096u);
    EXPECT_EQ(plan->packs.back().type, PackType::Output);
}

TEST(PackPlanner, SmallTensorsShareAPackUnderDefaultMaximum) {
    auto m = open_model(test::models_dir() / "stories260K.gguf");
    auto plan = plan_packs(m.reg);
    ASSERT_TRUE(plan);
    // stories260K's layer is far below 32 MB: norms + one attention + one MLP pack per layer,
    // then output norm + output.
    EXPECT_EQ(plan->packs.size(), size_t(m.cfg.n_layer) * 3 + 2);
}

TEST(PackPlanner, TiedOutputSlicesTokenEmbd) {
    for (const auto& name : model_names()) {
        auto m = open_model(test::models_dir() / name);
        if (!m.cfg.tied_output) continue;
        auto plan = plan_packs(m.reg, {4096});
        ASSERT_TRUE(plan);
        for (const auto& p : plan->packs)
            if (p.type == PackType::Output) {
                for (const auto& s : p.slices) EXPECT_EQ(s.tensor_name, "token_embd.weight") << name;
            }
    }
}

TEST(PackPlanner, DeterministicIds) {
    auto m = open_model(test::models_dir() / "syn-f16.gguf");
    auto a = plan_packs(m.reg, {8192});
    auto b = plan_packs(m.reg, {8192});
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->packs.size(), b->packs.size());
    for (size_t i = 0; i < a->packs.size(); ++i) {
        EXPECT_EQ(a->packs[i].pack_id, b->packs[i].pack_id);
        EXPECT_EQ(a->packs[i].byte_size, b->packs[i].byte_size);
        ASSERT_EQ(a->packs[i].slices.size(), b->packs[i].slices.size());
        for (size_t s = 0; s < a->packs[i].slices.size(); ++s) {
            EXPECT_EQ(a->packs[i].slices[s].tensor_name, b->packs[i].slices[s].tensor_name);
            EXPECT_EQ(a->packs[i].slices[s].file_offset, b->packs[i].slices[s].file_offset);
        }
    }
}

TEST(PackPlanner, MaximumBelowOneRowIsAnError) {
    auto m = open_model(test::models_dir() / "syn-f32.gguf");
    auto plan = plan_packs(m.reg, {128});  // rows of n_embd f32 are larger
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(plan.error().message.find("max_pack_bytes"), std::string::npos) << plan.error().message;
    EXPECT_NE(plan.error().message.find("tensor '"), std::string::npos) << plan.error().message;
}
