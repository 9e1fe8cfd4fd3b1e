#include "hf/HfFolderWriter.h"

#include <cstdio>
#include <system_error>

#include "hf/HfCheckpoint.h"
#include "hf/SafetensorsWriter.h"

namespace vk_symbiote {

namespace {

ExpectedVoid write_text(const Path& path, const std::string& text) {
    return write_file_atomic(path, std::vector<uint8>(text.begin(), text.end()));
}

ExpectedVoid write_index(const Path& dir, const std::vector<HfFolderTensor>& tensors, const std::vector<std::vector<size_t>>& plan) {
    nlohmann::json wm = nlohmann::json::object();
    uint64 total = 0;
    for (size_t k = 0; k < plan.size(); ++k) {
        for (size_t t : plan[k]) {
            wm[tensors[t].name] = hf_shard_file_name(k, plan.size());
            total += tensors[t].byte_size();
        }
    }
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", wm}};
    return write_text(dir / HfCheckpoint::kIndexFile, index.dump(2) + "\n");
}

}  // namespace

uint64 HfFolderTensor::byte_size() const {
    uint64 n = dtype_size(dtype);
    for (uint64 d : shape) n *= d;
    return n;
}

std::vector<std::vector<size_t>> plan_hf_shards(const std::vector<uint64>& sizes, uint64 max_shard_bytes) {
    std::vector<std::vector<size_t>> plan;
    uint64 used = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
        if (plan.empty() || (!plan.back().empty() && used + sizes[k] > max_shard_bytes)) {
            plan.emplace_back();
            used = 0;
        }
        plan.back().push_back(k);
        used += sizes[k];
    }
    return plan;
}

std::string hf_shard_file_name(size_t k, size_t n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", k + 1, n);
    return buf;
}

ExpectedVoid write_hf_folder(const Path& dir, const nlohmann::json& config, const std::vector<HfFolderTensor>& tensors, uint64 max_shard_bytes,
                             const ProgressFn& progress) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error(ErrorCode::Io, dir.string() + ": cannot create folder: " + ec.message());
    VKS_TRY(write_text(dir / "config.json", config.dump(2) + "\n"));
    // A weights file of an earlier write would be read instead of (or beside) the new ones.
    for (const char* stale : {HfCheckpoint::kSingleFile, HfCheckpoint::kIndexFile}) std::filesystem::remove(dir / stale, ec);
    std::vector<uint64> sizes;
    uint64 total = 0;
    for (const auto& t : tensors) {
        sizes.push_back(t.byte_size());
        total += sizes.back();
    }
    const auto plan = plan_hf_shards(sizes, max_shard_bytes);
    uint64 done_before = 0;  // bytes of the shards already written
    for (size_t k = 0; k < plan.size(); ++k) {
        SafetensorsWriter w;
        w.set_metadata("format", "pt");
        for (size_t t : plan[k]) w.add_tensor(tensors[t].name, tensors[t].dtype, tensors[t].shape, tensors[t].fill);
        const std::string name = plan.size() == 1 ? HfCheckpoint::kSingleFile : hf_shard_file_name(k, plan.size());
        const uint64 header = w.file_size() - w.data_bytes();
        ProgressFn shard_progress = [&](uint64 d, uint64) {
            if (progress) progress(done_before + (d > header ? d - header : 0), total);
        };
        VKS_TRY(w.write(dir / name, shard_progress));
        done_before += w.data_bytes();
    }
    if (plan.size() > 1) VKS_TRY(write_index(dir, tensors, plan));
    return {};
}

}  // namespace vk_symbiote
