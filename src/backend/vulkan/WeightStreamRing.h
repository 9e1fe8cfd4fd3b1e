// WeightStreamRing: the slots through which streamed weights reach the GPU, and the ring of
// compute command buffers (slots + 1) a forward pass is split into. A pass is begin /
// [acquire_slot, fill or upload_from, upload] / record / submit, repeated, then finish().
// Uploads go on the transfer queue when there is one (the next compute submission waits on the
// slot's semaphore, so the copy overlaps earlier compute), else at the start of the compute
// command buffer. Buffers are CONCURRENT (no ownership transfer). Timestamps (optional): the
// pass's GPU time, and with `timeline` every upload's and submission's interval. Not thread-safe.
#pragma once

#include <array>

#include <memory>
#include <vector>

#include "backend/vulkan/VulkanMemory.h"

namespace vk_symbiote {

// One interval of the stream timeline, in ns from the earliest event of the forward.
struct StreamSpan {
    enum Kind : uint8 { Upload, Compute };
    Kind kind = Compute;
    int32 slot = -1;   // upload: its slot; compute: the slot whose upload it waited for (-1: none)
    uint64 start_ns = 0, end_ns = 0;
    uint64 bytes = 0;  // upload: bytes copied
};

// Busy time per queue and the time both were busy (unions of the intervals).
struct StreamOverlap {
    uint64 span_ns = 0;     // first start .. last end
    uint64 upload_ns = 0;   // union of upload intervals
    uint64 compute_ns = 0;  // union of compute intervals
    uint64 both_ns = 0;     // intersection of the two unions
    uint32 uploads = 0, computes = 0;
};
StreamOverlap stream_overlap(const std::vector<StreamSpan>& spans);

struct WeightStreamRingOptions {
    uint32 slots = 2;         // 0: no streaming slots (command buffer ring only)
    uint64 slot_bytes = 0;
    // Each slot is also usable as two halves (half_slot()): the hybrid row-split decode
    // double-buffers the GPU's rows of consecutive layers in the two halves of one slot.
    // A half and its whole slot share device memory: acquiring one waits for the readers
    // and uploads of the other. Halves have no staging (uploads from imported memory only).
    bool half_slots = false;
    bool staging = true;      // host staging per slot (false: uploads copy from imported host buffers)
    bool timestamps = true;
    bool timeline = false;    // stream timeline (needs timestamps on both queues and hostQueryReset)
    uint64 fence_timeout_ns = uint64(120) * 1000000000ull;
};

class WeightStreamRing {
public:
    static Expected<std::unique_ptr<WeightStreamRing>> create(const VulkanDevice& dev, VulkanMemory& mem, const WeightStreamRingOptions& opt);
    ~WeightStreamRing();
    WeightStreamRing(const WeightStreamRing&) = delete;
    WeightStreamRing& operator=(const WeightStreamRing&) = delete;

    uint32 slots() const { return opt_.slots; }  // whole slots (indexes [0, slots))
    uint64 slot_bytes() const { return opt_.slot_bytes; }
    // Index of half h (0, 1) of whole slot s (with half_slots; -1 otherwise); its bytes:
    // half_slot_bytes(), starting at slot_offset() of slot_buffer().
    int32 half_slot(uint32 s, uint32 h) const { return opt_.half_slots && s < opt_.slots && h < 2 ? int32(opt_.slots + 2 * s + h) : -1; }
    uint64 half_slot_bytes() const { return opt_.slot_bytes / 2 / 256 * 256; }
    uint64 slot_offset(uint32 s) const { return slots_[s].base; }
    bool uses_transfer_queue() const { return dev_.has_transfer_queue(); }

    // Next compute command buffer, begun (waits until its previous submission finished).
    Expected<VkCommandBuffer> begin();
    // Waits until slot s is no longer read by a pending submission; returns its staging
    // host pointer (slot_bytes, host-coherent) to fill.
    Expected<void*> acquire_slot(uint32 s);
    VkBuffer slot_buffer(uint32 s) const { return slots_[s].device.buffer; }
    // Copies staging [0, bytes) of slot s to its device buffer (see the file comment); the
    // command buffer from begin() must be the one that reads the slot next.
    ExpectedVoid upload(uint32 s, uint64 bytes);
    // The same from other buffers (host memory imported with VulkanMemory::import_host):
    // each copy's dstOffset is relative to slot s (a half: to its start) and inside it.
    struct SourceCopy {
        VkBuffer src = VK_NULL_HANDLE;
        VkBufferCopy region{};
    };
    ExpectedVoid upload_from(uint32 s, const std::vector<SourceCopy>& copies);
    // Ranges of slot s's staging to its device buffer, each at the same offset (parts of a slot
    // filled at different times: a mixture of experts' chosen experts after the router ran).
    ExpectedVoid upload_ranges(uint32 s, const std::vector<VkBufferCopy>& ranges);
    // Submits the command buffer from begin(); it waits for slot `s`'s upload when s >= 0
    // and marks slot s as read by this submission.
    ExpectedVoid submit(int32 s);
    // Waits for every submission; reads the forward's GPU time. An upload issued after
    // finish() (ahead of the next forward, on the transfer queue) stays in flight.
    ExpectedVoid finish(uint32 bank = 0);
    // Waits for command buffer `cmd` only (a pass of one submission: last_cmd() after it), and
    // reads its GPU time from `bank`'s queries; a pass queued behind it keeps running.
    ExpectedVoid finish_cmd(uint32 cmd, uint32 bank);
    uint32 last_cmd() const { return last_cmd_; }  // the command buffer submit() last submitted
    // A barrier from every compute and transfer write of earlier submissions to this recording's
    // reads and writes (a pass submitted while the previous one may still run: DecodeAhead).
    ExpectedVoid record_pass_barrier();
    // Slot s's upload will not be read (a prepared upload the next forward does not use):
    // its semaphore is consumed so that the slot can be uploaded to again.
    ExpectedVoid discard_upload(uint32 s);
    // Waits for the compute submissions only (uploads already on the transfer queue keep
    // running): the host then reads what they wrote (hybrid execution).
    ExpectedVoid wait_compute();
    // Small activation copies inside the current recording (hybrid execution):
    // host staging -> device before compute reads it, and device -> host readback after
    // compute wrote it (visible to the host once the submission's fence signalled).
    ExpectedVoid record_copy_in(VkBuffer src, VkBuffer dst, uint64 bytes, uint64 src_offset = 0, uint64 dst_offset = 0);
    // The same for several regions (rows scattered into strided rows), one barrier after them all.
    ExpectedVoid record_copy_in(VkBuffer src, VkBuffer dst, const std::vector<VkBufferCopy>& regions);
    ExpectedVoid record_copy_out(VkBuffer src, VkBuffer dst, uint64 bytes, uint64 src_offset = 0, uint64 dst_offset = 0);

    // bank (0, 1): the pair of GPU-time queries this pass writes (two passes may be in flight).
    void mark_forward_start(VkCommandBuffer cmd, uint32 bank = 0);
    void mark_forward_end(VkCommandBuffer cmd, uint32 bank = 0);
    // Compute submissions since the last mark_forward_start (one forward pass's).
    uint32 forward_submissions() const { return forward_submits_; }
    uint64 last_gpu_time_ns() const { return last_gpu_ns_; }
    // The last forward's stream timeline (empty unless opt.timeline took effect), in
    // completion order; timeline_enabled(): whether it did.
    std::vector<StreamSpan> timeline() const;
    bool timeline_enabled() const { return timeline_; }
    uint64 bytes_uploaded() const { return bytes_uploaded_; }  // since creation
    uint64 device_bytes() const;  // device memory of the slots

private:
    uint32 forward_submits_ = 0;
    struct Slot {
        GpuBuffer device, staging;  // a half: its whole slot's device buffer (not owned), no staging
        uint64 base = 0, bytes = 0; // the slot's range in `device`
        int32 whole = -1;           // a half: index of its whole slot
        VkCommandBuffer transfer_cmd = VK_NULL_HANDLE;
        VkFence transfer_fence = VK_NULL_HANDLE;
        VkSemaphore uploaded = VK_NULL_HANDLE;
        bool upload_pending = false;   // semaphore signalled, not yet waited by a submission
        bool transfer_in_flight = false;
        int32 reader = -1;             // command ring index of the last submission that read it
        VkQueryPool stamps = VK_NULL_HANDLE;  // timeline: upload start / end
        uint64 stamped_bytes = 0;             // bytes of the timed upload in flight
    };
    struct Cmd {
        VkCommandBuffer cmd = VK_NULL_HANDLE;
        VkFence fence = VK_NULL_HANDLE;
        bool pending = false;
        VkQueryPool stamps = VK_NULL_HANDLE;  // timeline: submission start / end
        bool stamped = false;                 // the pending submission wrote both stamps
        int32 waited_slot = -1;
    };
    struct RawSpan {
        StreamSpan::Kind kind;
        int32 slot;
        uint64 t0, t1, bytes;
    };
    void read_upload_stamps(uint32 s);
    void read_stamps(VkQueryPool pool, StreamSpan::Kind kind, int32 slot, uint64 bytes, uint32 valid_bits);
    WeightStreamRing(const VulkanDevice& dev, VulkanMemory& mem, WeightStreamRingOptions opt) : dev_(dev), mem_(mem), opt_(opt) {}
    ExpectedVoid wait_cmd(uint32 i);
    bool overlaps(uint32 a, uint32 b) const;  // slots a and b share device memory
    ExpectedVoid record_upload(uint32 s, const std::vector<SourceCopy>& copies);

    const VulkanDevice& dev_;
    VulkanMemory& mem_;
    WeightStreamRingOptions opt_;
    VkCommandPool pool_ = VK_NULL_HANDLE, transfer_pool_ = VK_NULL_HANDLE;
    std::vector<Slot> slots_;
    std::vector<Cmd> cmds_;
    uint32 next_cmd_ = 0;
    int32 recording_ = -1;  // index into cmds_ while recording
    VkQueryPool queries_ = VK_NULL_HANDLE;
    std::array<bool, 2> timing_{};  // per bank: the pass wrote its queries, not yet read
    uint32 last_cmd_ = 0;
    ExpectedVoid read_gpu_time(uint32 bank);
    bool timeline_ = false;
    std::vector<RawSpan> raw_;  // this forward's timeline, in ticks
    uint64 last_gpu_ns_ = 0;
    uint64 bytes_uploaded_ = 0;
};

}  // namespace vk_symbiote
