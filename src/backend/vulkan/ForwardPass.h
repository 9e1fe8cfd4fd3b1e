// ForwardPass: records and submits one forward pass of whole layers (prompt batches, decode,
// and the hybrid decode's layers split): a plain loop over the segments (layers, then the head),
// each computed by the CPU (HybridDecode's CPU layers) or recorded for the GPU with its
// weights brought in by their source (resident: nothing; DMA ring: an upload the submission
// waits for; shader copies: dispatches inside the command buffers).
//
// Submissions: a new command buffer at every DMA-streamed segment (it waits for that
// upload), after layer 1 (the GPU starts while the host records the rest) and every 8 layers.
#pragma once

#include "backend/vulkan/LayerKernels.h"
#include "backend/vulkan/VulkanModel.h"

namespace vk_symbiote {

class ForwardPass {
public:
    ForwardPass(VulkanContext& ctx, VulkanModel& m, PassCounters& counters, const ForwardRequest& req);
    ~ForwardPass() { m_.shader.end_pass(); }  // also on errors
    ExpectedVoid run();

private:
    ExpectedVoid load_embeddings();
    ExpectedVoid plan_uploads();  // the GPU's streamed segments; takes over an upload issued ahead
    ExpectedVoid cpu_layer(uint32 seg);
    ExpectedVoid gpu_segment(uint32 seg);
    // x to the host before a CPU layer (submitting the open recording), starting the next GPU
    // layers' uploads meanwhile.
    ExpectedVoid x_to_host(uint32 seg);
    ExpectedVoid upload_beside_cpu(uint32 seg);
    ExpectedVoid open_recording(uint32 seg, bool new_submission);
    // Brings a segment's streamed weights into a slot; sets slot_ when the submission waits for an upload.
    ExpectedVoid bring_weights(uint32 seg);
    Expected<int32> issue_upload(uint32 seg);  // DMA ring: upload k (or the one issued before)
    void bind_for_shader_copies(uint32 seg);

    VulkanContext& ctx_;
    VulkanModel& m_;
    PassCounters& counters_;
    const ForwardRequest& req_;
    const uint32 n_;
    LayerKernels kernels_;
    OpContext c_;
    const bool hybrid_;       // decode with a CPU part: some streamed layers run on the CPU
    const bool shader_pass_;  // prompt pass streaming by shader copies
    std::vector<uint32> gpu_streamed_;  // GPU segments that stream, in order
    std::vector<int32> slot_of_;        // per segment: the slot its upload was issued into (-1: none yet)
    uint32 k_ = 0;                      // uploads issued so far
    bool first_ahead_ = false;          // the previous forward issued this pass's first upload
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    bool started_ = false;
    int32 slot_ = -1;                   // the slot the open command buffer waits for
    bool x_on_host_;                    // x was last written by the CPU or is the embedding row (buf.xh)
    double cpu_s_ = 0, wait_s_ = 0;
};

}  // namespace vk_symbiote
