// The SPIR-V compiled at build time from shaders/variants.txt (generated EmbeddedShaders.cpp).
#pragma once

#include <span>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct EmbeddedShader {
    const char* name;     // variant name, e.g. "matvec_f16"
    const char* source;   // shader file in shaders/, e.g. "matvec.comp"
    const char* defines;  // space-separated macro names, e.g. "W_F16 ROPE"
    const uint32* words;
    size_t word_count;
};

std::span<const EmbeddedShader> embedded_shaders();

}  // namespace vk_symbiote
