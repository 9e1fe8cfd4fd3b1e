// LoadGenerator (LoadGenerator.h): streamed completions from many client threads at once.
#include "server/LoadGenerator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace vk_symbiote::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct RequestResult {
    double ttft_ms = 0;
    uint64 tokens = 0;
    std::string error;  // empty: the stream ended with [DONE] and a usage chunk
};

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// One server-sent event's data: notes the first text chunk's time and the usage's token count.
void take_event(const std::string& data, Clock::time_point t0, RequestResult& r) {
    if (data == "[DONE]") return;
    const json chunk = json::parse(data, nullptr, false);
    if (chunk.is_discarded()) {
        r.error = "a stream event is not JSON: " + data.substr(0, 200);
        return;
    }
    if (chunk.contains("error")) r.error = chunk["error"].value("message", chunk["error"].dump());
    const json& choices = chunk.value("choices", json::array());
    if (r.ttft_ms == 0 && !choices.empty() && !choices[0].value("text", std::string()).empty()) r.ttft_ms = ms_since(t0);
    if (chunk.contains("usage") && chunk["usage"].is_object()) r.tokens = chunk["usage"].value("completion_tokens", uint64(0));
}

// One streamed completion of exactly opt.max_tokens tokens.
RequestResult one_request(const LoadOptions& opt, uint32 index) {
    const json body = {{"prompt", opt.prompt + " " + std::to_string(index)}, {"max_tokens", opt.max_tokens},
                       {"ignore_eos", true}, {"temperature", 0}, {"stream", true},
                       {"stream_options", {{"include_usage", true}}}};
    httplib::Client client(opt.url);
    client.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::duration<double>(opt.timeout_s)));
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    if (!opt.api_key.empty()) req.set_header("Authorization", "Bearer " + opt.api_key);
    RequestResult r;
    std::string buffer;
    const auto t0 = Clock::now();
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        buffer.append(data, n);
        for (size_t cut; (cut = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, cut + 2))
            if (buffer.rfind("data: ", 0) == 0) take_event(buffer.substr(6, cut - 6), t0, r);
        return r.error.empty();
    };
    auto res = client.send(req);
    if (!res) return {0, 0, opt.url + "/v1/completions: " + httplib::to_string(res.error())};
    if (res->status != 200) return {0, 0, "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 400)};
    if (r.error.empty() && r.tokens == 0) r.error = "the stream carried no usage chunk";
    return r;
}

double percentile(std::vector<double> sorted, double p) {
    if (sorted.empty()) return 0;
    std::sort(sorted.begin(), sorted.end());
    const size_t rank = size_t(std::ceil(p / 100.0 * double(sorted.size())));
    return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// `clients` threads, each sending opt.requests streamed completions in turn.
Expected<LoadLevel> run_level(const LoadOptions& opt, uint32 clients) {
    std::mutex mu;
    std::vector<RequestResult> results;
    std::vector<std::thread> threads;
    const auto t0 = Clock::now();
    for (uint32 c = 0; c < clients; ++c)
        threads.emplace_back([&, c] {
            for (uint32 k = 0; k < opt.requests; ++k) {
                RequestResult r = one_request(opt, c * opt.requests + k);
                std::lock_guard<std::mutex> lock(mu);
                results.push_back(std::move(r));
            }
        });
    for (auto& t : threads) t.join();
    LoadLevel level;
    level.clients = clients;
    level.seconds = ms_since(t0) / 1000.0;
    std::vector<double> ttfts;
    for (const auto& r : results) {
        if (!r.error.empty()) return make_error(ErrorCode::Io, std::to_string(clients) + " clients: " + r.error);
        level.tokens += r.tokens;
        ttfts.push_back(r.ttft_ms);
    }
    level.requests = uint32(results.size());
    level.tokens_per_second = double(level.tokens) / level.seconds;
    level.ttft_p50_ms = percentile(ttfts, 50);
    level.ttft_p99_ms = percentile(ttfts, 99);
    return level;
}

}  // namespace

Expected<std::vector<LoadLevel>> run_load(const LoadOptions& opt) {
    std::vector<LoadLevel> levels;
    for (uint32 clients : opt.clients) {
        auto level = run_level(opt, clients);
        if (!level) return level.error();
        levels.push_back(*level);
    }
    return levels;
}

std::string load_table(const LoadOptions& opt, const std::vector<LoadLevel>& levels) {
    char line[256];
    std::snprintf(line, sizeof line, "server %s, %u tokens per request, %u requests per client\n", opt.url.c_str(),
                  opt.max_tokens, opt.requests);
    std::string out = line;
    out += "clients  requests  tokens   seconds  tokens/s  TTFT p50 ms  TTFT p99 ms\n";
    for (const auto& l : levels) {
        std::snprintf(line, sizeof line, "%7u  %8u  %6llu  %8.2f  %8.1f  %11.1f  %11.1f\n", l.clients, l.requests,
                      (unsigned long long)l.tokens, l.seconds, l.tokens_per_second, l.ttft_p50_ms, l.ttft_p99_ms);
        out += line;
    }
    return out;
}

std::string load_json(const LoadOptions& opt, const std::vector<LoadLevel>& levels) {
    json out = {{"url", opt.url}, {"max_tokens", opt.max_tokens}, {"requests_per_client", opt.requests}, {"levels", json::array()}};
    for (const auto& l : levels)
        out["levels"].push_back({{"clients", l.clients}, {"requests", l.requests}, {"tokens", l.tokens},
                                 {"seconds", l.seconds}, {"tokens_per_second", l.tokens_per_second},
                                 {"ttft_p50_ms", l.ttft_p50_ms}, {"ttft_p99_ms", l.ttft_p99_ms}});
    return out.dump(2) + "\n";
}

}  // namespace vk_symbiote::server
