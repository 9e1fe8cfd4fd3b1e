#include "backend/vulkan/VulkanDevice.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace vk_symbiote {

struct VulkanDevice::ValidationState {
    std::atomic<uint64> errors{0};
    mutable std::mutex mu;
    std::string last;
};

namespace {

VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT, const VkDebugUtilsMessengerCallbackDataEXT* data,
                                              void* user) {
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        auto* st = static_cast<VulkanDevice::ValidationState*>(user);
        st->errors.fetch_add(1);
        std::lock_guard lk(st->mu);
        st->last = data && data->pMessage ? data->pMessage : "(no message)";
        std::fprintf(stderr, "vk_symbiote: Vulkan validation error: %s\n", st->last.c_str());
    }
    return VK_FALSE;
}

bool has_layer(const char* name) {
    uint32 n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, nullptr) != VK_SUCCESS) return false;
    std::vector<VkLayerProperties> layers(n);
    if (vkEnumerateInstanceLayerProperties(&n, layers.data()) != VK_SUCCESS) return false;
    return std::any_of(layers.begin(), layers.end(), [&](const auto& l) { return std::strcmp(l.layerName, name) == 0; });
}

bool has_device_extension(VkPhysicalDevice pd, const char* name) {
    uint32 n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr) != VK_SUCCESS) return false;
    std::vector<VkExtensionProperties> ext(n);
    if (vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data()) != VK_SUCCESS) return false;
    return std::any_of(ext.begin(), ext.end(), [&](const auto& e) { return std::strcmp(e.extensionName, name) == 0; });
}

// Whether matmul_coop.comp can run on pd (see VulkanCapabilities::cooperative_matrix); the
// extension and its feature must then be enabled.
bool cooperative_matrix_usable(VkInstance inst, VkPhysicalDevice pd, const VkPhysicalDeviceVulkan12Features& f12) {
    if (!f12.shaderFloat16 || !f12.vulkanMemoryModel || !has_device_extension(pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME))
        return false;
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cf{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    feats.pNext = &cf;
    vkGetPhysicalDeviceFeatures2(pd, &feats);
    VkPhysicalDeviceCooperativeMatrixPropertiesNV cp{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    sg.pNext = &cp;
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &sg;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    if (!cf.cooperativeMatrix || !(cp.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) || sg.subgroupSize != 32)
        return false;
    auto props_fn = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
        vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
    if (!props_fn) return false;
    uint32 n = 0;
    if (props_fn(pd, &n, nullptr) != VK_SUCCESS) return false;
    std::vector<VkCooperativeMatrixPropertiesNV> props(n, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
    if (props_fn(pd, &n, props.data()) != VK_SUCCESS) return false;
    return std::any_of(props.begin(), props.begin() + n, [](const VkCooperativeMatrixPropertiesNV& p) {
        return p.MSize == 16 && p.NSize == 16 && p.KSize == 16 && p.AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
               p.BType == VK_COMPONENT_TYPE_FLOAT16_NV && p.CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
               p.DType == VK_COMPONENT_TYPE_FLOAT32_NV && p.scope == VK_SCOPE_SUBGROUP_NV;
    });
}

// Lower is better: the automatic device order.
int type_rank(VkPhysicalDeviceType t, bool force_integrated) {
    switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return force_integrated ? 1 : 0;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return force_integrated ? 0 : 1;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
        case VK_PHYSICAL_DEVICE_TYPE_OTHER: return 3;
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
        default: return 5;
    }
}

}  // namespace

bool vulkan_validation_requested() {
    const char* v = std::getenv("VKS_VALIDATION");
    return v && std::strcmp(v, "1") == 0;
}

std::string VulkanCapabilities::summary() const {
    char buf[640];
    std::snprintf(buf, sizeof buf,
                  "%s (%s), Vulkan %u.%u, fp16 math %s, 16-bit storage %s, subgroup %u (arith %s), "
                  "max storage buffer %llu MiB, max alloc %llu MiB, device-local %llu MiB, memory budget ext %s, "
                  "cooperative matrix %s",
                  device_name.c_str(), is_cpu ? "cpu" : "gpu", VK_API_VERSION_MAJOR(api_version),
                  VK_API_VERSION_MINOR(api_version), shader_float16 ? "yes" : "no", storage_16bit ? "yes" : "no",
                  subgroup_size, subgroup_arithmetic ? "yes" : "no", (unsigned long long)(max_storage_buffer_range >> 20),
                  (unsigned long long)(max_allocation_size >> 20), (unsigned long long)(device_local_bytes >> 20),
                  memory_budget_ext ? "yes" : "no", cooperative_matrix ? "yes" : "no");
    return buf;
}

Expected<std::unique_ptr<VulkanDevice>> VulkanDevice::create(const VulkanDeviceOptions& opt) {
    std::unique_ptr<VulkanDevice> d(new VulkanDevice());
    VKS_TRY(d->init_instance(opt));
    VKS_TRY(d->pick_physical(opt));
    d->second_queue_ = opt.second_compute_queue;
    d->allow_coopmat_ = opt.cooperative_matrix;
    VKS_TRY(d->init_device());
    return d;
}

VulkanDevice::~VulkanDevice() {
    if (device_) {
        vkDeviceWaitIdle(device_);
        vkDestroyDevice(device_, nullptr);
    }
    if (messenger_) {
        auto fn = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
        if (fn) fn(instance_, messenger_, nullptr);
    }
    if (instance_) vkDestroyInstance(instance_, nullptr);
}

ExpectedVoid VulkanDevice::init_instance(const VulkanDeviceOptions& opt) {
    uint32 loader_version = VK_API_VERSION_1_0;
    auto enum_version = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(
        vkGetInstanceProcAddr(VK_NULL_HANDLE, "vkEnumerateInstanceVersion"));
    if (enum_version) enum_version(&loader_version);
    if (loader_version < VK_API_VERSION_1_2)
        return make_error(ErrorCode::Device, "Vulkan: the loader supports only Vulkan " +
                                                 std::to_string(VK_API_VERSION_MAJOR(loader_version)) + "." +
                                                 std::to_string(VK_API_VERSION_MINOR(loader_version)) + "; 1.2 is required");
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "vk_symbiote";
    app.pEngineName = "vk_symbiote";
    app.apiVersion = VK_API_VERSION_1_2;
    std::vector<const char*> layers, exts;
    const bool validate = opt.enable_validation && has_layer("VK_LAYER_KHRONOS_validation");
    if (opt.enable_validation && !validate)
        std::fprintf(stderr, "vk_symbiote: validation requested but VK_LAYER_KHRONOS_validation is not installed\n");
    if (validate) {
        layers.push_back("VK_LAYER_KHRONOS_validation");
        exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    ci.enabledLayerCount = uint32(layers.size());
    ci.ppEnabledLayerNames = layers.data();
    ci.enabledExtensionCount = uint32(exts.size());
    ci.ppEnabledExtensionNames = exts.data();
    VkResult r = vkCreateInstance(&ci, nullptr, &instance_);
    if (r != VK_SUCCESS)
        return make_error(ErrorCode::Device, std::string("Vulkan: vkCreateInstance failed with ") + vk_result_name(r) +
                                                 " (no Vulkan driver / ICD installed?); use the CPU backend");
    if (validate) {
        validation_ = std::make_unique<ValidationState>();
        VkDebugUtilsMessengerCreateInfoEXT mi{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
        mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
        mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
        mi.pfnUserCallback = debug_callback;
        mi.pUserData = validation_.get();
        auto fn = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
        if (fn) VKS_VK_TRY(fn(instance_, &mi, nullptr, &messenger_));
    }
    return {};
}

ExpectedVoid VulkanDevice::pick_physical(const VulkanDeviceOptions& opt) {
    uint32 n = 0;
    VKS_VK_TRY(vkEnumeratePhysicalDevices(instance_, &n, nullptr));
    if (n == 0) return make_error(ErrorCode::Device, "Vulkan: no physical device found; use the CPU backend");
    std::vector<VkPhysicalDevice> devs(n);
    VKS_VK_TRY(vkEnumeratePhysicalDevices(instance_, &n, devs.data()));
    if (opt.device_index >= 0) {
        if (uint32(opt.device_index) >= n)
            return make_error(ErrorCode::InvalidArgument, "device_index " + std::to_string(opt.device_index) +
                                                              " is out of range: " + std::to_string(n) + " Vulkan device(s)");
        phys_ = devs[uint32(opt.device_index)];
    } else {
        int best = 1 << 30;
        for (auto pd : devs) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pd, &p);
            if (p.apiVersion < VK_API_VERSION_1_2) continue;
            const int rank = type_rank(p.deviceType, opt.force_integrated_gpu);
            if (rank < best) {
                best = rank;
                phys_ = pd;
            }
        }
        if (!phys_) return make_error(ErrorCode::Device, "Vulkan: no device supports Vulkan 1.2; use the CPU backend");
    }
    // A CPU implementation (lavapipe) is caps().is_cpu: the engine's one backend line says
    // what it does about it.
    return {};
}

ExpectedVoid VulkanDevice::pick_queue_families(std::vector<VkQueueFamilyProperties>& fams) {
    uint32 nf = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys_, &nf, nullptr);
    fams.resize(nf);
    vkGetPhysicalDeviceQueueFamilyProperties(phys_, &nf, fams.data());
    int32 compute = -1, transfer = -1;
    for (uint32 i = 0; i < nf; ++i)
        if ((fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && compute < 0) compute = int32(i);
    // A dedicated transfer family: transfer without graphics / compute (DMA engines).
    for (uint32 i = 0; i < nf; ++i)
        if ((fams[i].queueFlags & VK_QUEUE_TRANSFER_BIT) && !(fams[i].queueFlags & (VK_QUEUE_COMPUTE_BIT | VK_QUEUE_GRAPHICS_BIT)))
            transfer = int32(i);
    if (compute < 0) return make_error(ErrorCode::Device, "Vulkan: the selected device has no compute queue");
    compute_family_ = uint32(compute);
    transfer_family_ = transfer >= 0 ? uint32(transfer) : compute_family_;
    return {};
}

ExpectedVoid VulkanDevice::init_device() {
    std::vector<VkQueueFamilyProperties> fams;
    VKS_TRY(pick_queue_families(fams));

    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    f12.pNext = &f11;
    VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    feats.pNext = &f12;
    vkGetPhysicalDeviceFeatures2(phys_, &feats);
    // Enable only what the kernels use.
    VkPhysicalDeviceVulkan12Features e12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features e11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    e12.pNext = &e11;
    e12.shaderFloat16 = f12.shaderFloat16;
    e11.storageBuffer16BitAccess = f11.storageBuffer16BitAccess;
    caps_.shader_float16 = f12.shaderFloat16;
    caps_.storage_16bit = f11.storageBuffer16BitAccess;
    // Timestamps written on the transfer queue (the stream timeline) need a host-side reset:
    // vkCmdResetQueryPool is not recordable there.
    e12.hostQueryReset = f12.hostQueryReset;
    caps_.host_query_reset = f12.hostQueryReset;
    // Tensor-core matmul (matmul_coop.comp): the extension, its feature and the Vulkan memory
    // model its SPIR-V declares.
    VkPhysicalDeviceCooperativeMatrixFeaturesNV ecm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    caps_.cooperative_matrix = allow_coopmat_ && cooperative_matrix_usable(instance_, phys_, f12);

    std::vector<const char*> exts;
    caps_.memory_budget_ext = has_device_extension(phys_, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    if (caps_.memory_budget_ext) exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    // Streamed weights are copied straight from the provider's host memory when possible.
    caps_.external_memory_host = has_device_extension(phys_, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    if (caps_.external_memory_host) exts.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    if (caps_.cooperative_matrix) {
        exts.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
        ecm.cooperativeMatrix = VK_TRUE;
        e11.pNext = &ecm;
        e12.vulkanMemoryModel = VK_TRUE;
    }

    const float prio[2] = {1.0f, 1.0f};
    VkDeviceQueueCreateInfo qci[2]{{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO}, {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO}};
    qci[0].queueFamilyIndex = compute_family_;
    qci[0].queueCount = second_queue_ ? std::min<uint32>(2, fams[compute_family_].queueCount) : 1;
    qci[0].pQueuePriorities = prio;
    qci[1].queueFamilyIndex = transfer_family_;
    qci[1].queueCount = 1;
    qci[1].pQueuePriorities = prio;
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.pNext = &e12;
    dci.queueCreateInfoCount = has_transfer_queue() ? 2 : 1;
    dci.pQueueCreateInfos = qci;
    dci.enabledExtensionCount = uint32(exts.size());
    dci.ppEnabledExtensionNames = exts.data();
    VKS_VK_TRY(vkCreateDevice(phys_, &dci, nullptr, &device_));
    vkGetDeviceQueue(device_, compute_family_, 0, &compute_q_);
    compute_q2_ = compute_q_;
    if (qci[0].queueCount > 1) vkGetDeviceQueue(device_, compute_family_, 1, &compute_q2_);
    vkGetDeviceQueue(device_, transfer_family_, 0, &transfer_q_);
    caps_.timestamp_valid_bits = fams[compute_family_].timestampValidBits;
    caps_.transfer_timestamp_valid_bits = fams[transfer_family_].timestampValidBits;
    fill_caps();
    return {};
}

void VulkanDevice::fill_caps() {
    VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceExternalMemoryHostPropertiesEXT emh{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
    sg.pNext = &m3;
    if (caps_.external_memory_host) m3.pNext = &emh;
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &sg;
    vkGetPhysicalDeviceProperties2(phys_, &p2);
    const auto& p = p2.properties;
    caps_.device_name = p.deviceName;
    caps_.device_type = p.deviceType;
    caps_.vendor_id = p.vendorID;
    caps_.api_version = p.apiVersion;
    caps_.is_cpu = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    caps_.subgroup_size = sg.subgroupSize;
    caps_.subgroup_arithmetic = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                                (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                                (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
    caps_.max_storage_buffer_range = p.limits.maxStorageBufferRange;
    caps_.max_allocation_size = m3.maxMemoryAllocationSize;
    caps_.min_imported_host_pointer_alignment = caps_.external_memory_host ? emh.minImportedHostPointerAlignment : 0;
    caps_.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
    caps_.max_shared_memory_bytes = p.limits.maxComputeSharedMemorySize;
    for (int i = 0; i < 3; ++i) caps_.max_workgroup_count[i] = p.limits.maxComputeWorkGroupCount[i];
    caps_.min_storage_buffer_offset_alignment = p.limits.minStorageBufferOffsetAlignment;
    caps_.timestamp_period_ns = p.limits.timestampPeriod;
    vkGetPhysicalDeviceMemoryProperties(phys_, &mem_props_);
    caps_.heaps.clear();
    caps_.device_local_bytes = 0;
    for (uint32 i = 0; i < mem_props_.memoryHeapCount; ++i) {
        const auto& h = mem_props_.memoryHeaps[i];
        const bool local = h.flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
        caps_.heaps.push_back({h.size, local});
        if (local) caps_.device_local_bytes += h.size;
    }
}

Expected<uint32> VulkanDevice::find_memory_type(uint32 type_bits, VkMemoryPropertyFlags required,
                                                VkMemoryPropertyFlags preferred) const {
    int32 fallback = -1;
    for (uint32 i = 0; i < mem_props_.memoryTypeCount; ++i) {
        if (!(type_bits & (1u << i))) continue;
        const auto f = mem_props_.memoryTypes[i].propertyFlags;
        if ((f & required) != required) continue;
        if ((f & preferred) == preferred) return i;
        if (fallback < 0) fallback = int32(i);
    }
    if (fallback >= 0) return uint32(fallback);
    return make_error(ErrorCode::Device, "Vulkan: no memory type with property flags 0x" + std::to_string(required));
}

VkMemoryPropertyFlags VulkanDevice::memory_type_flags(uint32 type_index) const {
    return mem_props_.memoryTypes[type_index].propertyFlags;
}

uint64 VulkanDevice::device_local_budget() const {
    if (!caps_.memory_budget_ext) return caps_.device_local_bytes;
    VkPhysicalDeviceMemoryBudgetPropertiesEXT b{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 mp{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
    mp.pNext = &b;
    vkGetPhysicalDeviceMemoryProperties2(phys_, &mp);
    uint64 total = 0;
    for (uint32 i = 0; i < mp.memoryProperties.memoryHeapCount; ++i)
        if (mp.memoryProperties.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) total += b.heapBudget[i];
    return total;
}

uint64 VulkanDevice::validation_errors() const { return validation_ ? validation_->errors.load() : 0; }

std::string VulkanDevice::last_validation_message() const {
    if (!validation_) return {};
    std::lock_guard lk(validation_->mu);
    return validation_->last;
}

}  // namespace vk_symbiote
