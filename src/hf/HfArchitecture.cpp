#include "hf/HfArchitecture.h"

#include <iterator>

namespace vk_symbiote {

namespace {

using R = HfSlidingRule;
// clang-format off
constexpr HfArchInfo kArchs[] = {
    // arch             class                  gguf        ties   perm   1+w    sandw  moe    qkvb   sliding
    {HfArch::Llama,    "LlamaForCausalLM",    "llama",    false, true,  false, false, false, false, R::None},
    {HfArch::Mistral,  "MistralForCausalLM",  "llama",    false, true,  false, false, false, false, R::AllLayers},
    {HfArch::Mixtral,  "MixtralForCausalLM",  "llama",    false, true,  false, false, true,  false, R::AllLayers},
    {HfArch::Qwen2,    "Qwen2ForCausalLM",    "qwen2",    false, false, false, false, false, true,  R::FromMaxWindow},
    {HfArch::Qwen3,    "Qwen3ForCausalLM",    "qwen3",    false, false, false, false, false, false, R::FromMaxWindow},
    {HfArch::Qwen3Moe, "Qwen3MoeForCausalLM", "qwen3moe", false, false, false, false, true,  false, R::FromMaxWindow},
    {HfArch::Gemma2,   "Gemma2ForCausalLM",   "gemma2",   true,  false, true,  true,  false, false, R::EvenLayers},
    {HfArch::Gemma3,   "Gemma3ForCausalLM",   "gemma3",   true,  false, true,  true,  false, false, R::PatternLastGlobal},
    {HfArch::Phi3,     "Phi3ForCausalLM",     "phi3",     false, false, false, false, false, false, R::AllLayers},
};
// clang-format on

constexpr bool rows_in_enum_order() {
    for (uint32 k = 0; k < std::size(kArchs); ++k)
        if (uint32(kArchs[k].arch) != k) return false;
    return true;
}
static_assert(rows_in_enum_order(), "kArchs rows must follow the HfArch order");

}  // namespace

const HfArchInfo* hf_arch_by_class(const std::string& class_name) {
    for (const auto& a : kArchs)
        if (class_name == a.class_name) return &a;
    return nullptr;
}

const HfArchInfo& hf_arch_info(HfArch arch) {
    VKS_CHECK(uint32(arch) < std::size(kArchs), "HfArch without a row in kArchs");
    return kArchs[uint32(arch)];
}

std::string hf_supported_classes() {
    std::string s;
    for (const auto& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.class_name);
    return s;
}

}  // namespace vk_symbiote
