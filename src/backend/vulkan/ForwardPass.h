// ForwardPass: one forward pass of whole layers (prompts, decode, the layers split) as a plain
// loop over segments (layers, then the head): each computed by the CPU (HybridDecode) or
// recorded for the GPU, its weights brought by their source (resident: nothing; DMA ring: an
// upload the submission waits for; shader copies: dispatches between the kernels). A new
// submission at every DMA-streamed segment, after layer 1 and every 8 layers (a decode token
// with VulkanOptions::decode_one_submission: not those two).
#pragma once

#include "backend/vulkan/LayerKernels.h"
#include "backend/vulkan/VulkanModel.h"

namespace vk_symbiote {

// With DecodeAhead (VulkanModel::ahead): the pass's bank (descriptor sets, rows image staging,
// readbacks, GPU-time queries), and whether it is queued ahead: its token is the id the last
// pass's argmax left on the device (embedded there; no host row), and it may run while the
// last pass still does (a barrier after everything before it, its rows image copied inside).
struct AheadPass {
    uint32 bank = 0;
    bool queued = false;
};

class ForwardPass {
public:
    // rows: a batched pass over several sequences' rows (paged caches; req holds their tokens at
    // pos 0); its logits rows [0, rows->out_rows()) are left in buf.logits (one: copied to logits_rb).
    ForwardPass(VulkanContext& ctx, VulkanModel& m, PassCounters& counters, const ForwardRequest& req, const BatchRows* rows = nullptr,
                AheadPass ahead = {});
    ~ForwardPass() { m_.shader.end_pass(); }  // also on errors
    ExpectedVoid run();

private:
    ExpectedVoid load_embeddings();
    // The batched pass's BatchRows image for buf.pass_rows: with opt.fuse_decode written to
    // buf.pass_rows_up and copied inside the first command buffer (no host wait), else uploaded
    // and waited for before the first submission.
    ExpectedVoid upload_rows();
    ExpectedVoid copy_inputs_in();  // x (from the host) and the rows image, into the open recording
    void count_recording(uint64 uploads_before);  // a one-row pass: PassCounters::last_decode
    ExpectedVoid record_head();
    uint32 n_out() const;        // logits rows the pass computes
    const DeviceBuffer& rows_up() const;    // the bank's rows image staging
    const DeviceBuffer& logits_rb() const;  // the bank's logits readback
    ExpectedVoid record_tail();  // the logits row to the host; with DecodeAhead its argmax
    ExpectedVoid plan_uploads();  // the GPU's streamed segments; takes over an upload issued ahead
    ExpectedVoid cpu_layer(uint32 seg);
    ExpectedVoid gpu_segment(uint32 seg);
    ExpectedVoid moe_layer(uint32 l);  // a mixture-of-experts layer, routed on the device or on the host mid-layer
    // Whether layer l routes on the device (VulkanOptions::moe_routing): a one-token pass, every
    // expert of the layer resident, a router the kernel takes.
    bool routed_on_device(uint32 l) const;
    // After the pass's last kernel: the routing kernels' writes of the choices made visible to the
    // host (DeviceMoe::learn_choices reads them once the pass finished).
    void choices_to_host();
    // A layer whose KV cache is in RAM: Q / K / V on the GPU, attention on the host
    // (HostAttention), Wo and the FFN on the GPU again; one round trip in between.
    ExpectedVoid host_attention_layer(uint32 l);
    // Layer l's chosen experts when they stream (m_.experts): from the expert cache or through
    // the slot's expert places; counts: the routing's tokens per expert.
    ExpectedVoid streamed_experts(uint32 l, const std::vector<uint32>& counts);
    // x to the host before a CPU layer (submitting the open recording), starting the next GPU
    // layers' uploads meanwhile.
    ExpectedVoid x_to_host(uint32 seg);
    ExpectedVoid upload_beside_cpu(uint32 seg);
    ExpectedVoid open_recording(uint32 seg, bool new_submission);
    // Brings a segment's streamed weights into its slot through feed_ (unless an upload of the
    // last pass or beside a CPU layer did); slot_: the slot whose upload the recording waits for.
    ExpectedVoid bring_weights(uint32 seg);
    ExpectedVoid feed(WeightFeed& f, uint32 seg);  // feed number k_ goes into slot k_ % slots

    VulkanContext& ctx_;
    VulkanModel& m_;
    PassCounters& counters_;
    const ForwardRequest& req_;
    const BatchRows* rows_;
    const AheadPass ahead_;
    const uint32 n_;
    LayerKernels kernels_;
    OpContext c_;
    const bool hybrid_;       // decode with a CPU part: some streamed layers run on the CPU
    const bool shader_pass_;  // prompt pass streaming by shader copies
    WeightFeed& feed_;        // how this pass's streamed weights reach their slots
    FeedTarget target_;
    std::vector<uint32> gpu_streamed_;  // GPU segments that stream, in order
    std::vector<int32> slot_of_;        // per segment: the slot its upload was issued into (-1: none yet)
    std::vector<bool> by_dma_;          // per segment: its weights came by DmaStream (experts then by feed_experts)
    uint32 k_ = 0;                      // uploads issued so far
    bool first_ahead_ = false;          // the previous forward issued this pass's first upload
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    bool started_ = false;
    int32 slot_ = -1;                   // the slot the open command buffer waits for
    bool x_on_host_;                    // x was last written by the CPU or is the embedding row (buf.xh)
    bool device_routed_ = false;        // some layer was routed on the device
    std::vector<VkBufferCopy> rows_copy_;  // the rows image's parts waiting in buf.pass_rows_up (empty: none)
    double cpu_s_ = 0, wait_s_ = 0;
};

}  // namespace vk_symbiote
