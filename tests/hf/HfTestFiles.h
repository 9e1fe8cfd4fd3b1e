// Helpers of the Hugging Face reader tests: safetensors files built from header text and
// data, written under the test's scratch folder.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

// The bytes of a safetensors file: 8-byte little-endian length of `header`, `header`, `data`.
std::string safetensors_bytes(const std::string& header, const std::string& data);
// Writes `bytes` to `path` (folders created).
void write_file(const Path& path, const std::string& bytes);
// Writes `bytes` to tmp_dir()/name and returns the path.
Path write_tmp_file(const std::string& name, const std::string& bytes);
// The shared Hugging Face test folders (../shared/models/hf/NAME).
std::vector<std::string> hf_model_names();
Path hf_model_dir(const std::string& name);
// Bytes this process has read through read/pread so far (/proc/self/io rchar); nullopt
// where the kernel keeps no I/O accounting.
std::optional<uint64> process_read_bytes();

}  // namespace vk_symbiote::test
