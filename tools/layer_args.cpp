#include "layer_args.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace mxjit::tools {

std::vector<std::int64_t> parse_int_list(const std::string& text, const char* what) {
  std::vector<std::int64_t> out;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used != item.size() || item.empty())
      throw Error(ErrorCode::invalid_argument, fmt::format("{}: '{}' is not an integer (in '{}')", what, item, text));
    out.push_back(v);
  }
  return out;
}

std::vector<LinearShape> parse_shapes(const std::string& text) {
  std::vector<LinearShape> out;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    const std::size_t colon = item.find(':');
    if (colon == std::string::npos)
      throw Error(ErrorCode::invalid_argument, fmt::format("--shapes: '{}' is not N:K", item));
    const auto n = parse_int_list(item.substr(0, colon), "--shapes N");
    const auto k = parse_int_list(item.substr(colon + 1), "--shapes K");
    if (n.size() != 1 || k.size() != 1)
      throw Error(ErrorCode::invalid_argument, fmt::format("--shapes: '{}' is not N:K", item));
    out.push_back({item, n[0], k[0]});
  }
  return out;
}

ModelLayers read_model(const std::string& config_path, int tp, int ep) {
  std::ifstream file(config_path);
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(file);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::invalid_argument, fmt::format("{}: not valid JSON ({})", config_path, e.what()));
  }
  return model_layers(config, tp, ep);
}

}  // namespace mxjit::tools
