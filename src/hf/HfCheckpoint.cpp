#include "hf/HfCheckpoint.h"

#include <algorithm>
#include <set>
#include <system_error>

#include "common/ReadOnlyFile.h"
#include "hf/StrictJson.h"

namespace vk_symbiote {

namespace {

namespace fs = std::filesystem;

// Where the tensor list comes from: an index and the folder its shards are in, or one file.
struct Layout {
    Path folder;
    Path source;  // the index, or the single .safetensors file
    bool indexed = false;
};

bool ends_with(const std::string& s, const std::string& tail) { return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0; }

bool is_file(const Path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

Expected<std::string> read_small_file(const Path& p, uint64 limit) {
    auto f = ReadOnlyFile::open(p, "expected a JSON file");
    if (!f) return f.error();
    if ((*f)->size() > limit) return make_error(ErrorCode::Format, p.string() + ": " + std::to_string((*f)->size()) + " bytes, above the limit of " + std::to_string(limit));
    std::string text(size_t((*f)->size()), '\0');
    VKS_TRY((*f)->read_range(0, text.size(), text.data()));
    return text;
}

// A shard named by the index: a plain file name in the index's folder, never a path.
ExpectedVoid check_shard_name(const std::string& file, const std::string& tensor, const std::string& where) {
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == ".." || !ends_with(file, ".safetensors"))
        return make_error(ErrorCode::Format, where + ": 'weight_map' entry '" + tensor + "': shard '" + file.substr(0, 128) +
                                                 "' is not a .safetensors file name in the same folder");
    return {};
}

// The index's weight_map: tensor name -> shard file name.
Expected<std::map<std::string, std::string>> read_weight_map(const Path& index) {
    auto text = read_small_file(index, SafetensorsLimits::kMaxHeaderBytes);
    if (!text) return text.error();
    auto j = parse_json_strict(*text, index.string(), 4);
    if (!j) return j.error();
    const std::string where = index.string();
    if (!j->is_object() || !j->contains("weight_map")) return make_error(ErrorCode::Format, where + ": 'weight_map' is missing");
    const auto& wm = (*j)["weight_map"];
    if (!wm.is_object()) return make_error(ErrorCode::Format, where + ": 'weight_map' is " + json_kind(wm) + ", expected an object");
    std::map<std::string, std::string> m;
    for (auto it = wm.begin(); it != wm.end(); ++it) {
        if (!it.value().is_string())
            return make_error(ErrorCode::Format, where + ": 'weight_map' entry '" + it.key() + "' is " + json_kind(it.value()) + ", expected a file name");
        VKS_TRY(check_shard_name(it.value().get<std::string>(), it.key(), where));
        m[it.key()] = it.value().get<std::string>();
    }
    if (m.empty()) return make_error(ErrorCode::Format, where + ": 'weight_map' names no tensor");
    return m;
}

Expected<Layout> locate_in_folder(const Path& dir) {
    if (is_file(dir / HfCheckpoint::kSingleFile)) return Layout{dir, dir / HfCheckpoint::kSingleFile, false};
    if (is_file(dir / HfCheckpoint::kIndexFile)) return Layout{dir, dir / HfCheckpoint::kIndexFile, true};
    return make_error(ErrorCode::NotFound, dir.string() + ": neither " + HfCheckpoint::kSingleFile + " nor " + HfCheckpoint::kIndexFile +
                                               " is in this folder (not a Hugging Face model folder)");
}

// A .safetensors file: a shard of its folder's index opens the index, anything else alone.
Expected<Layout> locate_file(const Path& file) {
    const Path dir = file.has_parent_path() ? file.parent_path() : Path(".");
    const std::string name = file.filename().string();
    if (name == HfCheckpoint::kIndexFile) return Layout{dir, file, true};
    if (!ends_with(name, ".safetensors"))
        return make_error(ErrorCode::InvalidArgument, file.string() + ": not a Hugging Face model folder, .safetensors file or " + HfCheckpoint::kIndexFile);
    if (name != HfCheckpoint::kSingleFile && is_file(dir / HfCheckpoint::kIndexFile)) {
        auto wm = read_weight_map(dir / HfCheckpoint::kIndexFile);
        if (!wm) return wm.error();
        for (const auto& [tensor, shard] : *wm)
            if (shard == name) return Layout{dir, dir / HfCheckpoint::kIndexFile, true};
    }
    return Layout{dir, file, false};
}

Expected<Layout> locate(const Path& path) {
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (fs::is_directory(st)) return locate_in_folder(path);
    if (!fs::exists(st)) return make_error(ErrorCode::NotFound, path.string() + ": no such file or folder");
    return locate_file(path);
}

}  // namespace

Expected<std::unique_ptr<HfCheckpoint>> HfCheckpoint::open(const Path& path) {
    auto layout = locate(path);
    if (!layout) return layout.error();
    std::unique_ptr<HfCheckpoint> c(new HfCheckpoint());
    c->folder_ = layout->folder;
    c->source_ = layout->source;
    if (!layout->indexed) {
        VKS_TRY(c->open_shards({layout->source.filename().string()}));
        VKS_TRY(c->collect_tensors());
        return c;
    }
    auto wm = read_weight_map(layout->source);
    if (!wm) return wm.error();
    std::set<std::string> files;
    for (const auto& [tensor, shard] : *wm) files.insert(shard);
    if (files.size() > kMaxShards)
        return make_error(ErrorCode::Format, layout->source.string() + ": " + std::to_string(files.size()) + " shards, above the limit of " + std::to_string(kMaxShards));
    VKS_TRY(c->open_shards(std::vector<std::string>(files.begin(), files.end())));
    VKS_TRY(c->collect_tensors());
    VKS_TRY(c->check_index(*wm));
    return c;
}

ExpectedVoid HfCheckpoint::open_shards(const std::vector<std::string>& files) {
    uint64 base = 0;
    for (const auto& name : files) {
        auto f = SafetensorsFile::open(folder_ / name);
        if (!f) {
            if (source_.filename() != kIndexFile) return f.error();
            return make_error(f.error().code, source_.string() + ": shard '" + name + "': " + f.error().message);
        }
        bases_.push_back(base);
        base = ((base + (*f)->file_size()) + kShardAlign - 1) / kShardAlign * kShardAlign;
        shards_.push_back(std::move(*f));
    }
    return {};
}

// Every shard's tensors under one name table; a name in two shards is an error.
ExpectedVoid HfCheckpoint::collect_tensors() {
    for (uint32 k = 0; k < shards_.size(); ++k) {
        for (const auto& t : shards_[k]->tensors()) {
            auto [it, fresh] = index_.emplace(t.name, tensors_.size());
            if (!fresh)
                return make_error(ErrorCode::Format, folder_.string() + ": tensor '" + t.name + "' is in two shards: " +
                                                         shards_[tensors_[it->second].shard]->path().filename().string() + " and " +
                                                         shards_[k]->path().filename().string());
            tensors_.push_back(HfTensor{t.name, t.dtype, t.shape, k, bases_[k] + t.file_offset, t.byte_size, t.n_elements});
        }
    }
    return {};
}

// Each tensor of the index is in the shard the index names.
ExpectedVoid HfCheckpoint::check_index(const std::map<std::string, std::string>& weight_map) const {
    for (const auto& [name, file] : weight_map) {
        const HfTensor* t = find(name);
        if (t && shards_[t->shard]->path().filename() == file) continue;
        std::string where = t ? "but it is in '" + shards_[t->shard]->path().filename().string() + "'" : "which has no such tensor";
        return make_error(ErrorCode::Format, source_.string() + ": 'weight_map' places tensor '" + name + "' in shard '" + file + "', " + where);
    }
    return {};
}

const HfTensor* HfCheckpoint::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64 HfCheckpoint::total_bytes() const {
    uint64 n = 0;
    for (const auto& t : tensors_) n += t.byte_size;
    return n;
}

ExpectedVoid HfCheckpoint::read_range(uint64 offset, uint64 size, void* dst) const {
    // The shard whose range starts at or before `offset`: the last base <= offset.
    auto it = std::upper_bound(bases_.begin(), bases_.end(), offset);
    if (it == bases_.begin()) return make_error(ErrorCode::Io, folder_.string() + ": read at offset " + std::to_string(offset) + " before the first shard");
    const uint32 k = uint32(it - bases_.begin() - 1);
    const uint64 local = offset - bases_[k];
    uint64 end;
    if (__builtin_add_overflow(local, size, &end) || end > shards_[k]->file_size())
        return make_error(ErrorCode::Io, shards_[k]->path().string() + ": read of " + std::to_string(size) + " bytes at " + std::to_string(local) +
                                             " (checkpoint offset " + std::to_string(offset) + ") past the end of the shard");
    return shards_[k]->read_range(local, size, dst);
}

Expected<std::vector<uint8>> HfCheckpoint::read_tensor(const std::string& name) const {
    const HfTensor* t = find(name);
    if (!t) return make_error(ErrorCode::NotFound, folder_.string() + ": no tensor '" + name + "'");
    std::vector<uint8> bytes(size_t(t->byte_size));
    VKS_TRY(read_range(t->offset, t->byte_size, bytes.data()));
    return bytes;
}

ExpectedVoid HfCheckpoint::check_unchanged() const {
    for (const auto& s : shards_) VKS_TRY(s->check_unchanged());
    return {};
}

}  // namespace vk_symbiote
