// RowsSplit: the layout of the hybrid decode's rows split (VulkanOptions::HybridSplit::Rows).
// Every streamed segment's matrices are split by rows: the CPU computes the rows of the first
// cpu_heads KV heads' share (cpu_rows) from RAM, the GPU the rest from a half of ring slot 0.
// Half slots alternate along the split segments of a pass (segment j: half (j + parity) % 2)
// and, with an odd count of them, between passes, so the last split segment's exchanges can
// copy the next pass's first rows into the free half (`ahead`). RowsPass records the pass.
// Batched passes over a KV pool (BatchRowsPass, `pieces`) stream finer: each split segment's
// GPU rows go in up to three pieces (Q / K / V and Wo; gate / up, or the output matrix; down),
// each piece in the half slot after the previous piece's, so a piece (not a whole layer's GPU
// rows) must fit half a slot and the CPU's share is free from one KV head up.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <vector>

#include "backend/vulkan/DmaStream.h"
#include "backend/vulkan/SideThread.h"

namespace vk_symbiote {

class RowsSplit {
public:
    RowsSplit(const VulkanOptions& opt, const VulkanDevice& dev, const ModelConfig& cfg, const DeviceWeights& w, const DmaStream& dma,
              const WeightStreamRing& ring)
        : opt_(opt), dev_(dev), cfg_(cfg), w_(w), dma_(dma), ring_(ring) {}
    // Finds the fewest CPU KV heads whose GPU rows fit half a slot; enables the split when
    // the GPU keeps some, and picks the copy mode and the head's place.
    void choose();
    // Rows of matrix `role` the CPU computes with `kv_heads` KV heads (at the current share).
    uint32 cpu_rows(TensorRole role, uint32 kv_heads) const;
    uint32 cpu_rows(TensorRole role) const { return cpu_rows(role, cpu_heads); }
    // The split's index for ComputeSplit: cpu_heads clamped to [min_cpu_heads, n_head_kv - 1], less the minimum.
    uint32 split_index(uint32 kv_heads) const;
    // Lays out every split segment's GPU rows in its half slot at the current share.
    void layout();
    // The GPU's part of a tensor: rows [cpu rows, rows) in half slot `half`, or of its resident copy.
    DeviceWeight gpu_part(TensorRole role, int32 layer, uint32 half) const;
    bool cpu_segment(uint32 seg) const { return head_cpu && seg == cfg_.n_layer; }  // no GPU rows (rows_head Cpu)

    // The pieces of batched passes (set `pieces` before choose()).
    static constexpr uint32 kPieces = 3;
    static uint32 piece_of(TensorRole role);  // 0: Q / K / V, Wo; 1: gate / up, output; 2: down
    // Index of segment seg's piece p among the pass's pieces (-1: none of its tensors streams).
    int32 piece_index(uint32 seg, uint32 p) const { return piece_order[seg][p]; }
    uint32 piece_count() const { return uint32(piece_copies.size()); }

    bool enabled = false;
    uint32 cpu_heads = 0, min_cpu_heads = 0;
    uint32 head_min_heads = 0;    // with pieces: the output matrix's CPU rows take at least this many heads' share
    int32 pending_heads = -1;     // set_hybrid_cpu_heads() for the next decode
    bool shader = false;          // rows_upload took Shader: copy.comp inside the exchanges
    bool head_cpu = false;        // a streamed head computed on the CPU alone
    std::vector<int32> order;     // per segment: its index among the split segments (-1: resident)
    uint32 parity = 0;
    bool ahead = false;           // the first split segment's rows are in its half (copied by the last pass)
    int32 pre = -1;               // half slot holding the first split segment's rows, uploaded ahead (-1: none)
    uint32 head_cpu_rows = 0;     // logits rows [0, n) the CPU computed in the last forward
    std::vector<std::vector<WeightStreamRing::SourceCopy>> copies;  // per segment: its GPU rows' copies
    std::vector<std::vector<uint8>> copy_phase;  // per segment, per copy: the exchange (0-3) whose command buffer copies it
    std::unique_ptr<SideThread> side;            // records the next exchange while the CPU computes
    bool pieces = false;                         // batched passes: pieces, not whole segments, per half slot
    std::vector<std::array<int32, kPieces>> piece_order;             // per segment: piece_index
    std::vector<std::vector<WeightStreamRing::SourceCopy>> piece_copies;  // per piece index: its GPU rows' copies (DMA or copy.comp)
    std::vector<uint32> piece_segment;           // per piece index: its segment
    bool piece_shader_ok = false;                // every piece copy is aligned for copy.comp into either half

private:
    // Half-slot bytes of a segment's GPU rows (with pieces: of its largest piece).
    uint64 gpu_bytes(uint32 seg, uint32 kv_heads) const;
    uint32 fewest_heads(uint32 first, uint32 last) const;
    void layout_pieces();
    // Copies of tensor i's GPU rows [r0, rows) to offset `off` of half `h`, split by exchange; false if misaligned for copy.comp.
    bool add_copies(uint32 seg, size_t i, uint64 r0, uint64 off, uint32 h);
    const VulkanOptions& opt_;
    const VulkanDevice& dev_;
    const ModelConfig& cfg_;
    const DeviceWeights& w_;
    const DmaStream& dma_;
    const WeightStreamRing& ring_;
    std::map<std::pair<uint32, int32>, WeightPiece> pieces_;  // (role, layer) of a streamed tensor -> its GPU rows (offset within a half)
};

}  // namespace vk_symbiote
