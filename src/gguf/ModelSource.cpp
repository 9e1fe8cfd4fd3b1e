#include "gguf/ModelSource.h"

namespace vk_symbiote {

const GGUFValue* ModelSource::find(const std::string& key) const {
    auto it = metadata().find(key);
    return it == metadata().end() ? nullptr : &it->second;
}

Expected<std::string> ModelSource::get_string(const std::string& key) const {
    auto* v = find(key);
    if (!v) return make_error(ErrorCode::NotFound, path().string() + ": metadata '" + key + "': required key missing");
    if (v->type != GGUFType::STRING) return make_error(ErrorCode::Format, path().string() + ": metadata '" + key + "': expected string, found " + gguf_type_name(v->type));
    return v->str;
}

Expected<uint64> ModelSource::get_uint(const std::string& key) const {
    auto* v = find(key);
    if (!v) return make_error(ErrorCode::NotFound, path().string() + ": metadata '" + key + "': required key missing");
    if (!v->is_integer() || v->type == GGUFType::BOOL)
        return make_error(ErrorCode::Format, path().string() + ": metadata '" + key + "': expected integer, found " + gguf_type_name(v->type));
    if ((v->type == GGUFType::I8 || v->type == GGUFType::I16 || v->type == GGUFType::I32 || v->type == GGUFType::I64) && v->i < 0)
        return make_error(ErrorCode::Format, path().string() + ": metadata '" + key + "': negative value " + std::to_string(v->i));
    return v->u;
}

Expected<double> ModelSource::get_float(const std::string& key) const {
    auto* v = find(key);
    if (!v) return make_error(ErrorCode::NotFound, path().string() + ": metadata '" + key + "': required key missing");
    if (!v->is_float() && !(v->is_integer() && v->type != GGUFType::BOOL))
        return make_error(ErrorCode::Format, path().string() + ": metadata '" + key + "': expected number, found " + gguf_type_name(v->type));
    return v->f;
}

Expected<bool> ModelSource::get_bool(const std::string& key) const {
    auto* v = find(key);
    if (!v) return make_error(ErrorCode::NotFound, path().string() + ": metadata '" + key + "': required key missing");
    if (v->type != GGUFType::BOOL) return make_error(ErrorCode::Format, path().string() + ": metadata '" + key + "': expected bool, found " + gguf_type_name(v->type));
    return v->i != 0;
}

const GGUFTensorInfo* ModelSource::find_expert(const std::string&, uint32) const { return nullptr; }

Expected<std::vector<uint8>> ModelSource::read_tensor(const std::string& name) const {
    auto* ti = find_tensor(name);
    if (!ti) return make_error(ErrorCode::NotFound, path().string() + ": tensor '" + name + "': not in the model");
    if (ti->byte_size == 0) return make_error(ErrorCode::Unsupported, path().string() + ": tensor '" + name + "': type " + ggml_type_name(ti->ggml_type) + " is not supported");
    std::vector<uint8> buf(ti->byte_size);
    VKS_TRY(read_range(ti->file_offset, ti->byte_size, buf.data()));
    return buf;
}

}  // namespace vk_symbiote
