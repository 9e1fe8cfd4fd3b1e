// Test vectors in llama.cpp's format (../shared/tokenizer-tests): `.inp` holds the input
// strings, each followed by "\n__ggml_vocab_test__\n"; `.out` one line of ids per input.
#pragma once

#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

std::vector<std::string> read_vector_inputs(const Path& inp);
// Each line normalised to ids separated by single spaces, no leading space ("" for none).
std::vector<std::string> read_vector_ids(const Path& out);
std::string ids_str(const std::vector<uint32>& ids);  // same format

}  // namespace vk_symbiote::test
