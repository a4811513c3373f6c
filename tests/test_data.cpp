#include "test_data.hpp"

#include <chrono>
#include <cmath>

#include "ops/reference/mxfp8_reference.hpp"

namespace mxjit::testing {
namespace {

std::uint16_t encode(DType dtype, float v) {
  return dtype == DType::bf16 ? reference::float_to_bf16(v) : reference::float_to_fp16(v);
}

// Smallest and largest binades worth spreading blocks over for each type.
int min_exp(DType d) { return d == DType::bf16 ? -130 : -22; }
int max_exp(DType d) { return d == DType::bf16 ? 126 : 14; }

void fill_gaussian_block(DType dtype, std::uint16_t* out, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> binade(min_exp(dtype), max_exp(dtype) - 3);
  const int e = binade(rng);
  for (int i = 0; i < 32; ++i) out[i] = encode(dtype, std::ldexp(normal(rng), e));
}

// One of several hand-made blocks; `kind` picks which.
void fill_edge_block(DType dtype, std::uint16_t* out, int kind, std::mt19937_64& rng) {
  const std::uint16_t nan = dtype == DType::bf16 ? 0x7FC0 : 0x7E00;
  const std::uint16_t inf = dtype == DType::bf16 ? 0x7F80 : 0x7C00;
  const std::uint16_t largest = dtype == DType::bf16 ? 0x7F7F : 0x7BFF;
  std::uniform_int_distribution<int> pos(0, 31);
  fill_gaussian_block(dtype, out, rng);
  switch (kind % 12) {
    case 0: for (int i = 0; i < 32; ++i) out[i] = (i % 3 == 0) ? 0x8000 : 0; break;  // +-0 only
    case 1: out[pos(rng)] = nan; break;
    case 2: out[pos(rng)] = inf; break;
    case 3: out[pos(rng)] = inf | 0x8000; out[pos(rng)] = nan | 0x8000; break;
    case 4: for (int i = 0; i < 32; ++i) out[i] = static_cast<std::uint16_t>((i & 1) << 15 | (1 + i));  break;  // subnormals
    case 5: for (int i = 0; i < 32; ++i) out[i] = encode(dtype, (i & 1 ? -1.f : 1.f) * (448.f + 16.f * (i - 16))); break;
    case 6: {  // elements that land exactly halfway between e4m3 values once scaled (block max 448)
      out[0] = encode(dtype, 448.f);
      for (int i = 1; i < 32; ++i) out[i] = encode(dtype, (i & 1 ? -1.f : 1.f) * (1.0f + 0.0625f * (2 * (i % 8) + 1)) * std::ldexp(1.f, i % 8));
      break;
    }
    case 7: out[pos(rng)] = largest; break;
    case 8: out[0] = largest | 0x8000; out[1] = largest; break;
    case 9:  // amax just around the power-of-two boundaries of amax/448
      for (int i = 0; i < 32; ++i) out[i] = encode(dtype, std::ldexp(448.f, (i % 5) - 2) * (1.f + (i % 3 - 1) * 0x1p-7f));
      break;
    case 10:  // tiny values: RCEIL scale byte 0 (block zeroed), FLOOR exact 2^127 multiplier
      for (int i = 0; i < 32; ++i) out[i] = dtype == DType::bf16 ? static_cast<std::uint16_t>(0x0400 + i * 3 + ((i & 1) << 15))
                                                                  : static_cast<std::uint16_t>(0x0001 + i);
      break;
    case 11:  // one large value, the rest tiny: most elements flush to e4m3 subnormals or zero
      for (int i = 0; i < 32; ++i) out[i] = encode(dtype, std::ldexp(i & 1 ? -1.f : 1.f, -(i % 20)));
      out[pos(rng)] = encode(dtype, 100.f);
      break;
  }
}

}  // namespace

const char* to_string(Distribution d) {
  switch (d) {
    case Distribution::gaussian_wide: return "gaussian_wide";
    case Distribution::random_bits: return "random_bits";
    case Distribution::edge_blocks: return "edge_blocks";
  }
  return "?";
}

std::vector<std::uint16_t> make_input(DType dtype, std::size_t count, Distribution d, std::mt19937_64& rng) {
  std::vector<std::uint16_t> v(count);
  std::uniform_int_distribution<int> bits(0, 0xFFFF);
  for (std::size_t b = 0; b < count / 32; ++b) {
    std::uint16_t* block = v.data() + 32 * b;
    if (d == Distribution::random_bits) for (int i = 0; i < 32; ++i) block[i] = static_cast<std::uint16_t>(bits(rng));
    else if (d == Distribution::gaussian_wide) fill_gaussian_block(dtype, block, rng);
    else fill_edge_block(dtype, block, static_cast<int>(b + rng() % 12), rng);
  }
  return v;
}

std::uint64_t fresh_seed() {
  return static_cast<std::uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
}

}  // namespace mxjit::testing
