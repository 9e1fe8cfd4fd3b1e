#include "support/TokenizerVectors.h"

#include <sstream>

#include "support/TestPaths.h"

namespace vk_symbiote::test {

std::vector<std::string> read_vector_inputs(const Path& inp) {
    const std::string text = read_file(inp);
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    for (size_t pos = 0;;) {
        const size_t next = text.find(sep, pos);
        if (next == std::string::npos) {
            if (pos < text.size()) inputs.push_back(text.substr(pos));
            break;
        }
        inputs.push_back(text.substr(pos, next - pos));
        pos = next + sep.size();
    }
    return inputs;
}

std::vector<std::string> read_vector_ids(const Path& out) {
    std::vector<std::string> expected;
    std::istringstream lines(read_file(out));
    for (std::string line; std::getline(lines, line);) {
        std::istringstream ids(line);
        std::vector<uint32> v;
        for (uint32 id; ids >> id;) v.push_back(id);
        expected.push_back(ids_str(v));
    }
    return expected;
}

std::string ids_str(const std::vector<uint32>& ids) {
    std::string s;
    for (uint32 id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
}

}  // namespace vk_symbiote::test
