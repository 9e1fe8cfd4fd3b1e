#include "backend/vulkan/WeightStreamRing.h"

#include <algorithm>

namespace vk_symbiote {

Expected<std::unique_ptr<WeightStreamRing>> WeightStreamRing::create(const VulkanDevice& dev, VulkanMemory& mem, const WeightStreamRingOptions& opt) {
    if (opt.slots > 0 && opt.slot_bytes == 0) return make_error(ErrorCode::InvalidArgument, "WeightStreamRing: slots of 0 bytes");
    std::unique_ptr<WeightStreamRing> r(new WeightStreamRing(dev, mem, opt));
    VkDevice d = dev.device();
    VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = dev.compute_family();
    VKS_VK_TRY(vkCreateCommandPool(d, &pi, nullptr, &r->pool_));
    pi.queueFamilyIndex = dev.transfer_family();
    VKS_VK_TRY(vkCreateCommandPool(d, &pi, nullptr, &r->transfer_pool_));
    VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkSemaphoreCreateInfo si{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    // One more command buffer than slots, so the host can record segment i + slots while
    // segment i still runs.
    r->cmds_.resize(std::max<uint32>(opt.slots + 1, 2));
    ai.commandPool = r->pool_;
    for (auto& c : r->cmds_) {
        VKS_VK_TRY(vkAllocateCommandBuffers(d, &ai, &c.cmd));
        VKS_VK_TRY(vkCreateFence(d, &fi, nullptr, &c.fence));
    }
    r->slots_.resize(opt.half_slots ? 3 * opt.slots : opt.slots);
    ai.commandPool = r->transfer_pool_;
    for (uint32 i = 0; i < r->slots_.size(); ++i) {
        Slot& s = r->slots_[i];
        if (i >= opt.slots) {  // a half of whole slot (i - slots) / 2
            const uint32 w = (i - opt.slots) / 2;
            s.whole = int32(w);
            s.device = r->slots_[w].device;
            s.bytes = r->half_slot_bytes();
            s.base = (i - opt.slots) % 2 ? s.bytes : 0;
        } else {
            auto dv = mem.create_buffer(opt.slot_bytes, MemoryKind::DeviceLocal);
            if (!dv) return dv.error();
            s.device = *dv;
            s.bytes = opt.slot_bytes;
        }
        if (opt.staging && s.whole < 0) {
            auto st = mem.create_buffer(opt.slot_bytes, MemoryKind::HostStaging);
            if (!st) return st.error();
            s.staging = *st;
            if (!s.staging.mapped) return make_error(ErrorCode::Device, "WeightStreamRing: staging memory is not host-visible");
        }
        VKS_VK_TRY(vkAllocateCommandBuffers(d, &ai, &s.transfer_cmd));
        VKS_VK_TRY(vkCreateFence(d, &fi, nullptr, &s.transfer_fence));
        VKS_VK_TRY(vkCreateSemaphore(d, &si, nullptr, &s.uploaded));
    }
    if (opt.timestamps && dev.caps().timestamp_valid_bits > 0) {
        VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qi.queryCount = 4;  // start / end of a forward pass, per bank
        VKS_VK_TRY(vkCreateQueryPool(d, &qi, nullptr, &r->queries_));
        qi.queryCount = 2;
        // The timeline needs stamps on the transfer queue too when uploads go there.
        const bool transfer_ok = !dev.has_transfer_queue() || (dev.caps().transfer_timestamp_valid_bits > 0 && dev.caps().host_query_reset);
        if (opt.timeline && transfer_ok) {
            r->timeline_ = true;
            for (auto& c : r->cmds_) VKS_VK_TRY(vkCreateQueryPool(d, &qi, nullptr, &c.stamps));
            if (dev.has_transfer_queue())
                for (auto& s : r->slots_) {
                    VKS_VK_TRY(vkCreateQueryPool(d, &qi, nullptr, &s.stamps));
                    vkResetQueryPool(d, s.stamps, 0, 2);
                }
        }
    }
    return r;
}

WeightStreamRing::~WeightStreamRing() {
    VkDevice d = dev_.device();
    vkDeviceWaitIdle(d);
    for (auto& s : slots_) {
        if (s.stamps) vkDestroyQueryPool(d, s.stamps, nullptr);
        if (s.whole < 0) mem_.destroy_buffer(s.device);
        mem_.destroy_buffer(s.staging);
        if (s.transfer_fence) vkDestroyFence(d, s.transfer_fence, nullptr);
        if (s.uploaded) vkDestroySemaphore(d, s.uploaded, nullptr);
    }
    for (auto& c : cmds_) {
        if (c.fence) vkDestroyFence(d, c.fence, nullptr);
        if (c.stamps) vkDestroyQueryPool(d, c.stamps, nullptr);
    }
    if (queries_) vkDestroyQueryPool(d, queries_, nullptr);
    if (pool_) vkDestroyCommandPool(d, pool_, nullptr);
    if (transfer_pool_) vkDestroyCommandPool(d, transfer_pool_, nullptr);
}

uint64 WeightStreamRing::device_bytes() const {
    uint64 b = 0;
    for (const auto& s : slots_)
        if (s.whole < 0) b += s.device.alloc.chunk_size;
    return b;
}

bool WeightStreamRing::overlaps(uint32 a, uint32 b) const {
    if (a == b) return true;
    const Slot &x = slots_[a], &y = slots_[b];
    if (x.device.buffer != y.device.buffer) return false;
    return x.base < y.base + y.bytes && y.base < x.base + x.bytes;
}

namespace {

ExpectedVoid wait_and_reset(VkDevice d, VkFence f, uint64 timeout_ns, const char* what) {
    auto r = wait_and_reset_fence(d, f, timeout_ns, what);
    if (!r) return r.error();
    return {};
}

}  // namespace

ExpectedVoid WeightStreamRing::wait_cmd(uint32 i) {
    Cmd& c = cmds_[i];
    if (!c.pending) return {};
    c.pending = false;  // also on error: a lost device stays lost
    VKS_TRY(wait_and_reset(dev_.device(), c.fence, opt_.fence_timeout_ns, "forward segment"));
    if (c.stamped) {
        c.stamped = false;
        read_stamps(c.stamps, StreamSpan::Compute, c.waited_slot, 0, dev_.caps().timestamp_valid_bits);
    }
    return {};
}

void WeightStreamRing::read_stamps(VkQueryPool pool, StreamSpan::Kind kind, int32 slot, uint64 bytes, uint32 valid_bits) {
    uint64 ts[2] = {0, 0};
    // After the fence: available (no wait); a failure only loses this interval.
    if (vkGetQueryPoolResults(dev_.device(), pool, 0, 2, sizeof ts, ts, sizeof(uint64), VK_QUERY_RESULT_64_BIT) != VK_SUCCESS) return;
    const uint64 mask = valid_bits >= 64 ? ~uint64(0) : (uint64(1) << valid_bits) - 1;
    raw_.push_back({kind, slot, ts[0] & mask, ts[1] & mask, bytes});
}

std::vector<StreamSpan> WeightStreamRing::timeline() const {
    std::vector<StreamSpan> out;
    if (raw_.empty()) return out;
    uint64 t_min = raw_[0].t0;
    for (const auto& r : raw_) t_min = std::min(t_min, r.t0);
    const double period = dev_.caps().timestamp_period_ns;
    for (const auto& r : raw_) {
        StreamSpan s;
        s.kind = r.kind;
        s.slot = r.slot;
        s.start_ns = uint64(double(r.t0 - t_min) * period);
        s.end_ns = uint64(double(std::max(r.t1, r.t0) - t_min) * period);
        s.bytes = r.bytes;
        out.push_back(s);
    }
    return out;
}

StreamOverlap stream_overlap(const std::vector<StreamSpan>& spans) {
    // Union of each kind's intervals (sorted, merged), then the intersection of the unions.
    using Iv = std::pair<uint64, uint64>;
    auto merged = [&](StreamSpan::Kind k, uint32& count) {
        std::vector<Iv> v;
        for (const auto& s : spans)
            if (s.kind == k) v.push_back({s.start_ns, s.end_ns});
        count = uint32(v.size());
        std::sort(v.begin(), v.end());
        std::vector<Iv> m;
        for (const auto& iv : v) {
            if (!m.empty() && iv.first <= m.back().second) m.back().second = std::max(m.back().second, iv.second);
            else m.push_back(iv);
        }
        return m;
    };
    StreamOverlap o;
    const auto up = merged(StreamSpan::Upload, o.uploads), co = merged(StreamSpan::Compute, o.computes);
    auto total = [](const std::vector<Iv>& m) {
        uint64 t = 0;
        for (const auto& iv : m) t += iv.second - iv.first;
        return t;
    };
    o.upload_ns = total(up);
    o.compute_ns = total(co);
    for (size_t i = 0, j = 0; i < up.size() && j < co.size();) {
        const uint64 lo = std::max(up[i].first, co[j].first), hi = std::min(up[i].second, co[j].second);
        if (hi > lo) o.both_ns += hi - lo;
        if (up[i].second < co[j].second) ++i;
        else ++j;
    }
    uint64 first = ~uint64(0), last = 0;
    for (const auto& s : spans) {
        first = std::min(first, s.start_ns);
        last = std::max(last, s.end_ns);
    }
    o.span_ns = spans.empty() ? 0 : last - first;
    return o;
}

Expected<VkCommandBuffer> WeightStreamRing::begin() {
    if (recording_ >= 0) return make_error(ErrorCode::Internal, "WeightStreamRing::begin while recording");
    const uint32 i = next_cmd_;
    VKS_TRY(wait_cmd(i));
    VkCommandBuffer cmd = cmds_[i].cmd;
    VKS_VK_TRY(vkResetCommandBuffer(cmd, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VKS_VK_TRY(vkBeginCommandBuffer(cmd, &bi));
    if (timeline_) {
        vkCmdResetQueryPool(cmd, cmds_[i].stamps, 0, 2);
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, cmds_[i].stamps, 0);
    }
    recording_ = int32(i);
    next_cmd_ = (i + 1) % uint32(cmds_.size());
    return cmd;
}

Expected<void*> WeightStreamRing::acquire_slot(uint32 s) {
    if (s >= slots_.size()) return make_error(ErrorCode::Internal, "WeightStreamRing: slot index out of range");
    // The device copy of the slot (and of every slot sharing its memory: a half and its whole
    // slot) must no longer be read or written by an upload, and its staging no longer copied from.
    for (uint32 o = 0; o < slots_.size(); ++o) {
        if (!overlaps(s, o)) continue;
        Slot& sl = slots_[o];
        if (o != s) VKS_TRY(discard_upload(o));  // an upload into shared memory nobody will read now
        if (sl.reader >= 0 && sl.reader != recording_) VKS_TRY(wait_cmd(uint32(sl.reader)));
        sl.reader = -1;
        if (sl.transfer_in_flight) {
            sl.transfer_in_flight = false;
            VKS_TRY(wait_and_reset(dev_.device(), sl.transfer_fence, opt_.fence_timeout_ns, "weight upload"));
            read_upload_stamps(o);
        }
    }
    return slots_[s].staging.mapped;
}

ExpectedVoid WeightStreamRing::upload(uint32 s, uint64 bytes) {
    if (s >= slots_.size() || !slots_[s].staging) return make_error(ErrorCode::Internal, "WeightStreamRing::upload: bad slot or no staging");
    if (bytes == 0) return {};
    return record_upload(s, {SourceCopy{slots_[s].staging.buffer, VkBufferCopy{0, 0, bytes}}});
}

ExpectedVoid WeightStreamRing::upload_ranges(uint32 s, const std::vector<VkBufferCopy>& ranges) {
    if (s >= slots_.size() || !slots_[s].staging) return make_error(ErrorCode::Internal, "WeightStreamRing::upload_ranges: bad slot or no staging");
    std::vector<SourceCopy> copies;
    for (const VkBufferCopy& r : ranges) copies.push_back({slots_[s].staging.buffer, r});
    return upload_from(s, copies);
}

ExpectedVoid WeightStreamRing::upload_from(uint32 s, const std::vector<SourceCopy>& copies) {
    if (s >= slots_.size()) return make_error(ErrorCode::Internal, "WeightStreamRing::upload_from: bad slot");
    for (const auto& c : copies)
        if (c.region.dstOffset + c.region.size > slots_[s].bytes) return make_error(ErrorCode::Internal, "WeightStreamRing::upload_from: copy outside the slot");
    if (copies.empty()) return {};
    return record_upload(s, copies);
}

ExpectedVoid WeightStreamRing::record_upload(uint32 s, const std::vector<SourceCopy>& copies) {
    // On the transfer queue an upload may be issued ahead of the recording that reads it.
    if (recording_ < 0 && !dev_.has_transfer_queue()) return make_error(ErrorCode::Internal, "WeightStreamRing::upload outside a recording");
    Slot& sl = slots_[s];
    // Consecutive copies from one source buffer go in one vkCmdCopyBuffer.
    auto record = [&](VkCommandBuffer cmd) {
        std::vector<VkBufferCopy> regions;
        for (size_t i = 0; i < copies.size(); ++i) {
            regions.push_back(copies[i].region);
            regions.back().dstOffset += sl.base;
            bytes_uploaded_ += copies[i].region.size;
            if (i + 1 == copies.size() || copies[i + 1].src != copies[i].src) {
                vkCmdCopyBuffer(cmd, copies[i].src, sl.device.buffer, uint32(regions.size()), regions.data());
                regions.clear();
            }
        }
    };
    if (!dev_.has_transfer_queue()) {
        VkCommandBuffer cmd = cmds_[uint32(recording_)].cmd;
        record(cmd);
        VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT;
        vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
        return {};
    }
    VKS_VK_TRY(vkResetCommandBuffer(sl.transfer_cmd, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VKS_VK_TRY(vkBeginCommandBuffer(sl.transfer_cmd, &bi));
    if (sl.stamps) {
        vkResetQueryPool(dev_.device(), sl.stamps, 0, 2);  // its last results were read when its fence was waited
        vkCmdWriteTimestamp(sl.transfer_cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, sl.stamps, 0);
    }
    const uint64 before = bytes_uploaded_;
    record(sl.transfer_cmd);
    if (sl.stamps) {
        vkCmdWriteTimestamp(sl.transfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, sl.stamps, 1);
        sl.stamped_bytes = bytes_uploaded_ - before;
    }
    VKS_VK_TRY(vkEndCommandBuffer(sl.transfer_cmd));
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &sl.transfer_cmd;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &sl.uploaded;
    VKS_VK_TRY(vkQueueSubmit(dev_.transfer_queue(), 1, &si, sl.transfer_fence));
    sl.transfer_in_flight = true;
    sl.upload_pending = true;
    return {};
}

ExpectedVoid WeightStreamRing::submit(int32 s) {
    if (recording_ < 0) return make_error(ErrorCode::Internal, "WeightStreamRing::submit without begin");
    Cmd& c = cmds_[uint32(recording_)];
    const int32 idx = recording_;
    recording_ = -1;
    if (timeline_) {
        vkCmdWriteTimestamp(c.cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c.stamps, 1);
        c.stamped = true;
        c.waited_slot = s >= 0 && slots_[uint32(s)].upload_pending ? s : -1;
    }
    VKS_VK_TRY(vkEndCommandBuffer(c.cmd));
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &c.cmd;
    const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    if (s >= 0 && slots_[uint32(s)].upload_pending) {
        si.waitSemaphoreCount = 1;
        si.pWaitSemaphores = &slots_[uint32(s)].uploaded;
        si.pWaitDstStageMask = &wait_stage;
    }
    VKS_VK_TRY(vkQueueSubmit(dev_.compute_queue(), 1, &si, c.fence));
    ++forward_submits_;
    last_cmd_ = uint32(idx);
    c.pending = true;
    if (s >= 0) {
        slots_[uint32(s)].upload_pending = false;
        slots_[uint32(s)].reader = idx;
    }
    return {};
}

ExpectedVoid WeightStreamRing::discard_upload(uint32 s) {
    Slot& sl = slots_[s];
    if (!sl.upload_pending) return {};
    // A signalled semaphore nobody will wait for: consume it with an empty submission (a
    // binary semaphore must not be signalled again before it is waited on).
    sl.upload_pending = false;
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.waitSemaphoreCount = 1;
    si.pWaitSemaphores = &sl.uploaded;
    si.pWaitDstStageMask = &stage;
    Cmd& c = cmds_[next_cmd_];
    VKS_TRY(wait_cmd(next_cmd_));
    VKS_VK_TRY(vkQueueSubmit(dev_.compute_queue(), 1, &si, c.fence));
    c.pending = true;
    c.stamped = false;  // an empty submission: no stamps
    return {};
}

ExpectedVoid WeightStreamRing::finish(uint32 bank) {
    ExpectedVoid result;
    if (recording_ >= 0) {
        // An abandoned recording (an error while filling a slot): end it unsubmitted.
        vkEndCommandBuffer(cmds_[uint32(recording_)].cmd);
        recording_ = -1;
        timing_ = {};
    }
    for (uint32 s = 0; s < slots_.size(); ++s)
        if (auto w = discard_upload(s); !w && result) result = w;
    for (uint32 i = 0; i < cmds_.size(); ++i)
        if (auto w = wait_cmd(i); !w && result) result = w;
    for (auto& sl : slots_) {
        sl.reader = -1;
        if (sl.transfer_in_flight) {
            sl.transfer_in_flight = false;
            if (auto w = wait_and_reset(dev_.device(), sl.transfer_fence, opt_.fence_timeout_ns, "weight upload"); !w && result) result = w;
            else read_upload_stamps(uint32(&sl - slots_.data()));
        }
    }
    if (!result) return result;
    return read_gpu_time(bank);
}

ExpectedVoid WeightStreamRing::finish_cmd(uint32 cmd, uint32 bank) {
    VKS_TRY(wait_cmd(cmd));
    return read_gpu_time(bank);
}

ExpectedVoid WeightStreamRing::read_gpu_time(uint32 bank) {
    if (!queries_ || !timing_[bank]) return {};
    timing_[bank] = false;
    uint64 ts[2] = {0, 0};
    VKS_VK_TRY(vkGetQueryPoolResults(dev_.device(), queries_, 2 * bank, 2, sizeof ts, ts, sizeof(uint64), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    last_gpu_ns_ = timestamp_delta_ns(ts[0], ts[1], dev_.caps().timestamp_valid_bits, dev_.caps().timestamp_period_ns);
    return {};
}

ExpectedVoid WeightStreamRing::record_pass_barrier() {
    if (recording_ < 0) return make_error(ErrorCode::Internal, "WeightStreamRing::record_pass_barrier outside a recording");
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cmds_[uint32(recording_)].cmd, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
    return {};
}

ExpectedVoid WeightStreamRing::wait_compute() {
    for (uint32 i = 0; i < cmds_.size(); ++i) VKS_TRY(wait_cmd(i));
    return {};
}

ExpectedVoid WeightStreamRing::record_copy_in(VkBuffer src, VkBuffer dst, uint64 bytes, uint64 src_offset, uint64 dst_offset) {
    return record_copy_in(src, dst, std::vector<VkBufferCopy>{{src_offset, dst_offset, bytes}});
}

ExpectedVoid WeightStreamRing::record_copy_in(VkBuffer src, VkBuffer dst, const std::vector<VkBufferCopy>& regions) {
    if (recording_ < 0) return make_error(ErrorCode::Internal, "WeightStreamRing::record_copy_in outside a recording");
    if (regions.empty()) return {};
    VkCommandBuffer cmd = cmds_[uint32(recording_)].cmd;
    vkCmdCopyBuffer(cmd, src, dst, uint32(regions.size()), regions.data());
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    return {};
}

ExpectedVoid WeightStreamRing::record_copy_out(VkBuffer src, VkBuffer dst, uint64 bytes, uint64 src_offset, uint64 dst_offset) {
    if (recording_ < 0) return make_error(ErrorCode::Internal, "WeightStreamRing::record_copy_out outside a recording");
    VkCommandBuffer cmd = cmds_[uint32(recording_)].cmd;
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    VkBufferCopy region{src_offset, dst_offset, bytes};
    vkCmdCopyBuffer(cmd, src, dst, 1, &region);
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    return {};
}

void WeightStreamRing::read_upload_stamps(uint32 s) {
    Slot& sl = slots_[s];
    if (!sl.stamps || sl.stamped_bytes == 0) return;
    read_stamps(sl.stamps, StreamSpan::Upload, int32(s), sl.stamped_bytes, dev_.caps().transfer_timestamp_valid_bits);
    sl.stamped_bytes = 0;
}

void WeightStreamRing::mark_forward_start(VkCommandBuffer cmd, uint32 bank) {
    raw_.clear();
    forward_submits_ = 0;
    if (!queries_) return;
    vkCmdResetQueryPool(cmd, queries_, 2 * bank, 2);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 2 * bank);
}

void WeightStreamRing::mark_forward_end(VkCommandBuffer cmd, uint32 bank) {
    if (!queries_) return;
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 2 * bank + 1);
    timing_[bank] = true;
}

}  // namespace vk_symbiote
