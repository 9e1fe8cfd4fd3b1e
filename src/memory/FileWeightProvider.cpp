#include "memory/FileWeightProvider.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/mman.h>

#include "common/HalfFloat.h"

namespace vk_symbiote {

std::unique_ptr<FileWeightProvider> FileWeightProvider::open(std::shared_ptr<const LoadedModel> model) {
    std::unique_ptr<FileWeightProvider> p(new FileWeightProvider());
    p->model_ = std::move(model);
    return p;
}

Expected<std::unique_ptr<FileWeightProvider>> FileWeightProvider::open(const Path& model_path) {
    auto m = LoadedModel::open(model_path, false);
    if (!m) return m.error();
    return open(std::move(*m));
}

Expected<const FileWeightProvider::Buffer*> FileWeightProvider::load(const TensorDesc& d) {
    // Caller holds mu_.
    auto it = loaded_.find(d.file_offset);
    if (it != loaded_.end()) return it->second.get();
    auto buf = std::make_unique<Buffer>();
    // Tensors of 2 MiB and more: 2 MiB aligned and advised as transparent huge pages (before
    // the first touch), so the pages a GPU imports and DMAs from are fewer and larger (fewer
    // address translations on the copy engine's path).
    const uint64 align = d.byte_size >= kHugePage ? kHugePage : kBufferAlignment;
    const uint64 capacity = (std::max<uint64>(d.byte_size, 1) + align - 1) / align * align;
    buf->data = static_cast<uint8*>(std::aligned_alloc(align, capacity));
    if (!buf->data)
        return make_error(ErrorCode::OutOfMemory, model_->source().path().string() + ": tensor '" + d.name + "': cannot allocate " + std::to_string(d.byte_size) + " bytes");
    if (align == kHugePage) ::madvise(buf->data, capacity, MADV_HUGEPAGE);  // advice only: failure changes nothing
    buf->size = d.byte_size;
    std::memset(buf->data + d.byte_size, 0, capacity - d.byte_size);  // padding: defined bytes
    auto r = model_->source().read_range(d.file_offset, d.byte_size, buf->data);
    if (!r) return make_error(r.error().code, r.error().message + " (reading tensor '" + d.name + "')");
    const Buffer* raw = buf.get();
    loaded_.emplace(d.file_offset, std::move(buf));
    loaded_total_ += d.byte_size;
    if (on_load_) on_load_(loaded_total_, expected_bytes());
    return raw;
}

uint64 FileWeightProvider::expected_bytes() const {
    // Every tensor a forward pass acquires, once per file offset (a tied output shares the
    // embedding's bytes); the embedding table alone is read row by row, never whole.
    std::map<uint64, uint64> unique;
    for (const TensorDesc& t : model_->registry().tensors())
        if (t.id.role != TensorRole::TokenEmbd) unique[t.file_offset] = t.byte_size;
    uint64 sum = 0;
    for (const auto& [off, n] : unique) sum += n;
    return sum;
}

Expected<WeightHandle> FileWeightProvider::acquire(TensorId id) {
    const TensorDesc* d = model_->registry().find(id);
    if (!d) return make_error(ErrorCode::NotFound, model_->source().path().string() + ": no tensor " + tensor_name(id) + " in this model");
    std::lock_guard<std::mutex> lk(mu_);
    ++acquires_;
    auto bytes = load(*d);
    if (!bytes) return bytes.error();
    WeightView v;
    v.id = id;
    v.dtype = d->dtype;
    v.rows = d->rows;
    v.cols = d->cols;
    v.slices.push_back(WeightSlice{(*bytes)->data, 0, d->rows, 0});
    return WeightHandle(std::move(v), nullptr);
}

ExpectedVoid FileWeightProvider::embedding_row(uint32 token, float* out) {
    const TensorDesc& d = model_->registry().get({TensorRole::TokenEmbd, -1});
    if (token >= d.rows)
        return make_error(ErrorCode::InvalidArgument, model_->source().path().string() + ": token id " + std::to_string(token) + " is out of range (n_vocab " + std::to_string(d.rows) + ")");
    const uint64 rb = d.row_bytes();
    {
        // The table may be in RAM already (tied output acquired): no file read then.
        std::lock_guard<std::mutex> lk(mu_);
        auto it = loaded_.find(d.file_offset);
        if (it != loaded_.end()) {
            row_to_f32(d.dtype, it->second->data + uint64(token) * rb, out, d.cols);
            return {};
        }
    }
    std::vector<uint8> row(rb);
    auto r = model_->source().read_range(d.file_offset + uint64(token) * rb, rb, row.data());
    if (!r) return make_error(r.error().code, r.error().message + " (reading row " + std::to_string(token) + " of '" + d.name + "')");
    row_to_f32(d.dtype, row.data(), out, d.cols);
    return {};
}

uint64 FileWeightProvider::loaded_bytes() const {
    std::lock_guard<std::mutex> lk(mu_);
    uint64 s = 0;
    for (auto& [off, b] : loaded_) s += b->size;
    return s;
}

uint64 FileWeightProvider::acquire_count() const {
    std::lock_guard<std::mutex> lk(mu_);
    return acquires_;
}

}  // namespace vk_symbiote
