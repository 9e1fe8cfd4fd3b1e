// VulkanDevice: instance, physical device choice, logical device with a compute queue (and a
// separate transfer queue when there is one), and the capabilities, filled once. Order:
// discrete, integrated (first with force_integrated_gpu), virtual; a CPU implementation
// (lavapipe) only when nothing else exists; device_index >= 0 picks that index. Failures are
// Expected errors (the engine falls back to the CPU). The owner serializes queue submissions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/vulkan/VulkanCommon.h"

namespace vk_symbiote {

struct VulkanDeviceOptions {
    int32 device_index = -1;          // -1: automatic choice
    bool force_integrated_gpu = false;
    bool enable_validation = false;   // VK_LAYER_KHRONOS_validation + debug messenger
    bool second_compute_queue = false; // a second queue of the compute family (compute_queue2; the overlap probe)
    bool cooperative_matrix = true;    // false: never enable the tensor-core kernel (A/B comparisons)
};

struct VulkanCapabilities {
    std::string device_name;
    uint32 vendor_id = 0;              // PCI vendor (0x10DE NVIDIA, 0x1002 AMD, 0x8086 Intel)
    VkPhysicalDeviceType device_type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
    uint32 api_version = 0;
    bool is_cpu = false;
    bool shader_float16 = false;       // fp16 arithmetic (shaderFloat16)
    bool storage_16bit = false;        // storageBuffer16BitAccess
    uint32 subgroup_size = 0;
    bool subgroup_arithmetic = false;  // compute stage supports subgroupAdd / subgroupMax
    // VK_NV_cooperative_matrix enabled for matmul_coop.comp: 16 x 16 x 16 products of f16 A / B
    // into f32 C / D at subgroup scope in compute shaders, subgroup size 32, shaderFloat16 and
    // vulkanMemoryModel (the shader's memory model). false when VulkanDeviceOptions turn it off.
    bool cooperative_matrix = false;
    uint64 max_storage_buffer_range = 0;
    uint64 max_allocation_size = 0;
    uint32 max_workgroup_invocations = 0;
    uint32 max_shared_memory_bytes = 0;  // maxComputeSharedMemorySize (Vulkan's minimum: 16384)
    uint32 max_workgroup_count[3] = {0, 0, 0};
    uint64 min_storage_buffer_offset_alignment = 0;
    float timestamp_period_ns = 0;     // ns per timestamp tick
    uint32 timestamp_valid_bits = 0;   // of the compute queue family (0: no timestamps)
    uint32 transfer_timestamp_valid_bits = 0;  // of the transfer queue family
    bool host_query_reset = false;     // hostQueryReset enabled (vkResetQueryPool from the host)
    bool memory_budget_ext = false;    // VK_EXT_memory_budget enabled
    bool external_memory_host = false; // VK_EXT_external_memory_host enabled (import host pointers)
    uint64 min_imported_host_pointer_alignment = 0;
    struct Heap { uint64 size = 0; bool device_local = false; };
    std::vector<Heap> heaps;
    uint64 device_local_bytes = 0;     // sum of device-local heaps
    std::string summary() const;
};

class VulkanDevice {
public:
    static Expected<std::unique_ptr<VulkanDevice>> create(const VulkanDeviceOptions& opt);
    ~VulkanDevice();
    VulkanDevice(const VulkanDevice&) = delete;
    VulkanDevice& operator=(const VulkanDevice&) = delete;

    VkInstance instance() const { return instance_; }
    VkPhysicalDevice physical() const { return phys_; }
    VkDevice device() const { return device_; }
    VkQueue compute_queue() const { return compute_q_; }
    uint32 compute_family() const { return compute_family_; }
    // A second queue of the compute family when asked for (VulkanDeviceOptions) and the family
    // has one, else the first: for measuring whether two compute queues run at the same time
    // (kernel bench --overlap).
    VkQueue compute_queue2() const { return compute_q2_; }
    // Equal to the compute queue / family when there is no separate transfer family.
    VkQueue transfer_queue() const { return transfer_q_; }
    uint32 transfer_family() const { return transfer_family_; }
    bool has_transfer_queue() const { return transfer_family_ != compute_family_; }
    const VulkanCapabilities& caps() const { return caps_; }

    // Memory type index with all `required` flags among `type_bits`, preferring `preferred`.
    Expected<uint32> find_memory_type(uint32 type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred = 0) const;
    VkMemoryPropertyFlags memory_type_flags(uint32 type_index) const;
    // Current device-local budget (VK_EXT_memory_budget) or the heap size without it.
    uint64 device_local_budget() const;

    // Number of validation-layer errors reported so far (0 when validation is off).
    uint64 validation_errors() const;
    std::string last_validation_message() const;

    struct ValidationState;  // shared with the debug callback

private:
    VulkanDevice() = default;
    ExpectedVoid init_instance(const VulkanDeviceOptions& opt);
    ExpectedVoid pick_physical(const VulkanDeviceOptions& opt);
    ExpectedVoid pick_queue_families(std::vector<VkQueueFamilyProperties>& fams);  // compute, and a dedicated transfer family
    ExpectedVoid init_device();
    void fill_caps();

    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    VkPhysicalDevice phys_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue compute_q_ = VK_NULL_HANDLE;
    VkQueue compute_q2_ = VK_NULL_HANDLE;
    bool second_queue_ = false;
    bool allow_coopmat_ = true;  // VulkanDeviceOptions::cooperative_matrix
    VkQueue transfer_q_ = VK_NULL_HANDLE;
    uint32 compute_family_ = 0;
    uint32 transfer_family_ = 0;
    VkPhysicalDeviceMemoryProperties mem_props_{};
    VulkanCapabilities caps_;
    std::unique_ptr<ValidationState> validation_;
};

// True when VKS_VALIDATION=1 is set in the environment (read once by callers, e.g. tests).
bool vulkan_validation_requested();

}  // namespace vk_symbiote
