#include "model/families/FamilyRegistry.h"

#include "model/families/Families.h"

namespace vk_symbiote {

namespace {

using FamilyFn = const ModelFamily& (*)();
constexpr FamilyFn kFamilies[] = {llama_family, mistral_family, qwen2_family, qwen3_family, gemma2_family, gemma3_family, phi3_family};

struct Refused {
    const char* architecture;
    const char* reason;
};
constexpr const char* kMoe = "mixture-of-experts models are not supported yet";
constexpr Refused kRefused[] = {{"qwen3moe", kMoe}, {"qwen2moe", kMoe}, {"mixtral", kMoe}, {"deepseek2", kMoe}, {"llama4", kMoe}};

}  // namespace

const ModelFamily* find_family(std::string_view architecture) {
    for (FamilyFn f : kFamilies)
        if (architecture == f().architecture) return &f();
    return nullptr;
}

std::string supported_architectures() {
    std::string s;
    for (FamilyFn f : kFamilies) s += (s.empty() ? "" : ", ") + std::string(f().architecture);
    return s;
}

const char* unsupported_architecture_reason(std::string_view architecture) {
    for (const Refused& r : kRefused)
        if (architecture == r.architecture) return r.reason;
    return nullptr;
}

}  // namespace vk_symbiote
