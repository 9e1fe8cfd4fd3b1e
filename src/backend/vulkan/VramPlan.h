// VramPlan: where each weight tensor lives on the device under the VRAM budget (pure
// arithmetic, unit-tested without a device). A pass visits segments: layers 0 .. n_layer-1,
// then the head. A tensor is resident (uploaded once) or streamed into one of `slots` slots
// every pass. Every streamed byte moves once per pass (a cyclic scan), so the best resident
// set holds the most bytes: whole layers first, evenly spaced so a streamed layer's upload runs
// beside resident compute, then the largest tensors that fit. Bytes are counted as VulkanMemory
// reserves them (vram_alloc_cost) plus one block of slack; norms are always resident.
// A mixture of experts (expert_places = k > 0): a token uses k of a layer's experts, chosen
// mid-layer, so a slot holds the segment's dense part and k expert places (not every expert);
// experts are never resident one by one (unless everything fits): the VRAM left once the
// dense tensors are placed becomes an expert cache (ExpertCache) of whole experts.
#pragma once

#include <string>
#include <vector>

#include "model/TensorRegistry.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct VramTensor {
    TensorId id;
    uint64 rows = 0;
    uint64 row_bytes = 0;
    uint32 segment = 0;  // layer index; n_layer for the head
    bool norm = false;   // always resident
};

struct VramPlanInput {
    std::vector<VramTensor> tensors;  // in use order
    uint32 n_segments = 0;            // n_layer + 1
    uint64 fixed_bytes = 0;           // KV cache + activations + tables (device bytes)
    uint64 budget_bytes = 0;
    uint32 slots = 2;                 // streaming slots (>= 1)
    uint64 max_piece_bytes = 0;       // maxStorageBufferRange
    uint64 align = 256;               // piece offset alignment inside a slot
    uint64 block_bytes = uint64(64) << 20;  // VulkanMemory's block size (for alloc_cost and slack)
    bool force_streaming = false;     // tests: stream every non-norm tensor even when all would fit (no expert cache)
    uint32 expert_places = 0;         // k = n_expert_used of a mixture of experts (0: every tensor has its own place)
    // The minimum a refusal states (0: this input's own minimum_budget_bytes). VulkanBackend
    // passes the smallest budget that runs once the block size follows that budget.
    uint64 stated_minimum = 0;
};

// One piece of a tensor: rows [row_begin, row_begin + rows), at slot_offset in the slot
// (streamed tensors only).
struct VramPiece {
    uint64 row_begin = 0;
    uint64 rows = 0;
    uint64 slot_offset = 0;
};

struct VramTensorPlan {
    bool resident = false;
    std::vector<VramPiece> pieces;  // row split respecting max_piece_bytes (both kinds)
};

// A streamed expert's pieces have slot_offset relative to its place: place j of segment seg
// starts at expert_base[seg] + j * expert_place_bytes in the slot.
struct VramPlan {
    std::vector<VramTensorPlan> tensors;   // parallel to VramPlanInput::tensors
    uint32 slots = 0;                      // 0: everything resident
    uint64 slot_bytes = 0;
    std::vector<uint64> segment_stream_bytes;  // per segment: bytes copied into its slot per pass
    uint64 resident_weight_bytes = 0;      // weight bytes (not rounded) kept resident
    uint64 streamed_weight_bytes = 0;      // weight bytes copied per forward pass (at most, with experts)
    uint64 streamed_expert_bytes = 0;      // of those, expert matrices': only the router's chosen ones cross
    uint64 device_bytes = 0;               // everything planned (fixed + resident + slots + slack)
    uint64 minimum_budget_bytes = 0;       // smallest budget that runs (everything streamed)
    uint32 resident_layers = 0;            // segments < n_layer whose every tensor is resident
    uint32 expert_places = 0;              // places per slot for chosen experts (0: experts have fixed places)
    uint64 expert_place_bytes = 0;         // one expert's matrices in a slot (aligned pieces)
    std::vector<uint64> expert_base;       // per segment: slot offset of its first expert place
    uint32 expert_cache_entries = 0;       // whole experts the VRAM expert cache holds (expert_place_bytes each)
    std::string kv;                        // where the KV caches live (KvPlacement::summary), set by the backend
    std::string summary() const;           // one line for logs
};

// Bytes VulkanMemory reserves for a buffer of `bytes` (see the file comment).
uint64 vram_alloc_cost(uint64 bytes, uint64 block_bytes);
// Rows per piece so a piece stays within max_piece_bytes; a multiple of 256 rows when
// possible so that pieces keep head boundaries.
uint64 vram_rows_per_piece(uint64 row_bytes, uint64 max_piece_bytes);

// BudgetTooSmall (with the minimum) when even streaming everything does not fit.
Expected<VramPlan> plan_vram(const VramPlanInput& in);

}  // namespace vk_symbiote
