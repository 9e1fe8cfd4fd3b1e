#include "hf/HfModelSource.h"

#include <cstring>

#include "common/ReadOnlyFile.h"
#include "hf/HfLayout.h"
#include "hf/HfMetadata.h"
#include "hf/HfTensorNames.h"

namespace vk_symbiote {

namespace {

constexpr uint64 kMaxConfigBytes = 1 << 20;
constexpr uint64 kMemoryAlign = HfCheckpoint::kShardAlign;

// ggml's type ids of the dtypes a checkpoint may hold (for messages).
uint32 ggml_type_of(DType d) {
    switch (d) {
        case DType::F16: return 1;
        case DType::BF16: return 30;
        default: return 0;
    }
}

Expected<std::string> read_config_text(const Path& file) {
    auto f = ReadOnlyFile::open(file, "expected config.json");
    if (!f) return f.error();
    if ((*f)->size() > kMaxConfigBytes) return make_error(ErrorCode::Format, file.string() + ": " + std::to_string((*f)->size()) + " bytes is too large for a config");
    std::string text(size_t((*f)->size()), '\0');
    VKS_TRY((*f)->read_range(0, text.size(), text.data()));
    return text;
}

// The folder a checkpoint path stands for, without a trailing separator (so that its file
// name is the folder's name).
Path folder_path(const Path& folder) {
    Path p = folder.lexically_normal();
    if (p.filename().empty() && p.has_parent_path()) p = p.parent_path();
    return p.empty() ? Path(".") : p;
}

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The entry of a stored tensor: GGUF dims are the safetensors shape reversed.
GGUFTensorInfo stored_info(const HfTensor& t, const std::string& name) {
    GGUFTensorInfo g;
    g.name = name;
    g.dims.assign(t.shape.rbegin(), t.shape.rend());
    g.dtype = t.dtype;
    g.ggml_type = ggml_type_of(t.dtype);
    g.file_offset = t.offset;
    g.byte_size = t.byte_size;
    g.n_elements = t.n_elements;
    return g;
}

}  // namespace

Expected<std::unique_ptr<HfModelSource>> HfModelSource::open(const Path& path) {
    std::unique_ptr<HfModelSource> s(new HfModelSource());
    auto ckpt = HfCheckpoint::open(path);
    if (!ckpt) return ckpt.error();
    s->checkpoint_ = std::move(*ckpt);
    s->folder_ = folder_path(s->checkpoint_->folder());
    const Path config_file = s->checkpoint_->folder() / "config.json";
    auto text = read_config_text(config_file);
    if (!text) return text.error();
    s->config_text_ = std::move(*text);
    auto cfg = parse_hf_config(s->config_text_, config_file);
    if (!cfg) return cfg.error();
    s->config_ = std::move(*cfg);
    auto md = hf_converter_metadata(s->config_, s->folder_.filename().string());
    if (!md) return md.error();
    s->metadata_ = std::move(*md);
    s->memory_base_ = (s->checkpoint_->address_end() + kMemoryAlign - 1) / kMemoryAlign * kMemoryAlign;
    VKS_TRY(s->add_tensors());
    return s;
}

// Every stored tensor the class's name table maps, then llama3's rope factors.
ExpectedVoid HfModelSource::add_tensors() {
    auto tied = hf_output_is_tied(config_, checkpoint_->find("lm_head.weight") != nullptr);
    if (!tied) return tied.error();
    for (const HfTensor& t : checkpoint_->tensors()) VKS_TRY(add_tensor(t, *tied));
    if (config_.rope_scaling.type == HfRopeScaling::Type::Llama3) {
        GGUFTensorInfo f;
        f.name = "rope_freqs.weight";
        f.dims = {config_.rotary_dims / 2};
        add_memory_tensor(std::move(f), llama3_rope_factors(config_));
    }
    return {};
}

ExpectedVoid HfModelSource::add_tensor(const HfTensor& t, bool tied) {
    auto target = hf_tensor_target(*config_.arch, t.name);
    if (!target) return make_error(target.error().code, checkpoint_->source().string() + ": " + target.error().message);
    if (!*target) return {};                                             // not a weight (e.g. rotary inv_freq)
    if (tied && (*target)->name == "output.weight") return {};          // transformers ignores it too
    GGUFTensorInfo info = stored_info(t, (*target)->name);
    if (config_.arch->norm_plus_one && ends_with(info.name, "norm.weight")) {
        // Gemma: (n) stored w, applied as 1 + w: served as the f32 values the converter writes.
        std::vector<uint8> stored(t.byte_size);
        VKS_TRY(checkpoint_->read_range(t.offset, t.byte_size, stored.data()));
        add_memory_tensor(std::move(info), norm_weights_plus_one(stored.data(), t.n_elements, t.dtype));
        return {};
    }
    if ((*target)->expert >= 0) {
        experts_[{info.name, uint32((*target)->expert)}] = tensors_.size();
    } else if (!by_name_.emplace(info.name, tensors_.size()).second) {
        return make_error(ErrorCode::Format, checkpoint_->source().string() + ": tensor '" + t.name + "': a second tensor maps to '" + info.name + "'");
    }
    tensors_.push_back(std::move(info));
    return {};
}

// An f32 tensor of `values` placed in memory_, past the last shard.
void HfModelSource::add_memory_tensor(GGUFTensorInfo info, const std::vector<float>& values) {
    info.dtype = DType::F32;
    info.ggml_type = 0;
    info.n_elements = values.size();
    info.byte_size = values.size() * sizeof(float);
    info.file_offset = memory_base_ + memory_.size();
    memory_.resize(memory_.size() + info.byte_size);
    std::memcpy(memory_.data() + (info.file_offset - memory_base_), values.data(), info.byte_size);
    by_name_[info.name] = tensors_.size();
    tensors_.push_back(std::move(info));
}

const GGUFTensorInfo* HfModelSource::find_tensor(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

const GGUFTensorInfo* HfModelSource::find_expert(const std::string& name, uint32 e) const {
    auto it = experts_.find({name, e});
    return it == experts_.end() ? nullptr : &tensors_[it->second];
}

ExpectedVoid HfModelSource::read_range(uint64 offset, uint64 size, void* dst) const {
    if (offset < memory_base_) return checkpoint_->read_range(offset, size, dst);
    const uint64 at = offset - memory_base_;
    if (at > memory_.size() || size > memory_.size() - at)
        return make_error(ErrorCode::Io, folder_.string() + ": read of " + std::to_string(size) + " bytes at " + std::to_string(offset) + " past the end of the model");
    std::memcpy(dst, memory_.data() + at, size);
    return {};
}

// config.json, every shard's header (its first data_offset bytes) and the in-memory tensors.
Expected<std::vector<uint8>> HfModelSource::header_bytes() const {
    std::vector<uint8> out(config_text_.begin(), config_text_.end());
    for (uint32 k = 0; k < checkpoint_->shard_count(); ++k) {
        const SafetensorsFile& f = checkpoint_->shard(k);
        const size_t at = out.size();
        out.resize(at + f.data_offset());
        VKS_TRY(f.read_range(0, f.data_offset(), out.data() + at));
    }
    out.insert(out.end(), memory_.begin(), memory_.end());
    return out;
}

std::vector<SourceFile> HfModelSource::files() const {
    std::vector<SourceFile> out;
    for (uint32 k = 0; k < checkpoint_->shard_count(); ++k) {
        const SafetensorsFile& f = checkpoint_->shard(k);
        out.push_back(SourceFile{f.path(), checkpoint_->shard_base(k), f.file_size(), f.fd()});
    }
    return out;
}

}  // namespace vk_symbiote
