// RowsPass: records one decode token with the rows split (RowsSplit): a plain loop over the
// segments. Resident segments: the GPU alone on the whole x. Split layers: four exchanges,
// each a submission of the GPU's rows (reading half slot `half`) while the CPU computes its
// rows, then a merge of the parts on the host: (1) Q / K / V + attention, (2) wo + residual,
// (3) gate / up, (4) down + residual (with post norms the host norms the assembled output of
// (2) and (4) and adds it to x). The next exchange is recorded on a side thread meanwhile.
// The GPU's rows of the next split segment arrive by DMA (one segment ahead with a transfer
// queue) or by copy.comp dispatches inside the exchanges (RowsSplit::shader).
#pragma once

#include <functional>

#include "backend/vulkan/LayerKernels.h"
#include "backend/vulkan/VulkanModel.h"

namespace vk_symbiote {

class RowsPass {
public:
    RowsPass(VulkanContext& ctx, VulkanModel& m, PassCounters& counters, uint64& rows_ahead_passes, const ForwardRequest& req);
    ExpectedVoid run();

private:
    ExpectedVoid apply_pending_heads();  // set_hybrid_cpu_heads(): a new layout (an upload made ahead is void)
    void take_rows_ahead();              // the first split segment's rows, copied or uploaded by the last pass
    ExpectedVoid resident_segment(uint32 seg);
    ExpectedVoid cpu_head(uint32 seg);   // the streamed head on the CPU alone (RowsSplit::head_cpu)
    ExpectedVoid begin_split(uint32 seg);
    ExpectedVoid split_head(uint32 seg, uint32 half);
    ExpectedVoid split_layer(uint32 seg, uint32 half);
    ExpectedVoid attention_exchange(uint32 seg, uint32 half);
    // Exchanges 2 and 4, the CPU's part: rows [0, Ec) of W in, added to x, or with post norms
    // kept in o_h until join_output has the GPU's rows too.
    ExpectedVoid cpu_output_rows(TensorId w, const float* in);
    // After exchange 2 or 4: the GPU's rows [Ec, E) into x on the host; with post norms, x +=
    // rmsnorm(the assembled output) * post, so the device's x is stale in every row.
    ExpectedVoid join_output(TensorId post);
    uint32 x_rows_up() const;  // rows of x the device gets from the host before gate / up: Ec, or E with post norms
    void account_cpu_layer(uint32 seg);
    ExpectedVoid finish();
    // The half slot of split segment jj (jj == S: the next pass's first).
    uint32 half_of(uint32 jj) const;
    // Copies of segment jj + 1's rows for exchange `phase` into its half (shader copies only).
    ExpectedVoid shader_copies(uint32 jj, uint8 phase);
    ExpectedVoid issue_until(uint32 upto);  // DMA uploads of streamed_[0, upto)
    ExpectedVoid open();
    ExpectedVoid x_to_gpu();   // the CPU's stale rows of x, into the open recording
    ExpectedVoid x_to_host();  // x back to the host after resident segments
    // Submits the open recording, runs cpu_part meanwhile (and records `next` on the side
    // thread), then waits for the device's part (in x_down).
    template <class CpuPart>
    ExpectedVoid exchange(int32 half, uint32 phase, CpuPart&& cpu_part, std::function<ExpectedVoid()> next);
    // Exchanges 2 and 4: x rows [Ec, E) += W rows . in, after the CPU's part of `in` arrived.
    // Both on the side thread, for split layer seg_ in half slot half_ (captures: `this` only, no allocation).
    ExpectedVoid record_project(TensorRole role, VkBuffer in, uint32 in_rows, uint8 phase, ActView in_view);
    ExpectedVoid record_ffn();  // exchange 3

    VulkanContext& ctx_;
    VulkanModel& m_;
    RowsSplit& rows_;
    HybridDecode& h_;
    PassCounters& counters_;
    uint64& rows_ahead_passes_;
    const ForwardRequest& req_;
    const ModelConfig& cfg_;
    LayerKernels kernels_;
    OpContext c_;
    const uint32 E_, F_, V_, Q_, pos_;
    uint32 seg_ = 0, half_ = 0;                    // the split layer being recorded
    uint32 heads_ = 0, Qc_ = 0, Ec_ = 0, Fc_ = 0;  // the CPU's KV heads and rows of q, x, h
    std::vector<uint32> streamed_;       // split segments in pass order
    uint32 S_ = 0, issued_ = 0, j_ = 0;  // split segments; uploads issued; split segments done
    uint32 copies_from_ = 0;             // shader copies bring segments [copies_from, S]
    bool copied_ahead_ = false;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    bool started_ = false;
    // x: the host's xh is current after every split segment; the device's x then has rows
    // [0, gpu_stale) older (the CPU's rows), sent before the device reads x again.
    uint32 gpu_stale_;
    bool host_current_ = true;
    bool head_on_gpu_ = false;
    double cpu_s_ = 0, wait_s_ = 0, layer_cpu_s_ = 0;
};

}  // namespace vk_symbiote
