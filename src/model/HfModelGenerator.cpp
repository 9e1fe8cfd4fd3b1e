#include "model/HfModelGenerator.h"

#include <cstring>
#include <system_error>

#include "hf/HfArchitecture.h"
#include "hf/HfLayout.h"
#include "hf/SentencePieceWriter.h"
#include "hf/HfTensorNames.h"
#include "model/TensorRegistry.h"

namespace vk_symbiote {

namespace {

const char* torch_dtype_name(DType d) { return d == DType::F32 ? "float32" : d == DType::F16 ? "float16" : "bfloat16"; }

// A Q or K matrix in transformers' row order from a fill that produces the GGUF's order:
// the whole heads a range touches are produced at once and their rows un-permuted.
TensorFillFn hf_row_order(TensorFillFn gguf_order, uint64 row_bytes, uint64 head_dim) {
    const uint64 head_bytes = row_bytes * head_dim;
    return [=](uint64 off, uint8* dst, uint64 n) -> ExpectedVoid {
        const uint64 h0 = off / head_bytes, h1 = (off + n + head_bytes - 1) / head_bytes;
        std::vector<uint8> gguf(size_t((h1 - h0) * head_bytes)), hf(gguf.size());
        VKS_TRY(gguf_order(h0 * head_bytes, gguf.data(), gguf.size()));
        unpermute_qk_rows(gguf.data(), hf.data(), (h1 - h0) * head_dim, row_bytes, head_dim);
        std::memcpy(dst, hf.data() + (off - h0 * head_bytes), size_t(n));
        return {};
    };
}

ExpectedVoid write_json(const Path& path, const nlohmann::json& j) {
    const std::string text = j.dump(2) + "\n";
    return write_file_atomic(path, std::vector<uint8>(text.begin(), text.end()));
}

// The GGUF's vocabulary as a Llama-2-style tokenizer: tokenizer.model (SentencePiece BPE,
// byte fallback, dummy-prefix space), tokenizer_config.json (BOS added, no EOS) and the
// special tokens; generation_config.json names BOS and EOS.
ExpectedVoid write_tokenizer(const Path& dir, uint32 n_vocab) {
    SentencePieceModel spm;
    const std::vector<std::string> vocab = generated_vocab(n_vocab);
    for (uint32 k = 0; k < n_vocab; ++k) spm.pieces.push_back(SentencePiece{vocab[k], generated_token_score(k), generated_token_type(k)});
    VKS_TRY(write_file_atomic(dir / "tokenizer.model", sentencepiece_model_bytes(spm)));
    const nlohmann::json special = {{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}};
    nlohmann::json config = special;
    config.update({{"add_bos_token", true}, {"add_eos_token", false}, {"legacy", false}, {"tokenizer_class", "LlamaTokenizer"}});
    VKS_TRY(write_json(dir / "tokenizer_config.json", config));
    VKS_TRY(write_json(dir / "special_tokens_map.json", special));
    return write_json(dir / "generation_config.json", {{"bos_token_id", 1}, {"eos_token_id", 2}});
}

}  // namespace

nlohmann::json hf_config_for_shape(const ModelShape& s, DType dtype) {
    const ModelConfig c = model_config_for_shape(s);
    return {{"architectures", {"LlamaForCausalLM"}},
            {"model_type", "llama"},
            {"hidden_size", s.n_embd},
            {"intermediate_size", s.n_ff},
            {"num_hidden_layers", s.n_layer},
            {"num_attention_heads", s.n_head},
            {"num_key_value_heads", s.n_head_kv},
            {"head_dim", s.n_embd / s.n_head},
            {"vocab_size", s.n_vocab},
            {"max_position_embeddings", s.n_ctx},
            {"rms_norm_eps", c.rms_eps},
            {"rope_theta", s.rope_base},
            {"rope_scaling", nullptr},
            {"tie_word_embeddings", false},
            {"hidden_act", "silu"},
            {"attention_bias", false},
            {"mlp_bias", false},
            {"bos_token_id", 1},
            {"eos_token_id", 2},
            {"torch_dtype", torch_dtype_name(dtype)}};
}

Expected<std::vector<HfFolderTensor>> hf_tensors_for_shape(const ModelShape& s, DType dtype, uint64 seed) {
    const HfArchInfo& llama = hf_arch_info(HfArch::Llama);
    const uint64 head_dim = s.n_embd / s.n_head;
    std::vector<HfFolderTensor> out;
    for (const GeneratedTensor& t : generated_tensors(s, dtype, seed)) {
        auto name = hf_tensor_name(llama, HfTensorTarget{t.desc.name, t.desc.id.layer, -1});
        if (!name) return name.error();
        HfFolderTensor h{*name, dtype, {}, generated_fill(t, dtype)};
        h.shape = t.desc.rows == 1 ? std::vector<uint64>{t.desc.cols} : std::vector<uint64>{t.desc.rows, t.desc.cols};
        if (t.desc.id.role == TensorRole::Wq || t.desc.id.role == TensorRole::Wk) h.fill = hf_row_order(h.fill, t.desc.cols * dtype_size(dtype), head_dim);
        out.push_back(std::move(h));
    }
    return out;
}

ExpectedVoid generate_hf_model(const ModelShape& shape, DType dtype, const Path& dir, uint64 seed, uint64 max_shard_bytes, ProgressFn progress) {
    VKS_TRY(validate_model_shape(shape));
    // The folder writer knows Llama's class only (no biases, norms or rope scaling of other families).
    if ((shape.architecture != "llama" && shape.architecture != "mistral") || !model_config_for_shape(shape).rope_freq_factors.empty())
        return make_error(ErrorCode::InvalidArgument, dir.string() + ": --format hf writes Llama 2 / 3 and Mistral shapes only, not '" + shape.name + "'");
    if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
        return make_error(ErrorCode::InvalidArgument, dir.string() + ": dtype " + std::to_string(uint32(dtype)) + " is not f32, f16 or bf16");
    if (max_shard_bytes == 0) return make_error(ErrorCode::InvalidArgument, dir.string() + ": the shard size must be positive");
    auto tensors = hf_tensors_for_shape(shape, dtype, seed);
    if (!tensors) return tensors.error();
    uint64 need = 0;
    for (const auto& t : *tensors) need += t.byte_size();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);  // so its file system can be asked for space
    VKS_TRY(check_disk_space(dir / "config.json", need));
    VKS_TRY(write_hf_folder(dir, hf_config_for_shape(shape, dtype), *tensors, max_shard_bytes, progress));
    return write_tokenizer(dir, shape.n_vocab);
}

}  // namespace vk_symbiote
