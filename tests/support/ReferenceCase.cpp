#include "support/ReferenceCase.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/LoadedModel.h"
#include "support/TestPaths.h"

namespace vk_symbiote::test {

namespace {

Expected<std::vector<uint32>> token_list(const nlohmann::json& j, const char* key, const std::string& file) {
    std::vector<uint32> out;
    if (!j.contains(key)) return out;
    if (!j[key].is_array()) return make_error(ErrorCode::Format, file + ": '" + key + "' is not an array");
    for (auto& v : j[key]) {
        if (!v.is_number_unsigned()) return make_error(ErrorCode::Format, file + ": '" + key + "' holds a non-token value");
        out.push_back(v.get<uint32>());
    }
    return out;
}

constexpr const char* kArchPrefix = "arch-";
constexpr const char* kHfPrefix = "hf-";

// NAME -> reference_dir()/NAME; arch-NAME -> reference_dir()/arch/NAME; hf-NAME -> reference_dir()/hf/NAME.
Path case_stem(const std::string& name) {
    if (name.rfind(kArchPrefix, 0) == 0) return reference_dir() / "arch" / name.substr(std::char_traits<char>::length(kArchPrefix));
    if (name.rfind(kHfPrefix, 0) == 0) return reference_dir() / "hf" / name.substr(std::char_traits<char>::length(kHfPrefix));
    return reference_dir() / name;
}

// Case names of the NAME.json files in dir, with a prefix.
void add_cases(const Path& dir, const std::string& prefix, std::vector<std::string>& out) {
    std::error_code ec;
    std::vector<std::string> found;
    for (auto& e : std::filesystem::directory_iterator(dir, ec)) {
        const std::string f = e.path().filename().string();
        if (e.is_regular_file() && f.size() > 5 && f.ends_with(".json")) found.push_back(prefix + f.substr(0, f.size() - 5));
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
}

// The dtype of the model's matrices (blk.0.attn_output.weight: every family has it), in a
// GGUF file or a Hugging Face folder.
Expected<DType> matrix_dtype(const std::string& model) {
    auto g = open_model_source(models_dir() / model);
    if (!g) return g.error();
    const GGUFTensorInfo* t = (*g)->find_tensor("blk.0.attn_output.weight");
    if (!t) return make_error(ErrorCode::Format, model + ": no tensor 'blk.0.attn_output.weight'");
    return t->dtype;
}

}  // namespace

double ReferenceCase::tolerance() const {
    if (weights != DType::F32) return 1e-4;
    return is_arch() || is_hf() ? 1e-5 : 1e-6;  // reference README: llama.cpp keeps f16 K/V and an f16 GELU table
}

bool ReferenceCase::decisive(size_t pos, float margin) const {
    const float* l = logits_at(pos);
    float a = -INFINITY, b = -INFINITY;  // top-1, top-2
    for (uint32 i = 0; i < n_vocab; ++i) {
        if (l[i] > a) { b = a; a = l[i]; }
        else if (l[i] > b) b = l[i];
    }
    return a - b > margin;
}

Expected<ReferenceCase> load_reference_case(const std::string& name) {
    const Path stem = case_stem(name);
    const Path json_path = stem.string() + ".json";
    const Path bin_path = stem.string() + ".logits.f32";
    std::ifstream jf(json_path);
    if (!jf) return make_error(ErrorCode::Io, json_path.string() + ": cannot open");
    nlohmann::json j = nlohmann::json::parse(jf, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::Format, json_path.string() + ": not a JSON object");
    ReferenceCase c;
    c.name = name;
    if (!j.contains("model") || !j["model"].is_string()) return make_error(ErrorCode::Format, json_path.string() + ": 'model' missing");
    c.model = j["model"].get<std::string>();
    if (!j.contains("n_vocab") || !j["n_vocab"].is_number_unsigned()) return make_error(ErrorCode::Format, json_path.string() + ": 'n_vocab' missing");
    c.n_vocab = j["n_vocab"].get<uint32>();
    if (j.contains("prompt") && j["prompt"].is_string()) c.prompt = j["prompt"].get<std::string>();
    auto p = token_list(j, "prompt_tokens", json_path.string());
    if (!p) return p.error();
    c.prompt_tokens = std::move(*p);
    auto g = token_list(j, "greedy_tokens", json_path.string());
    if (!g) return g.error();
    c.greedy_tokens = std::move(*g);
    if (c.prompt_tokens.empty()) return make_error(ErrorCode::Format, json_path.string() + ": 'prompt_tokens' is empty");

    std::ifstream bf(bin_path, std::ios::binary | std::ios::ate);
    if (!bf) return make_error(ErrorCode::Io, bin_path.string() + ": cannot open");
    const uint64 want = uint64(c.prompt_tokens.size()) * c.n_vocab * 4;
    const uint64 got = uint64(bf.tellg());
    if (got != want)
        return make_error(ErrorCode::Format, bin_path.string() + ": size " + std::to_string(got) + " bytes, expected " + std::to_string(want) + " ([n_prompt][n_vocab] f32)");
    c.logits.resize(want / 4);
    bf.seekg(0);
    if (!bf.read(reinterpret_cast<char*>(c.logits.data()), std::streamsize(want))) return make_error(ErrorCode::Io, bin_path.string() + ": short read");
    auto dt = matrix_dtype(c.model);
    if (!dt) return dt.error();
    c.weights = *dt;
    return c;
}

std::vector<std::string> list_reference_cases() {
    std::vector<std::string> out;
    add_cases(reference_dir(), "", out);
    add_cases(reference_dir() / "arch", kArchPrefix, out);
    add_cases(reference_dir() / "hf", kHfPrefix, out);
    return out;
}

std::optional<std::string> unimplemented_reason(const ReferenceCase& c) {
    auto m = LoadedModel::open(models_dir() / c.model, false);
    if (m || m.error().code != ErrorCode::Unsupported) return std::nullopt;
    if (m.error().message.find("mixture-of-experts") == std::string::npos) return std::nullopt;
    return m.error().message;
}

double nmse(const float* a, const float* b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double d = double(a[i]) - double(b[i]);
        num += d * d;
        den += double(b[i]) * double(b[i]);
    }
    return den > 0.0 ? num / den : num;
}

size_t argmax(const float* x, size_t n) { return size_t(std::max_element(x, x + n) - x); }

}  // namespace vk_symbiote::test
