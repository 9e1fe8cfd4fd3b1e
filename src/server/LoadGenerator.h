// LoadGenerator: the client side of the server's load figures. For each concurrency level,
// that many clients each send `requests` streamed completions of exactly `max_tokens` tokens
// (ignore_eos, greedy) one after the other to an OpenAI-compatible server; a level reports the
// aggregate generated tokens/s over its wall time and the time to first token (p50 / p99).
// Run by tools/vk_symbiote_load.cpp; docs/server.md shows the command.
#pragma once

#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::server {

struct LoadOptions {
    std::string url = "http://127.0.0.1:8080";  // scheme://host:port of the server
    std::vector<uint32> clients = {1, 4, 16};    // concurrency levels, run in this order
    uint32 requests = 4;                         // streamed requests per client, one after the other
    uint32 max_tokens = 128;                     // tokens each request generates (ignore_eos)
    std::string prompt = "Once upon a time";     // each request appends its own number
    std::string api_key;                         // sent as Authorization: Bearer when not empty
    double timeout_s = 600;                      // per request: read timeout of the stream
};

struct LoadLevel {
    uint32 clients = 0;
    uint32 requests = 0;      // completed, over all clients
    uint64 tokens = 0;        // generated, from each stream's usage chunk
    double seconds = 0;       // wall time of the level
    double tokens_per_second = 0;
    double ttft_p50_ms = 0;   // request sent -> first chunk with text
    double ttft_p99_ms = 0;
};

// Runs every level; the first failed request ends the run with its error (status and body).
Expected<std::vector<LoadLevel>> run_load(const LoadOptions& opt);

// "clients  requests  tokens  seconds  tokens/s  TTFT p50 ms  TTFT p99 ms", a row per level.
std::string load_table(const LoadOptions& opt, const std::vector<LoadLevel>& levels);
std::string load_json(const LoadOptions& opt, const std::vector<LoadLevel>& levels);

}  // namespace vk_symbiote::server
