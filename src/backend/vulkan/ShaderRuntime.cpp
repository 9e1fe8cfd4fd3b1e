#include "backend/vulkan/ShaderRuntime.h"

#include "common/TempFiles.h"

#include <shaderc/shaderc.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "backend/vulkan/EmbeddedShaders.h"

namespace vk_symbiote {

namespace fs = std::filesystem;

// pipeline_variant_'s batch of a staged small-N pipeline (ShaderSpecialization::batch_chunk != 0):
// the block's rows with this bit (and kRegsBatch for the regs kernel), so that the kernel
// profile tells the kernels apart.
constexpr uint32 kStagedBatch = 0x80000000u;
constexpr uint32 kRegsBatch = 0x40000000u;

const char* kernel_name(Kernel k) {
    static const char* names[] = {"matvec", "matvec_rope", "matvec_swiglu", "matmul", "matmul_swiglu", "rmsnorm", "attention", "add",
                                  "matmul_coop", "matmul_coop_swiglu", "matvec_norm", "matvec_rope_norm", "matvec_swiglu_norm", "copy",
                                  "rmsnorm_add", "head_norm", "softcap", "attention_paged", "moe",
                                  "attention_flash", "attention_flash_coop", "attention_flash_paged", "attention_flash_coop_paged",
                                  "attention_splitk", "attention_merge", "attention_splitk_paged", "moe_route", "argmax", "embed_row",
                                  "attention_stream"};
    static_assert(sizeof names / sizeof names[0] == size_t(Kernel::Count));
    return k < Kernel::Count ? names[uint32(k)] : "?";
}

namespace {

int dtype_slot(DType t) { return t == DType::F32 ? 0 : t == DType::F16 ? 1 : 2; }

std::string read_text(const Path& p, bool& ok) {
    std::ifstream f(p, std::ios::binary);
    ok = bool(f);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Resolves #include "x" in the hot-reload directory first, then the source tree's shaders/.
class Includer final : public shaderc::CompileOptions::IncluderInterface {
public:
    explicit Includer(std::vector<Path> dirs) : dirs_(std::move(dirs)) {}
    shaderc_include_result* GetInclude(const char* requested, shaderc_include_type, const char*, size_t) override {
        auto* r = new Result;
        for (const auto& d : dirs_) {
            bool ok = false;
            std::string text = read_text(d / requested, ok);
            if (ok) {
                r->name = (d / requested).string();
                r->content = std::move(text);
                break;
            }
        }
        if (r->name.empty()) r->content = std::string("include not found: ") + requested;
        r->res.source_name = r->name.c_str();
        r->res.source_name_length = r->name.size();
        r->res.content = r->content.c_str();
        r->res.content_length = r->content.size();
        r->res.user_data = r;
        return &r->res;
    }
    void ReleaseInclude(shaderc_include_result* data) override { delete static_cast<Result*>(data->user_data); }

private:
    struct Result {
        shaderc_include_result res{};
        std::string name, content;
    };
    std::vector<Path> dirs_;
};

}  // namespace

Expected<std::unique_ptr<ShaderRuntime>> ShaderRuntime::create(const VulkanDevice& dev, const ShaderRuntimeOptions& opt) {
    std::unique_ptr<ShaderRuntime> rt(new ShaderRuntime(dev));
    VKS_TRY(rt->init(opt));
    return rt;
}

ExpectedVoid ShaderRuntime::init(const ShaderRuntimeOptions& opt) {
    opt_ = opt;
    VKS_TRY(create_layouts());
    VKS_TRY(create_cache(opt.pipeline_cache_path));
    index_variants();
    if (!opt.shader_dir.empty()) {
        std::error_code ec;
        for (const auto& v : variants_) {
            auto t = fs::last_write_time(opt.shader_dir / v.source, ec);
            if (!ec) mtimes_[v.source] = t;
        }
    }
    return {};
}

// One descriptor set layout, pipeline layout and update template for every kernel.
ExpectedVoid ShaderRuntime::create_layouts() {
    VkDevice d = dev_.device();
    std::array<VkDescriptorSetLayoutBinding, kNumBindings> binds{};
    for (uint32 i = 0; i < kNumBindings; ++i) {
        binds[i].binding = i;
        binds[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        binds[i].descriptorCount = 1;
        binds[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo dl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dl.bindingCount = kNumBindings;
    dl.pBindings = binds.data();
    VKS_VK_TRY(vkCreateDescriptorSetLayout(d, &dl, nullptr, &set_layout_));
    VkPushConstantRange pc{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushConstantBytes};
    VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pl.setLayoutCount = 1;
    pl.pSetLayouts = &set_layout_;
    pl.pushConstantRangeCount = 1;
    pl.pPushConstantRanges = &pc;
    VKS_VK_TRY(vkCreatePipelineLayout(d, &pl, nullptr, &layout_));
    // One template update writes all bindings from an array of VkDescriptorBufferInfo.
    std::array<VkDescriptorUpdateTemplateEntry, kNumBindings> te{};
    for (uint32 i = 0; i < kNumBindings; ++i)
        te[i] = {i, 0, 1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, i * sizeof(VkDescriptorBufferInfo), sizeof(VkDescriptorBufferInfo)};
    VkDescriptorUpdateTemplateCreateInfo ti{VK_STRUCTURE_TYPE_DESCRIPTOR_UPDATE_TEMPLATE_CREATE_INFO};
    ti.descriptorUpdateEntryCount = kNumBindings;
    ti.pDescriptorUpdateEntries = te.data();
    ti.templateType = VK_DESCRIPTOR_UPDATE_TEMPLATE_TYPE_DESCRIPTOR_SET;
    ti.descriptorSetLayout = set_layout_;
    VKS_VK_TRY(vkCreateDescriptorUpdateTemplate(d, &ti, nullptr, &update_template_));
    return {};
}

// Pipeline cache: reuse the file when the driver accepts its header, else start empty.
ExpectedVoid ShaderRuntime::create_cache(const Path& path) {
    VkDevice d = dev_.device();
    std::string blob;
    if (!path.empty()) {
        bool ok = false;
        blob = read_text(path, ok);
        if (!ok) blob.clear();
    }
    VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    ci.initialDataSize = blob.size();
    ci.pInitialData = blob.data();
    if (vkCreatePipelineCache(d, &ci, nullptr, &cache_) != VK_SUCCESS) {
        ci.initialDataSize = 0;
        ci.pInitialData = nullptr;
        VKS_VK_TRY(vkCreatePipelineCache(d, &ci, nullptr, &cache_));
    }
    return {};
}

// The embedded variants, and per (kernel, weight dtype, fp16 math) the one to use.
void ShaderRuntime::index_variants() {
    for (auto& t : table_)
        for (auto& s : t) s = {-1, -1};
    for (const auto& e : embedded_shaders()) {
        Variant v;
        v.name = e.name;
        v.source = e.source;
        std::istringstream defs(e.defines);
        for (std::string s; defs >> s;) v.defines.push_back(s);
        v.spirv.assign(e.words, e.words + e.word_count);
        variants_.push_back(std::move(v));
    }
    const DType dts[3] = {DType::F32, DType::F16, DType::BF16};
    for (uint32 k = 0; k < uint32(Kernel::Count); ++k)
        for (int s = 0; s < 3; ++s)
            for (int f = 0; f < 2; ++f) {
                std::string want = std::string(kernel_name(Kernel(k))) + "_" + dtype_name(dts[s]) + (f ? "_fp16" : "");
                for (uint32 i = 0; i < variants_.size(); ++i)
                    if (variants_[i].name == want) table_[k][size_t(s)][size_t(f)] = int32(i);
            }
}

ShaderRuntime::~ShaderRuntime() {
    VkDevice d = dev_.device();
    if (auto r = save_pipeline_cache(); !r) std::fprintf(stderr, "vk_symbiote: %s\n", r.error().to_string().c_str());
    for (auto& [k, p] : pipelines_) vkDestroyPipeline(d, p, nullptr);
    for (auto p : retired_) vkDestroyPipeline(d, p, nullptr);
    for (auto& bank : banks_)
        for (auto p : bank.pools) vkDestroyDescriptorPool(d, p, nullptr);
    if (update_template_) vkDestroyDescriptorUpdateTemplate(d, update_template_, nullptr);
    for (auto q : query_pools_) vkDestroyQueryPool(d, q, nullptr);
    if (cache_) vkDestroyPipelineCache(d, cache_, nullptr);
    if (layout_) vkDestroyPipelineLayout(d, layout_, nullptr);
    if (set_layout_) vkDestroyDescriptorSetLayout(d, set_layout_, nullptr);
}

ExpectedVoid ShaderRuntime::save_pipeline_cache() const {
    if (opt_.pipeline_cache_path.empty() || !cache_) return {};
    size_t n = 0;
    VKS_VK_TRY(vkGetPipelineCacheData(dev_.device(), cache_, &n, nullptr));
    std::string data(n, '\0');
    VKS_VK_TRY(vkGetPipelineCacheData(dev_.device(), cache_, &n, data.data()));
    data.resize(n);
    // Atomic replace: write a sibling temp file, then rename over the target.
    Path tmp = opt_.pipeline_cache_path;
    tmp += ".tmp";
    const TempFileGuard on_signal(tmp);
    std::error_code ec;
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f.write(data.data(), std::streamsize(data.size()));
        if (!f) {
            fs::remove(tmp, ec);
            return make_error(ErrorCode::Io, tmp.string() + ": cannot write pipeline cache");
        }
    }
    fs::rename(tmp, opt_.pipeline_cache_path, ec);
    if (ec) {
        const std::string why = ec.message();
        fs::remove(tmp, ec);  // never leave the temporary file beside the target
        return make_error(ErrorCode::Io, opt_.pipeline_cache_path.string() + ": cannot replace pipeline cache: " + why);
    }
    return {};
}

ShaderSpecialization ShaderRuntime::effective(const ShaderSpecialization& spec) const {
    ShaderSpecialization s = spec;
    s.use_subgroup_ops = s.use_subgroup_ops && dev_.caps().subgroup_arithmetic;
    s.use_fp16_math = s.use_fp16_math && dev_.caps().shader_float16;
    return s;
}

int32 ShaderRuntime::variant_index(Kernel k, DType weights, bool fp16) const {
    if (k >= Kernel::Count) return -1;
    const auto& row = table_[uint32(k)][size_t(dtype_slot(weights))];
    if (fp16 && row[1] >= 0) return row[1];
    return row[0];
}

Expected<std::vector<uint32>> ShaderRuntime::compile(const Variant& v, const std::string& text) const {
    shaderc::Compiler compiler;
    shaderc::CompileOptions o;
    o.SetTargetEnvironment(shaderc_target_env_vulkan, shaderc_env_version_vulkan_1_2);
    o.SetOptimizationLevel(shaderc_optimization_level_performance);
    for (const auto& d : v.defines) o.AddMacroDefinition(d);
    o.SetIncluder(std::make_unique<Includer>(std::vector<Path>{opt_.shader_dir, Path(VKS_SHADER_SOURCE_DIR)}));
    auto res = compiler.CompileGlslToSpv(text, shaderc_compute_shader, (opt_.shader_dir / v.source).string().c_str(), o);
    if (res.GetCompilationStatus() != shaderc_compilation_status_success)
        return make_error(ErrorCode::Format, "shader " + v.name + " (" + (opt_.shader_dir / v.source).string() +
                                                 "): compile failed: " + res.GetErrorMessage());
    return std::vector<uint32>(res.cbegin(), res.cend());
}

void ShaderRuntime::check_reload() {
    if (opt_.shader_dir.empty()) return;
    std::map<std::string, bool> checked;
    for (auto& [source, seen] : mtimes_) {
        std::error_code ec;
        auto t = fs::last_write_time(opt_.shader_dir / source, ec);
        if (ec || t == seen) continue;
        seen = t;  // a failed compile is not retried until the file changes again
        bool ok = false;
        const std::string text = read_text(opt_.shader_dir / source, ok);
        if (!ok) continue;
        for (uint32 i = 0; i < variants_.size(); ++i) {
            auto& v = variants_[i];
            if (v.source != source) continue;
            auto spv = compile(v, text);
            if (!spv) {
                last_error_ = spv.error().to_string();
                std::fprintf(stderr, "vk_symbiote: hot reload: %s (keeping the previous pipeline)\n", last_error_.c_str());
                continue;
            }
            v.spirv = std::move(*spv);
            ++v.generation;
            for (auto it = pipelines_.begin(); it != pipelines_.end();) {
                if (std::get<0>(it->first) == int32(i)) {
                    retired_.push_back(it->second);
                    it = pipelines_.erase(it);
                } else {
                    ++it;
                }
            }
            ++reloads_;
        }
    }
}

Expected<VkPipeline> ShaderRuntime::build(const Variant& v, const ShaderSpecialization& s) {
    VkDevice d = dev_.device();
    VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = v.spirv.size() * 4;
    mi.pCode = v.spirv.data();
    VkShaderModule mod = VK_NULL_HANDLE;
    VKS_VK_TRY(vkCreateShaderModule(d, &mi, nullptr, &mod));
    // constant_id 0..3: WG_X, WG_Y, USE_SUBGROUP, USE_FP16; 4..7: the KernelFeature bits in
    // order (HAS_BIAS, USE_GELU, HAS_SOFTCAP, HAS_WINDOW); 8, 9, 10, 11: matvec.comp's BT, BP, XCH,
    // REGS (shaders without them ignore the entries). VkBool32 for bools.
    constexpr uint32 kConstants = 12;
    uint32 data[kConstants] = {s.workgroup_size_x, s.workgroup_size_y, uint32(s.use_subgroup_ops), uint32(s.use_fp16_math)};
    for (uint32 f = 0; f < 4; ++f) data[4 + f] = (s.features >> f) & 1u;
    data[8] = s.batch_tokens;
    data[9] = s.batch_units;
    data[10] = s.batch_chunk;
    data[11] = s.batch_regs;
    VkSpecializationMapEntry entries[kConstants];
    for (uint32 i = 0; i < kConstants; ++i) entries[i] = {i, i * 4, 4};
    VkSpecializationInfo si{kConstants, entries, sizeof data, data};
    VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = mod;
    ci.stage.pName = "main";
    ci.stage.pSpecializationInfo = &si;
    ci.layout = layout_;
    VkPipeline p = VK_NULL_HANDLE;
    VkResult r = vkCreateComputePipelines(d, cache_, 1, &ci, nullptr, &p);
    vkDestroyShaderModule(d, mod, nullptr);
    if (r != VK_SUCCESS) return vk_error(r, ("vkCreateComputePipelines(" + v.name + ")").c_str(), __FILE__, __LINE__);
    return p;
}

VkPipeline ShaderRuntime::get_pipeline(Kernel k, DType weights, const ShaderSpecialization& spec) {
    check_reload();
    const ShaderSpecialization s = effective(spec);
    const uint32 inv = s.workgroup_size_x * s.workgroup_size_y;
    if (inv == 0 || inv > dev_.caps().max_workgroup_invocations) {
        last_error_ = "workgroup size " + std::to_string(s.workgroup_size_x) + "x" + std::to_string(s.workgroup_size_y) +
                      " exceeds the device limit of " + std::to_string(dev_.caps().max_workgroup_invocations) + " invocations";
        return VK_NULL_HANDLE;
    }
    const bool coop = k == Kernel::MatmulCoop || k == Kernel::MatmulCoopSwiglu || k == Kernel::AttentionFlashCoop || k == Kernel::AttentionFlashCoopPaged;
    if (coop && !dev_.caps().cooperative_matrix) {
        last_error_ = std::string(kernel_name(k)) + " needs VK_NV_cooperative_matrix (16x16x16 f16, subgroup size 32), which " +
                      dev_.caps().device_name + " does not offer";
        return VK_NULL_HANDLE;
    }
    const int32 vi = variant_index(k, weights, s.use_fp16_math);
    if (vi < 0) {
        last_error_ = std::string("no shader variant for kernel ") + kernel_name(k) + " with " + dtype_name(weights) + " weights";
        return VK_NULL_HANDLE;
    }
    auto key = std::tuple_cat(std::tuple(vi, variants_[size_t(vi)].generation), s.key());
    if (auto it = pipelines_.find(key); it != pipelines_.end()) return it->second;
    auto p = build(variants_[size_t(vi)], s);
    if (!p) {
        last_error_ = p.error().to_string();
        return VK_NULL_HANDLE;
    }
    pipelines_[key] = *p;
    pipeline_variant_[*p] = {vi, s.batch_tokens | (s.batch_chunk ? kStagedBatch : 0u) | (s.batch_regs ? kRegsBatch : 0u)};
    return *p;
}

void ShaderRuntime::begin(VkCommandBuffer cmd, uint32 bank) {
    cmd_ = cmd;
    bank_ = bank % 2;
    counts_ = RecordCounts{};
    // The previous recording's sets are rewritten by this one (its command buffers have
    // finished): after the first token no set is allocated any more.
    pool_used_ = 0;
    pool_next_ = 0;
    stamps_.clear();
    query_pools_used_ = 0;
    query_next_ = kQueriesPerPool;
    recording_profiled_ = profiling_;
    if (recording_profiled_) write_timestamp(-1);
}

void ShaderRuntime::continue_recording(VkCommandBuffer cmd) {
    cmd_ = cmd;
    if (recording_profiled_) write_timestamp(-1);
}

ExpectedVoid ShaderRuntime::set_kernel_profiling(bool on) {
    if (on && dev_.caps().timestamp_valid_bits == 0)
        return make_error(ErrorCode::Device, "kernel profiling: the compute queue of " + dev_.caps().device_name + " has no timestamps");
    profiling_ = on;
    return {};
}

void ShaderRuntime::reset_kernel_times() {
    kernel_times_.clear();
    kernel_index_.clear();
}

std::pair<VkQueryPool, uint32> ShaderRuntime::next_query() {
    if (query_next_ >= kQueriesPerPool) {
        if (query_pools_used_ == query_pools_.size()) {
            VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
            qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
            qi.queryCount = kQueriesPerPool;
            VkQueryPool pool = VK_NULL_HANDLE;
            VkResult r = vkCreateQueryPool(dev_.device(), &qi, nullptr, &pool);
            if (r != VK_SUCCESS) {
                last_error_ = vk_error(r, "vkCreateQueryPool (kernel profiling)", __FILE__, __LINE__).to_string();
                return {VK_NULL_HANDLE, 0};
            }
            query_pools_.push_back(pool);
        }
        // Reset in the command buffer, before this recording's first write to the pool.
        vkCmdResetQueryPool(cmd_, query_pools_[query_pools_used_], 0, kQueriesPerPool);
        ++query_pools_used_;
        query_next_ = 0;
    }
    return {query_pools_[query_pools_used_ - 1], query_next_++};
}

void ShaderRuntime::write_timestamp(int32 variant, uint32 batch) {
    auto [pool, query] = next_query();
    if (!pool) {
        // Without a slot the stamps would charge time to the wrong kernel: drop this recording's.
        recording_profiled_ = false;
        stamps_.clear();
        return;
    }
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, query);
    stamps_.push_back({pool, query, variant, batch});
}

ExpectedVoid ShaderRuntime::collect_kernel_times() {
    if (!recording_profiled_ || stamps_.empty()) return {};
    // Ticks of every query used by this recording, pool by pool.
    std::map<VkQueryPool, std::vector<uint64>> ticks;
    for (uint32 i = 0; i < query_pools_used_; ++i) {
        const uint32 n = i + 1 == query_pools_used_ ? query_next_ : kQueriesPerPool;
        auto& t = ticks[query_pools_[i]];
        t.assign(n, 0);
        VkResult r = vkGetQueryPoolResults(dev_.device(), query_pools_[i], 0, n, n * sizeof(uint64), t.data(), sizeof(uint64), VK_QUERY_RESULT_64_BIT);
        if (r == VK_NOT_READY)
            return make_error(ErrorCode::Device, "kernel profiling: timestamps not available yet (collect_kernel_times() must follow the completion of "
                                                 "every command buffer of the recording)");
        if (r != VK_SUCCESS) return vk_error(r, "vkGetQueryPoolResults (kernel profiling)", __FILE__, __LINE__);
    }
    uint64 prev = 0;
    for (const Stamp& s : stamps_) {
        const uint64 t = ticks[s.pool][s.query];
        if (s.variant != -1) {  // -1: start of a command buffer; -2: a pipeline not built here
            // A small-N dispatch is named by its block: "matvec_f16_fp16_x16" (16 rows per workgroup),
            // "matvec_f16_fp16_s16" for the staged kernel, "matvec_f16_fp16_r16" for the regs kernel.
            std::string name = s.variant >= 0 ? variants_[size_t(s.variant)].name : std::string("other");
            const uint32 rows = s.batch & ~(kStagedBatch | kRegsBatch);
            const char* tag = (s.batch & kRegsBatch) ? "_r" : (s.batch & kStagedBatch) ? "_s" : "_x";
            if (rows > 1) name += tag + std::to_string(rows);
            auto [it, added] = kernel_index_.emplace(name, kernel_times_.size());
            if (added) kernel_times_.push_back({name, 0, 0});
            KernelTiming& k = kernel_times_[it->second];
            k.dispatches += 1;
            k.total_ns += timestamp_delta_ns(prev, t, dev_.caps().timestamp_valid_bits, dev_.caps().timestamp_period_ns);
        }
        prev = t;
    }
    stamps_.clear();  // a second call for the same recording adds nothing
    return {};
}

Expected<VkDescriptorSet> ShaderRuntime::make_descriptor_set(const std::array<BufferBinding, kNumBindings>& b) {
    // Host cost per dispatch (a decode token records ~300): sets are allocated kSetsPerChunk
    // at a time, kept for the next recordings (never freed before the destructor), and
    // written with one template update instead of an allocation plus 6 descriptor writes.
    std::vector<VkDescriptorPool>& pools = banks_[bank_].pools;
    std::vector<std::vector<VkDescriptorSet>>& pool_sets = banks_[bank_].sets;
    if (pool_used_ < pools.size() && pool_next_ == pool_sets[pool_used_].size()) {
        // The current pool's allocated sets are used up: allocate the next chunk of them in
        // one call, or move on to the next pool (created on demand) when it is full.
        if (pool_sets[pool_used_].size() + kSetsPerChunk > kSetsPerPool) {
            ++pool_used_;
            pool_next_ = 0;
        }
    }
    if (pool_used_ == pools.size()) {
        VkDescriptorPoolSize ps{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kNumBindings};
        VkDescriptorPoolCreateInfo pi{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
        pi.maxSets = kSetsPerPool;
        pi.poolSizeCount = 1;
        pi.pPoolSizes = &ps;
        VkDescriptorPool pool = VK_NULL_HANDLE;
        VKS_VK_TRY(vkCreateDescriptorPool(dev_.device(), &pi, nullptr, &pool));
        pools.push_back(pool);
        pool_sets.emplace_back();
    }
    auto& sets = pool_sets[pool_used_];
    if (pool_next_ == sets.size()) {
        const std::vector<VkDescriptorSetLayout> layouts(kSetsPerChunk, set_layout_);
        std::array<VkDescriptorSet, kSetsPerChunk> chunk{};
        VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
        ai.descriptorPool = pools[pool_used_];
        ai.descriptorSetCount = kSetsPerChunk;
        ai.pSetLayouts = layouts.data();
        VKS_VK_TRY(vkAllocateDescriptorSets(dev_.device(), &ai, chunk.data()));
        sets.insert(sets.end(), chunk.begin(), chunk.end());
    }
    const VkDescriptorSet set = pool_sets[pool_used_][pool_next_++];
    std::array<VkDescriptorBufferInfo, kNumBindings> infos{};
    for (uint32 i = 0; i < kNumBindings; ++i) infos[i] = {b[i].buffer, b[i].offset, b[i].range};
    vkUpdateDescriptorSetWithTemplate(dev_.device(), set, update_template_, infos.data());
    return set;
}

void ShaderRuntime::push_constants(const void* data, uint32 size) {
    vkCmdPushConstants(cmd_, layout_, VK_SHADER_STAGE_COMPUTE_BIT, 0, size, data);
}

void ShaderRuntime::dispatch_compute(VkPipeline pipeline, VkDescriptorSet set, uint32_t gx, uint32_t gy, uint32_t gz) {
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, layout_, 0, 1, &set, 0, nullptr);
    vkCmdDispatch(cmd_, gx, gy, gz);
    count_dispatch(pipeline);
}

void ShaderRuntime::dispatch_indirect(VkPipeline pipeline, VkDescriptorSet set, VkBuffer args, uint64 offset) {
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, layout_, 0, 1, &set, 0, nullptr);
    vkCmdDispatchIndirect(cmd_, args, offset);
    count_dispatch(pipeline);
}

void ShaderRuntime::count_dispatch(VkPipeline pipeline) {
    ++counts_.dispatches;
    if (recording_profiled_) {
        auto it = pipeline_variant_.find(pipeline);
        if (it != pipeline_variant_.end()) write_timestamp(it->second.first, it->second.second);
        else write_timestamp(-2);
    }
}

void ShaderRuntime::barrier() {
    ++counts_.barriers;
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void ShaderRuntime::barrier_indirect() {
    ++counts_.barriers;
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_INDIRECT_COMMAND_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT, 0, 1, &mb, 0,
                         nullptr, 0, nullptr);
}

}  // namespace vk_symbiote
