// vk_symbiote_example: the documented usage of the public API.
//   vk_symbiote_example [--model PATH] [--prompt TEXT] [--max-tokens N] [--temperature T] [options]
// Streams the generation to stdout and prints a final stats line to stderr.
#include <cstdio>
#include <iostream>

#include "engine/CliSupport.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;

int main(int argc, char* argv[]) {
    // Load configuration from command line or file
    ConfigManager& cfg = ConfigManager::instance();
    if (int rc = tool::load_config(cfg, argc, argv, "vk_symbiote_example"); rc >= 0) return rc;
    try {
        // Initialize engine with model path
        auto model = tool::model_path(cfg);
        if (!model) return tool::fail(model.error());
        VulkanSymbioteEngine engine(*model);
        std::string prompt = cfg.sampling().prompt_set ? cfg.sampling().prompt : "Once upon a time in a digital forest";
        GenerationOptions o = engine.default_generation_options();
        auto r = engine.generate_stream(prompt, o, [](const std::string& piece, uint32) {
            std::cout << piece << std::flush;
            return true;
        });
        std::cout << std::endl;
        if (!r) return tool::fail(r.error());
        tool::print_stats(engine);
    } catch (const EngineError& e) {
        return tool::fail(e.error());
    }
    return 0;
}
