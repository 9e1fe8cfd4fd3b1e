// BatchRowsPass: one batched pass (VulkanBackend::forward_batch: B rows of several sequences,
// paged K / V in the device pool) with the hybrid rows split (RowsSplit at cpu_heads): in every
// split segment the CPU computes rows [0, r) of each matrix for all B rows from RAM (BatchHybrid's
// CpuBackend, each weight row read once for the B rows) while the GPU computes the rest from its
// half slot; the parts are merged on the host and the CPU's rows copied in where the GPU reads
// them next. Attention runs on the GPU for every head over the pool (the CPU keeps no KV).
// A split layer is five submissions, each waited for:
//   1. GPU: attention norm, its Q / K / V rows (rope, head norms) | CPU: its Q / K / V rows
//   2. GPU: the CPU's Q / K / V rows in, attention of every head, att out
//   3. GPU: its Wo rows (+ residual)                                | CPU: its Wo rows
//   4. GPU: the CPU's x rows in, FFN norm, its gate / up units       | CPU: its gate / up units
//   5. GPU: the CPU's units in, its down rows (+ residual)          | CPU: its down rows
// With post norms (3, 5) the host assembles the block's output, norms it and adds it to x.
// Resident segments run on the GPU alone; a split head computes logits rows [0, Vc) on the CPU.
// Every streamed segment's GPU rows come by DMA in up to three pieces (RowsSplit::piece_of: for
// exchanges 1-3, 4 and 5), each into the half slot after the previous piece's, the next piece
// uploading while this one computes (no copies ahead across passes: the pass starts and ends
// with its own uploads). The CPU's rows go in as one multi-region copy per matrix (one barrier).
// A one-row pass (one sequence's decode step) with RowsSplit::shader streams as the serial
// decode (RowsPass) does: piece k > 0 of a layer is copied by copy.comp inside the exchanges
// that read piece k - 1 (into the other half, whose readers finished); the pass's first piece
// and the head's come by DMA.
#pragma once

#include "backend/vulkan/BatchHybrid.h"
#include "backend/vulkan/LayerKernels.h"
#include "backend/vulkan/VulkanModel.h"

namespace vk_symbiote {

class BatchRowsPass {
public:
    BatchRowsPass(VulkanContext& ctx, VulkanModel& m, BatchHybrid& h, PassCounters& counters, const BatchRows& rows);
    // The pass; its logits rows end in h.logits.
    ExpectedVoid run();
    double cpu_seconds() const { return cpu_s_; }       // the CPU's parts of the split segments
    uint64 cpu_weight_bytes() const { return cpu_bytes_; }  // weights they read
    uint64 bus_bytes() const { return bus_bytes_; }         // the GPU's rows uploaded
    double gpu_side_seconds() const { return gpu_side_s_; }  // exchanges that read an upload: submission to done
    // The host waited for the GPU after its CPU parts in exchanges that read an upload longer than
    // a tenth of those parts: the bus (or the GPU) set the pace, not the CPU.
    bool bus_bound() const { return upload_wait_s_ > 0.1 * cpu_s_; }
    bool shader_copies() const { return copies_; }  // the one-row copy mode above

private:
    ExpectedVoid begin_split(uint32 seg, uint32 piece, bool x_up = true);
    ExpectedVoid resident_segment(uint32 seg);
    ExpectedVoid split_layer(uint32 seg);
    // `half`: the ring index of the half slot holding the exchange's piece (-1: none streams).
    ExpectedVoid qkv_exchange(uint32 seg, int32 half);
    ExpectedVoid attention_exchange(uint32 seg);
    // Exchanges 3 and 5: x (+)= W in, GPU rows [Ec, E) from in_dev, CPU rows [0, Ec) from in_host
    // (B, cols packed); with post norms x += rmsnorm(assembled output) * post.
    ExpectedVoid output_exchange(TensorRole role, uint32 seg, int32 half, ActView in_dev, const float* in_host, TensorRole post);
    ExpectedVoid ffn_exchange(uint32 seg, int32 half);
    ExpectedVoid head(uint32 seg);
    // Logits of the out rows: x rows gathered on the host, GPU rows [Vc, V) (Vc == V: none), CPU rows [0, Vc).
    ExpectedVoid split_head(int32 half, uint32 Vc);
    ExpectedVoid resident_head();
    ExpectedVoid end_pass();  // marks the end of the GPU's part in an empty submission
    // Submits the open recording (waiting for half slot `half`'s upload when >= 0), runs
    // cpu_part meanwhile, then waits for the device.
    template <class CpuPart>
    ExpectedVoid exchange(int32 half, CpuPart&& cpu_part);
    ExpectedVoid open();
    // B rows of `cols` floats, packed at h.up + up_floats, into dst rows of `stride` floats from column `col`.
    ExpectedVoid rows_in(uint64 up_floats, VkBuffer dst, uint32 stride, uint32 col, uint32 cols, uint32 n);
    ExpectedVoid x_to_gpu();
    ExpectedVoid x_to_host();
    ExpectedVoid issue_until(uint32 upto);  // DMA uploads of pieces [issued, upto)
    uint32 half_of(uint32 k) const;         // the half slot of piece k
    int32 piece_half(uint32 seg, uint32 p) const;
    DeviceWeight gpu_part(TensorRole role, int32 layer, int32 half) const;
    bool by_copy(uint32 k) const;  // piece k comes by copy.comp (the one-row copy mode)
    // copy.comp of piece k's bytes [lo, hi) (fractions of its bytes, cut at 256-byte steps of a copy) into its half.
    ExpectedVoid copy_piece(uint32 k, double lo, double hi);
    uint64 cpu_share_bytes(uint32 seg) const;

    VulkanContext& ctx_;
    VulkanModel& m_;
    RowsSplit& rows_;
    BatchHybrid& h_;
    PassCounters& counters_;
    const BatchRows& batch_;
    const ModelConfig& cfg_;
    LayerKernels kernels_;
    OpContext c_;
    const uint32 B_, E_, F_, V_, Q_, KV_;
    uint32 Qc_ = 0, Kc_ = 0, Ec_ = 0, Fc_ = 0;  // the CPU's rows of q, k / v, x, h
    uint32 S_ = 0, issued_ = 0;                  // pieces of the pass, pieces uploaded
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    bool started_ = false;
    bool host_current_ = true;  // h.x holds x (after split segments, or before the first)
    bool copies_ = false;       // the one-row copy mode
    uint32 gpu_stale_;          // the device's x has columns [0, gpu_stale) of every row older than h.x
    double cpu_s_ = 0, wait_s_ = 0, upload_wait_s_ = 0, gpu_side_s_ = 0;
    uint64 cpu_bytes_ = 0, bus_bytes_ = 0;
};

}  // namespace vk_symbiote
