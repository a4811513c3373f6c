// The command-line forms of linear layers and token counts that `mxjit warmup` and `mxjit tune` share.
// Each throws Error(invalid_argument) naming the option and the text it could not read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model_config.hpp"
#include "mxjit/warmup.hpp"

namespace mxjit::tools {

// "1,16,2048" -> {1, 16, 2048}; `what` names the option in errors.
std::vector<std::int64_t> parse_int_list(const std::string& text, const char* what);

// "6144:4096,4096:4096" -> layers named by their shape.
std::vector<LinearShape> parse_shapes(const std::string& text);

// The linear and MoE layers one rank of the model in `config_path` (a config.json) runs, sharded with
// --tp and --ep as model_layers describes.
ModelLayers read_model(const std::string& config_path, int tp, int ep = 1);

}  // namespace mxjit::tools
