#include "probe/ProbeResults.h"

namespace vk_symbiote::probe {

nlohmann::json to_json(const Bandwidth& b) {
    return {{"gbps", b.gbps}, {"measured", b.measured}, {"method", b.method}, {"bytes", b.bytes}, {"note", b.note}};
}

nlohmann::json to_json(const Throughput& t) {
    return {{"tflops", t.tflops}, {"measured", t.measured}, {"method", t.method}, {"flops", t.flops}, {"note", t.note}};
}

nlohmann::json to_json(const ProbeResults& p) {
    return {{"machine_key", p.machine_key},
            {"hostname", p.hostname},
            {"cpu_model", p.cpu_model},
            {"cpu_threads", p.cpu_threads},
            {"device_name", p.device_name},
            {"probed_at", p.probed_at},
            {"from_cache", p.from_cache},
            {"disk_read", to_json(p.disk_read)},
            {"host_memory", to_json(p.host_memory)},
            {"host_to_device", to_json(p.host_to_device)},
            {"device_to_host", to_json(p.device_to_host)},
            {"device_memory", to_json(p.device_memory)},
            {"device_copy", to_json(p.device_copy)},
            {"device_f16_matmul", to_json(p.device_f16_matmul)}};
}

namespace {

template <class T>
Expected<T> field(const nlohmann::json& j, const char* key, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end()) return make_error(ErrorCode::Format, where + ": missing field '" + key + "'");
    try {
        return it->template get<T>();
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::Format, where + ": field '" + key + "': " + e.what());
    }
}

Expected<Bandwidth> bandwidth_from_json(const nlohmann::json& j, const char* key) {
    std::string where = std::string("probe '") + key + "'";
    auto it = j.find(key);
    if (it == j.end() || !it->is_object()) return make_error(ErrorCode::Format, where + ": missing or not an object");
    Bandwidth b;
    auto gbps = field<double>(*it, "gbps", where);
    if (!gbps) return gbps.error();
    auto measured = field<bool>(*it, "measured", where);
    if (!measured) return measured.error();
    auto method = field<std::string>(*it, "method", where);
    if (!method) return method.error();
    auto bytes = field<uint64>(*it, "bytes", where);
    if (!bytes) return bytes.error();
    auto note = field<std::string>(*it, "note", where);
    if (!note) return note.error();
    b.gbps = *gbps;
    b.measured = *measured;
    b.method = *method;
    b.bytes = *bytes;
    b.note = *note;
    if (b.measured && !(b.gbps > 0)) return make_error(ErrorCode::Format, where + ": measured but gbps is not positive");
    return b;
}

Expected<Throughput> throughput_from_json(const nlohmann::json& j, const char* key) {
    std::string where = std::string("probe '") + key + "'";
    auto it = j.find(key);
    if (it == j.end() || !it->is_object()) return make_error(ErrorCode::Format, where + ": missing or not an object");
    Throughput t;
    auto tflops = field<double>(*it, "tflops", where);
    if (!tflops) return tflops.error();
    auto measured = field<bool>(*it, "measured", where);
    if (!measured) return measured.error();
    auto method = field<std::string>(*it, "method", where);
    if (!method) return method.error();
    auto flops = field<uint64>(*it, "flops", where);
    if (!flops) return flops.error();
    auto note = field<std::string>(*it, "note", where);
    if (!note) return note.error();
    t.tflops = *tflops;
    t.measured = *measured;
    t.method = *method;
    t.flops = *flops;
    t.note = *note;
    if (t.measured && !(t.tflops > 0)) return make_error(ErrorCode::Format, where + ": measured but tflops is not positive");
    return t;
}

}  // namespace

Expected<ProbeResults> probes_from_json(const nlohmann::json& j) {
    if (!j.is_object()) return make_error(ErrorCode::Format, "probe results: not a JSON object");
    ProbeResults p;
    const std::string w = "probe results";
    auto key = field<std::string>(j, "machine_key", w);
    if (!key) return key.error();
    p.machine_key = *key;
    auto host = field<std::string>(j, "hostname", w);
    if (!host) return host.error();
    p.hostname = *host;
    auto cpu = field<std::string>(j, "cpu_model", w);
    if (!cpu) return cpu.error();
    p.cpu_model = *cpu;
    auto threads = field<uint32>(j, "cpu_threads", w);
    if (!threads) return threads.error();
    p.cpu_threads = *threads;
    auto dev = field<std::string>(j, "device_name", w);
    if (!dev) return dev.error();
    p.device_name = *dev;
    auto at = field<std::string>(j, "probed_at", w);
    if (!at) return at.error();
    p.probed_at = *at;
    struct {
        const char* key;
        Bandwidth ProbeResults::*member;
    } const bws[] = {{"disk_read", &ProbeResults::disk_read},
                     {"host_memory", &ProbeResults::host_memory},
                     {"host_to_device", &ProbeResults::host_to_device},
                     {"device_to_host", &ProbeResults::device_to_host},
                     {"device_memory", &ProbeResults::device_memory},
                     {"device_copy", &ProbeResults::device_copy}};
    for (auto& b : bws) {
        auto v = bandwidth_from_json(j, b.key);
        if (!v) return v.error();
        p.*(b.member) = *v;
    }
    auto mm = throughput_from_json(j, "device_f16_matmul");
    if (!mm) return mm.error();
    p.device_f16_matmul = *mm;
    return p;
}

}  // namespace vk_symbiote::probe
