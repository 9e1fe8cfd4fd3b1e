// vk_symbiote_load: the load generator for `vk_symbiote serve` (or any OpenAI-compatible
// server): aggregate tokens/s and time to first token per number of concurrent streaming
// clients (src/server/LoadGenerator.h).
//
//   vk_symbiote_load [--url http://127.0.0.1:8080] [--clients 1,4,16] [--requests 4]
//                    [--max-tokens 128] [--prompt TEXT] [--api-key KEY] [--json]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "server/LoadGenerator.h"

namespace {

using vk_symbiote::uint32;

const char* kUsage =
    "Usage: vk_symbiote_load [--url URL] [--clients 1,4,16] [--requests N] [--max-tokens N] [--prompt TEXT]\n"
    "                        [--api-key KEY] [--json]\n\n"
    "For each number of clients, that many clients at once each send --requests streamed completions of\n"
    "exactly --max-tokens tokens (ignore_eos, temperature 0) one after the other; prints the aggregate\n"
    "tokens/s over the level's wall time and the time to first token (p50 / p99) per level.\n"
    "  --url URL         the server (default http://127.0.0.1:8080)\n"
    "  --clients S,...   concurrency levels (default 1,4,16)\n"
    "  --requests N      requests per client per level (default 4)\n"
    "  --max-tokens N    tokens per request (default 128)\n"
    "  --prompt TEXT     prompt of every request, followed by its number (default \"Once upon a time\")\n"
    "  --api-key KEY     sent as Authorization: Bearer KEY\n"
    "  --json            the report as JSON\n";

bool positive(const std::string& s, uint32& out) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || s[0] == '-' || *end != '\0' || v == 0 || v > 1000000) return false;
    out = uint32(v);
    return true;
}

bool parse_list(const std::string& s, std::vector<uint32>& out) {
    out.clear();
    for (size_t at = 0; at <= s.size();) {
        const size_t comma = std::min(s.find(',', at), s.size());
        uint32 v = 0;
        if (!positive(s.substr(at, comma - at), v)) return false;
        out.push_back(v);
        at = comma + 1;
    }
    return true;
}

// Fills `opt` from argv; an error message, or empty.
std::string parse(int argc, char** argv, vk_symbiote::server::LoadOptions& opt, bool& json) {
    for (int k = 1; k < argc; ++k) {
        const std::string a = argv[k];
        if (a == "--json") {
            json = true;
            continue;
        }
        if (k + 1 >= argc) return a + ": needs a value (see --help)";
        const std::string v = argv[++k];
        bool ok = true;
        if (a == "--url") opt.url = v;
        else if (a == "--clients") ok = parse_list(v, opt.clients);
        else if (a == "--requests") ok = positive(v, opt.requests);
        else if (a == "--max-tokens") ok = positive(v, opt.max_tokens);
        else if (a == "--prompt") opt.prompt = v;
        else if (a == "--api-key") opt.api_key = v;
        else return "unknown option '" + a + "' (see --help)";
        if (!ok) return a + ": expected positive integers, got '" + v + "'";
    }
    return {};
}

}  // namespace

int main(int argc, char** argv) {
    for (int k = 1; k < argc; ++k)
        if (!std::strcmp(argv[k], "--help") || !std::strcmp(argv[k], "-h")) {
            std::fputs(kUsage, stdout);
            return 0;
        }
    vk_symbiote::server::LoadOptions opt;
    bool json = false;
    if (const std::string err = parse(argc, argv, opt, json); !err.empty()) {
        std::fprintf(stderr, "vk_symbiote_load: %s\n", err.c_str());
        return 2;
    }
    auto levels = vk_symbiote::server::run_load(opt);
    if (!levels) {
        std::fprintf(stderr, "vk_symbiote_load: %s\n", levels.error().message.c_str());
        return 1;
    }
    std::fputs((json ? load_json(opt, *levels) : load_table(opt, *levels)).c_str(), stdout);
    return 0;
}
