// The model-agnostic kernel space (include/infercast/bench/sampler.hpp, sampler "space").
//
// Every kernel type draws its parameters independently from marginal distributions over
// the values real networks use (nn-Meter's prior-distribution sampling, with the priors
// written down here rather than read from a list of models), then keeps the draw only
// when it is a layer a network could have: a valid spec, an activation of at most
// kMaxActivation elements (channels and resolution trade against each other in every
// CNN: 224x224x64, 56x56x256, 7x7x2048 are all 3.2M or less), and at most `max_macs`
// multiply-accumulates, and a dense or grouped convolution holds at most kMaxConvWeights
// weights. No model file is read, so the space is the same whatever models are later
// validated.
//
// The marginals (sizes log-uniform, so each octave gets the same share):
//   spatial h = w   1-320; half the draws snap to the resolutions CNN stages use
//                   (7, 14, 28, 56, 112, 224 and the odd ones of inception/alexnet:
//                   13, 17, 27, 35, 55, 71, 147, 299)
//   channels        3-2048; above 16 rounded as network widths are (network_width): to a
//                   multiple of 32 (20% of draws), of 16 (35%), of 8 (30%), or not at all
//                   (15%); half the draws log-normal around the width CNNs give that
//                   resolution (48 at 224, ~170 at 56, ~1100 at 7; stage_channels)
//   conv kernel     1 (45%), 3 (38%), 5 (7%), 7 (7%), 9 (3%); stride 2 in 22% of draws
//                   (10% for 1x1); dilation 2 in 5% of 3x3 draws; "same" padding
//   conv stem       8% of conv draws: 3 channels in at 64-320 (stem_params)
//   SE conv         6% of the other conv draws: 1x1 at one position, C <-> C/r (16-2048; r 4,
//                   16, 24), a squeeze-excitation's reduce or expand conv
//   input image     10% of pad and transpose draws: 1 or 3 channels at 64-320 (image_params)
//   conv groups     1 in 70% of draws; otherwise grouped: 2-64 groups (a power of two in
//                   half the draws, else log-uniform: RegNet's 6, 13, 26, 55) of group
//                   width 2-128 (ResNeXt 32x4d, RegNet widths 8-64, ShuffleNet)
//   depthwise k     3 (58%), 5 (29%), 7 (10%), 9 (3%)
//   fc              in 16-25088, out 10-4096, snapping in 30% of draws to the widths
//                   of classifier heads (512, 1024, 1280, 2048, 4096, 9216, 25088; 1000);
//                   1 row in 40% of draws, else 2-3136 rows (transformer and ConvNeXt MLPs);
//                   half the multi-row draws a transformer's GEMM: 16-3136 tokens of width
//                   d = 64-1024 (multiples of 32) to d, 3d or 4d, or 4d to d
//   matmul          transformer attention and MLP shapes: heads x batch 1-16, sequence
//                   16-3136, head or hidden width 16-1024; in 30% of draws window
//                   attention: windows x heads 16-256, 16-196 tokens, head width 16-64
//   einsum          attention as an Einsum, Q K^T or A V (half each): window attention in
//                   60% of draws (as matmul's), else 1-16 heads of 16-3136 tokens, width 32-128
//   pooling         k 2 (30%) or 3, stride 2 (80%) or 1
//   elementwise     up to kMaxElementwise elements (32 MiB of float32); scale and
//                   shift+relu: one constant per channel, or one in 25% of draws
//   rows            layernorm, gelu: 1-3136 rows of 10-4096; softmax 1-16384 rows (every
//                   query of every head and window)
//   slices          the first of 2 (60%), 3 or 4 equal channel parts of an NCHW tensor; the
//                   first of 2, 3 (50%) or 4 column parts of 1-3136 rows of 16-1024 per part;
//                   an NCHW tensor's rows, columns or channels cut to any length (slice_axis)
//   permute         attention's head splits and K^T, Swin's and MaxViT's window partitions, any
//                   permutation in 10% (permute_params)
#include <algorithm>
#include <cmath>
#include <random>

#include "infercast/base/error.hpp"
#include "infercast/bench/sampler.hpp"
#include "infercast/ir/permutation.hpp"

namespace infercast::bench {

namespace {

using Rng = std::mt19937_64;
using Params = std::map<std::string, std::int64_t>;

constexpr double kMaxActivation = 3.3e6;   // elements of a conv's input or output
constexpr double kMaxElementwise = 8.4e6;  // elements of an elementwise kernel's tensor
// Weights of a convolution: 16.8M (64 MiB of float32). The largest convolution of
// torchvision's classification models but one is wide_resnet101_2's 3x3 1024->1024 (9.4M);
// only regnet_y_128gf's 1x1 7392->7392 (54.6M) is larger. Drawn independently, channels
// and kernel size met at up to 2048->2048 7x7 (205M, 822 MB), which no network has, and
// such a kernel is slow to build, load and time: on ONNX Runtime at 2 threads the five
// convolutions above this took 426 s of a 15-minute profile's 803 s of kernel time, one
// 7x7 2048->2048 alone 178 s (FCs keep their range: vgg's 25088->4096 is 103M).
constexpr double kMaxConvWeights = 16.8e6;

bool starts_with(const std::string& s, const char* p) {
  return s.rfind(p, 0) == 0;
}

double uniform(Rng& rng) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::int64_t log_uniform(Rng& rng, double lo, double hi) {
  const double v = std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi + 0.999))(rng));
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(v), static_cast<std::int64_t>(lo),
                                  static_cast<std::int64_t>(hi));
}

// One value of `values` with the given weights.
std::int64_t choice(Rng& rng, std::initializer_list<std::int64_t> values, std::initializer_list<double> weights) {
  std::discrete_distribution<std::size_t> d(weights.begin(), weights.end());
  return *(values.begin() + static_cast<std::ptrdiff_t>(d(rng)));
}

std::int64_t spatial(Rng& rng, double lo, double hi) {
  static const std::vector<std::int64_t> stages{7, 14, 28, 56, 112, 224, 13, 17, 27, 35, 55, 71, 147, 299};
  if (uniform(rng) < 0.5) {
    std::vector<std::int64_t> in;
    for (std::int64_t s : stages)
      if (s >= lo && s <= hi) in.push_back(s);
    if (!in.empty()) return in[std::uniform_int_distribution<std::size_t>(0, in.size() - 1)(rng)];
  }
  return log_uniform(rng, lo, hi);
}

// `c` rounded to the nearest multiple of 32 (20% of draws), 16 (35%) or 8 (30%), or kept
// (15%), within [lo, hi]. Network widths are mostly multiples of 16 or 32 (ResNet, VGG,
// DenseNet, ViT) and otherwise of 8 (MobileNet's 24 and 40, RegNet's 104 and 440), and
// runtimes run channel counts that fill their 8- or 16-wide blocks faster (ONNX Runtime
// takes its NCHWc convolutions only then): rounding every draw to 8 alone gave a space in
// which 16-aligned layers were a quarter of the draws, and the regressors predicted
// ResNet's and VGG's convolutions 12-20% slow on ONNX Runtime.
std::int64_t network_width(Rng& rng, std::int64_t c, double lo, double hi) {
  if (c <= 16) return c;
  const std::int64_t step = choice(rng, {32, 16, 8, 1}, {0.20, 0.35, 0.30, 0.15});
  std::int64_t r = (c + step / 2) / step * step;
  while (r > static_cast<std::int64_t>(hi) && r - step >= static_cast<std::int64_t>(lo)) r -= step;
  if (r < static_cast<std::int64_t>(lo) || r > static_cast<std::int64_t>(hi)) return c;
  return r;
}

std::int64_t channels(Rng& rng, double lo, double hi) {
  return network_width(rng, log_uniform(rng, lo, hi), lo, hi);
}

// Channels of a layer at resolution hw: half the draws follow the trade-off every CNN
// makes between width and resolution (log2 c ~ N(log2(48 (224/hw)^0.9), 1): 48 at 224,
// ~170 at 56, ~1100 at 7, as VGG, ResNet and MobileNet stages are), the other half are
// independent of hw (channels()). Without the first half, the wide layers at high
// resolution that hold most of a CNN's time (vgg's 256->256 3x3 at 56x56) were almost
// never drawn.
std::int64_t stage_channels(Rng& rng, std::int64_t hw, double lo, double hi) {
  if (uniform(rng) < 0.5) return channels(rng, lo, hi);
  const double center = std::log2(48.0) + 0.9 * std::log2(224.0 / static_cast<double>(std::max<std::int64_t>(hw, 1)));
  const double v = std::exp2(std::normal_distribution<double>(center, 1.0)(rng));
  const std::int64_t c =
      std::clamp<std::int64_t>(std::llround(v), static_cast<std::int64_t>(lo), static_cast<std::int64_t>(hi));
  return network_width(rng, c, lo, hi);
}

std::int64_t snapped(Rng& rng, double lo, double hi, std::initializer_list<std::int64_t> common) {
  if (uniform(rng) < 0.3)
    return *(common.begin() +
             std::uniform_int_distribution<std::ptrdiff_t>(0, static_cast<std::ptrdiff_t>(common.size()) - 1)(rng));
  return channels(rng, lo, hi);
}

std::int64_t stride_for(Rng& rng, std::int64_t k) {
  return uniform(rng) < (k == 1 ? 0.10 : 0.22) ? 2 : 1;
}

// The side of a network's input image: the common ones in 60% of draws (224 most of all),
// else log-uniform over 64-320.
std::int64_t input_resolution(Rng& rng) {
  return uniform(rng) < 0.6 ? choice(rng, {96, 128, 160, 192, 224, 256, 299, 320}, {1, 2, 1, 2, 6, 2, 1, 1})
                            : log_uniform(rng, 64, 320);
}

// The first layer of a network, which reads the image: 3 channels at an input resolution
// (224 most often; MediaPipe's 128-256; 96-320). A strided conv (3x3 in 60%, 7x7 as
// ResNet's 25%, 5x5 15%; stride 2 in 85%) to 8-64 channels, or in 20% a patchify conv
// (k = stride = 4 as ConvNeXt and Swin, 16 or 32 as the ViTs) to 48-1024. Drawn from the
// general marginals, a 3-channel conv at 96-320 with a stride came up about once in a
// thousand conv draws, and XNNPACK's stems were predicted at 0.35-0.72 of their in-model
// times (its 3-channel convolutions run slower per FLOP than any it had been shown).
Params stem_params(Rng& rng, bool padded_conv) {
  const std::int64_t hw = input_resolution(rng);
  if (!padded_conv && uniform(rng) < 0.2) {
    const std::int64_t k = choice(rng, {4, 16, 32}, {0.6, 0.25, 0.15});
    return {{"n", 1}, {"h", hw},     {"w", hw},       {"cin", 3}, {"cout", channels(rng, 48, 1024)},
            {"k", k}, {"stride", k}, {"dilation", 1}, {"pad", 0}, {"groups", 1}};
  }
  const std::int64_t k = choice(rng, {3, 5, 7}, {0.60, 0.15, 0.25});
  return {{"n", 1},
          {"h", hw},
          {"w", hw},
          {"cin", 3},
          {"cout", channels(rng, 8, 64)},
          {"k", k},
          {"stride", uniform(rng) < 0.85 ? 2 : 1},
          {"dilation", 1},
          {"pad", k / 2},
          {"groups", 1}};
}

// A network's input image (1 or 3 channels at a stem's resolution), for the data movers
// that meet it: the TFLite writer pads it before a stride-2 stem (PAD, then a VALID conv)
// and a quantized model turns it channels-last (its input_nhwc transpose). With the
// general marginals, a 3-channel tensor of 200 pixels or more a side came up in about one
// pad draw in 400, and XNNPACK's int8 stem pads and input transposes were predicted at
// 0.35-0.5 of their in-model times (mobilenet_v3_small: 0.27 against 0.52 ms).
Params image_params(Rng& rng) {
  const std::int64_t hw = input_resolution(rng);
  return {{"n", 1}, {"h", hw}, {"w", hw}, {"c", choice(rng, {1, 3}, {0.15, 0.85})}};
}

// A conv-anchored kernel (conv, conv+..., pad+conv): a network's stem in 8% of draws, a
// squeeze-excitation's conv in 6% of the others, grouped in 30% of the rest.
Params conv_params(Rng& rng, bool padded_conv) {
  if (uniform(rng) < 0.08) return stem_params(rng, padded_conv);
  if (!padded_conv && uniform(rng) < 0.06) {
    // A squeeze-excitation's reduce or expand conv: a dense 1x1 conv over the one position
    // a global pool leaves, C -> C/r or back, r 4 (MobileNetV3, RegNetY), 16 (SE-ResNet)
    // or 24 (EfficientNet's 240 -> 10, 1152 -> 48). Drawn as other convs, a 1x1 conv at
    // one position came up in under 2% of draws, and ONNX Runtime's SE convs inside the
    // held-out models (EfficientNets, MobileNetV3s, RegNetYs: 360-400 kernels) were
    // predicted at about half their time (2.5 ms against 5.0 at 1 thread), from the one-row
    // FCs (Gemm, MatMul) of the space.
    const std::int64_t c = channels(rng, 16, 2048);
    const std::int64_t squeezed = std::max<std::int64_t>(4, c / choice(rng, {4, 16, 24}, {0.5, 0.3, 0.2}));
    const bool reduce = uniform(rng) < 0.5;
    return {{"n", 1},
            {"h", 1},
            {"w", 1},
            {"cin", reduce ? c : squeezed},
            {"cout", reduce ? squeezed : c},
            {"k", 1},
            {"stride", 1},
            {"dilation", 1},
            {"pad", 0},
            {"groups", 1}};
  }
  Params p;
  std::int64_t k = choice(rng, {1, 3, 5, 7, 9}, {0.45, 0.38, 0.07, 0.07, 0.03});
  if (padded_conv && k == 1) k = 3;  // pad+conv pads by k / 2
  const std::int64_t hw = spatial(rng, 1, 320);
  std::int64_t cin = 0, cout = 0, groups = 1;
  if (uniform(rng) < 0.30) {
    // Powers of two (ResNeXt's 32, ShuffleNet) in half the draws; otherwise any count
    // (RegNet fixes the group width, so its stages have 6, 13, 26, 55 or 3, 7, 17, 38
    // groups), log-uniform so each octave gets the same share.
    groups = uniform(rng) < 0.5 ? choice(rng, {2, 4, 8, 16, 32, 64}, {0.15, 0.2, 0.2, 0.2, 0.15, 0.1})
                                : log_uniform(rng, 2, 64);
    const std::int64_t width = choice(rng, {2, 4, 8, 16, 24, 32, 48, 64, 128}, {1, 2, 3, 3, 2, 2, 2, 2, 1});
    cin = groups * width;
    cout = groups * width * choice(rng, {1, 2}, {0.7, 0.3});
  } else {
    cin = stage_channels(rng, hw, 3, 2048);
    cout = stage_channels(rng, hw, 8, 2048);
  }
  const std::int64_t dilation = (k == 3 && uniform(rng) < 0.05) ? 2 : 1;
  p = {{"n", 1},
       {"h", hw},
       {"w", hw},
       {"cin", cin},
       {"cout", cout},
       {"k", k},
       {"stride", stride_for(rng, k)},
       {"dilation", dilation},
       {"pad", dilation * (k - 1) / 2},
       {"groups", groups}};
  return p;
}

Params dwconv_params(Rng& rng) {
  const std::int64_t k = choice(rng, {3, 5, 7, 9}, {0.58, 0.29, 0.10, 0.03});
  const std::int64_t hw = spatial(rng, 3, 320);
  return {{"n", 1},        {"h", hw},
          {"w", hw},       {"c", stage_channels(rng, hw, 8, 2048)},
          {"k", k},        {"stride", stride_for(rng, k)},
          {"dilation", 1}, {"pad", k / 2}};
}

// A transpose other than one matrix transposed, as transformers and window networks move
// their tensors (drawn in the input's layout, then reduced: ir::reduce_permutation):
//   30%  heads split off or merged into a sequence: [s, h, d] by (1, 0, 2), in half the
//        draws for each of 4-256 windows ([w, s, h, d] by (0, 2, 1, 3)); 16-3136 tokens,
//        1-32 heads of width 16-128
//   20%  attention's K^T: [b, s, d] by (0, 2, 1), b heads 1-16 of 16-3136 tokens, or in
//        half the draws windows x heads 16-256 of 16-196 tokens; width 16-128
//   20%  Swin's window partition and its reverse: [g, p, g, p c] by (0, 2, 1, 3), g 1-16
//        windows a side of p 2-14 (7 in half the draws) tokens, c 32-768
//   20%  MaxViT's window and grid partitions and their reverses: [c, g, p, g, p] by
//        (1, 3, 2, 4, 0) and [g, g, p, p, c] by (4, 0, 2, 1, 3), either side's roles
//   10%  any permutation of 3-5 axes of 2-64 each
// Draws that reduce to one matrix transpose or to fewer than 2 axes are drawn again.
std::optional<Params> permute_params(Rng& rng) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::vector<std::int64_t> dims, perm;
    const double u = uniform(rng);
    const std::int64_t width = choice(rng, {16, 32, 48, 64, 96, 128}, {1, 3, 1, 3, 1, 1});
    if (u < 0.30) {
      const std::int64_t s = log_uniform(rng, 16, 3136), h = log_uniform(rng, 1, 32);
      if (uniform(rng) < 0.5) {
        dims = {s, h, width};
        perm = {1, 0, 2};
      } else {
        dims = {log_uniform(rng, 4, 256), std::min<std::int64_t>(s, 196), h, width};
        perm = {0, 2, 1, 3};
      }
    } else if (u < 0.50) {
      const bool windows = uniform(rng) < 0.5;
      dims = {windows ? log_uniform(rng, 16, 256) : log_uniform(rng, 1, 16),
              windows ? choice(rng, {16, 36, 49, 64, 144, 196}, {1, 1, 3, 2, 1, 1}) : log_uniform(rng, 16, 3136),
              width};
      perm = {0, 2, 1};
    } else if (u < 0.70) {
      const std::int64_t g = log_uniform(rng, 1, 16);
      const std::int64_t p = uniform(rng) < 0.5 ? 7 : log_uniform(rng, 2, 14);
      dims = {g, p, g, p * channels(rng, 32, 768)};
      perm = {0, 2, 1, 3};
    } else if (u < 0.90) {
      const std::int64_t g = log_uniform(rng, 1, 16);
      const std::int64_t p = uniform(rng) < 0.5 ? 7 : log_uniform(rng, 2, 16);
      const std::int64_t c = channels(rng, 32, 768);
      const bool grid = uniform(rng) < 0.5;  // the grid's roles: p windows of g
      const std::int64_t outer = grid ? p : g, inner = grid ? g : p;
      if (uniform(rng) < 0.5) {
        dims = {c, outer, inner, outer, inner};
        perm = {1, 3, 2, 4, 0};
      } else {
        dims = {outer, outer, inner, inner, c};
        perm = {4, 0, 2, 1, 3};
      }
    } else {
      const std::size_t rank = static_cast<std::size_t>(log_uniform(rng, 3, 5));
      for (std::size_t i = 0; i < rank; ++i) dims.push_back(log_uniform(rng, 2, 64));
      perm.resize(rank);
      for (std::size_t i = 0; i < rank; ++i) perm[i] = static_cast<std::int64_t>(i);
      std::shuffle(perm.begin(), perm.end(), rng);
    }
    const auto reduced = ir::reduce_permutation(dims, perm);
    if (!reduced) continue;
    if (const auto spec = permute_spec(*reduced)) return spec->params;
  }
  return std::nullopt;
}

std::optional<Params> draw(const std::string& type, Rng& rng) {
  // n h w c, the channels drawn for the resolution (stage_channels).
  const auto tensor = [&](double c_lo, double c_hi, double hw_lo, double hw_hi) {
    const std::int64_t hw = spatial(rng, hw_lo, hw_hi);
    return Params{{"n", 1}, {"h", hw}, {"w", hw}, {"c", stage_channels(rng, hw, c_lo, c_hi)}};
  };
  if (type == "conv" || starts_with(type, "conv+")) return conv_params(rng, false);
  if (type == "pad+conv") return conv_params(rng, true);
  if (starts_with(type, "dwconv") || type == "pad+dwconv") return dwconv_params(rng);
  if (type == "convtranspose") {
    const std::int64_t k = choice(rng, {2, 3, 4}, {0.4, 0.3, 0.3});
    const std::int64_t hw = spatial(rng, 2, 128);
    return Params{{"n", 1},
                  {"h", hw},
                  {"w", hw},
                  {"cin", channels(rng, 8, 512)},
                  {"cout", channels(rng, 8, 512)},
                  {"k", k},
                  {"stride", choice(rng, {1, 2}, {0.2, 0.8})},
                  {"pad", (k - 1) / 2}};
  }
  if (starts_with(type, "fc")) {
    // One row (a classifier head) in 40% of draws; else the rows of a token or pixel MLP
    // (ViT's 197 tokens, ConvNeXt's and Swin's 3136 pixels), where the FC is a GEMM. With
    // one row in 65% of draws, the GEMMs that hold a transformer's time had 16 samples of
    // 50 MFLOP or more in a 15-minute profile, and ONNX Runtime's were predicted at 73
    // GFLOP/s against the 107 that ViT-B/16's MLP runs at.
    const std::int64_t rows = uniform(rng) < 0.40 ? 1 : log_uniform(rng, 2, 3136);
    if (rows > 1 && uniform(rng) < 0.5) {
      // A transformer block's GEMM over its tokens: the embedding width d (a multiple of 32,
      // 64-1024: DeiT-Ti's 192 to ViT-L's 1024, Swin's and ConvNeXt's 96-768) to itself
      // (attention's projections), to 3d (packed q, k, v) or to and from 4d (the MLP). From
      // the independent marginals alone, a 15-minute ONNX Runtime profile at 2 threads held
      // 26 FCs of 32 rows or more, 5 of them with both widths above 256, and predicted
      // ViT-B/16's 768->768 and 768->3072 GEMMs at 1.7-1.9x their in-model times.
      const std::int64_t d = std::max<std::int64_t>(64, (log_uniform(rng, 64, 1024) + 16) / 32 * 32);
      const std::int64_t shape = choice(rng, {0, 1, 2, 3}, {0.35, 0.15, 0.25, 0.25});
      const std::int64_t cin = shape == 3 ? 4 * d : d;
      const std::int64_t cout = shape == 1 ? 3 * d : shape == 2 ? 4 * d : d;
      return Params{{"n", log_uniform(rng, 16, 3136)}, {"cin", cin}, {"cout", cout}};
    }
    return Params{{"n", rows},
                  {"cin", snapped(rng, 16, 25088, {512, 1024, 1280, 2048, 4096, 9216, 25088})},
                  {"cout", snapped(rng, 10, 4096, {1000, 1000, 4096})}};
  }
  if (type == "matmul") {
    // Window attention in 30% of draws: windows x heads 16-256 pairs of small matrices,
    // a window's tokens (4x4 to 14x14) against a head's width (16-64), as Q K^T or as the
    // attention times V. Swin-T multiplies 64 windows x 3 heads = 192 pairs of 49x32 and
    // 32x49 at once; with the batch at most 16, its matmuls were predicted at 0.13 of
    // their time on ONNX Runtime.
    if (uniform(rng) < 0.3) {
      const std::int64_t tokens = choice(rng, {16, 36, 49, 64, 144, 196}, {1, 1, 3, 2, 1, 1});
      const std::int64_t width = choice(rng, {16, 32, 64}, {1, 2, 1});
      const bool scores = uniform(rng) < 0.5;  // Q K^T, else attention x V
      return Params{{"b", log_uniform(rng, 16, 256)},
                    {"m", tokens},
                    {"k", scores ? width : tokens},
                    {"n", scores ? tokens : width}};
    }
    // Heads of one sequence (ViT-B: 12 heads of 197 tokens) and MLPs over tokens.
    return Params{{"b", choice(rng, {1, 2, 3, 4, 6, 8, 12, 16}, {3, 1, 1, 1, 1, 1, 2, 1})},
                  {"m", log_uniform(rng, 16, 3136)},
                  {"k", channels(rng, 16, 1024)},
                  {"n", log_uniform(rng, 16, 3136)}};
  }
  if (type == "einsum") {
    // Attention as an Einsum: window attention (MaxViT's 49-token windows and grids, 4-64
    // windows x 2-16 heads) in 60% of draws, else heads of one sequence; either form.
    const std::int64_t form = uniform(rng) < 0.5 ? 1 : 2;
    std::int64_t b = 0, tokens = 0, width = 0;
    if (uniform(rng) < 0.6) {
      b = log_uniform(rng, 16, 256);
      tokens = choice(rng, {16, 36, 49, 64, 144, 196}, {1, 1, 3, 2, 1, 1});
      width = choice(rng, {16, 32, 64}, {1, 2, 1});
    } else {
      b = choice(rng, {1, 2, 3, 4, 6, 8, 12, 16}, {3, 1, 1, 1, 1, 1, 2, 1});
      tokens = log_uniform(rng, 16, 3136);
      width = choice(rng, {32, 64, 96, 128}, {1, 3, 1, 1});
    }
    return Params{
        {"b", b}, {"m", tokens}, {"k", form == 1 ? width : tokens}, {"n", form == 1 ? tokens : width}, {"form", form}};
  }
  if (type == "maxpool" || type == "avgpool") {
    const std::int64_t k = choice(rng, {2, 3}, {0.3, 0.7});
    Params p = tensor(8, 2048, 3, 320);
    p["k"] = k;
    p["stride"] = choice(rng, {1, 2}, {0.2, 0.8});
    p["pad"] = k == 3 && uniform(rng) < 0.6 ? 1 : 0;
    return p;
  }
  if (type == "globalavgpool") return tensor(16, 2048, 1, 56);
  // A softmax's rows are every query of every head (and window): Swin-T's first stage
  // softmaxes 64 x 3 x 49 = 9408 rows of 49.
  if (type == "softmax") return Params{{"n", log_uniform(rng, 1, 16384)}, {"c", channels(rng, 10, 4096)}};
  if (type == "layernorm" || type == "gelu" || type == "layernorm_ops")
    return Params{{"n", log_uniform(rng, 1, 3136)}, {"c", channels(rng, 10, 4096)}};
  if (type == "concat") {
    // In 15% a dense block's concat of every earlier layer's output: 5-40 inputs of 8-128
    // channels (DenseNet-121, -169 and -161 join up to 25, 33 and 37 of 32 or 48). XNNPACK
    // copies each input as an operator of its own, which at 2 threads cost ~2 us apiece
    // here (a 33-input concat of 48x7x7 tensors: 6 us at 1 thread, 65-83 us at 2), and a
    // tree never extrapolates past the four inputs of the other draws.
    if (uniform(rng) < 0.15) {
      Params p = tensor(8, 128, 1, 56);
      p["inputs"] = log_uniform(rng, 5, 40);
      return p;
    }
    Params p = tensor(8, 1024, 1, 160);
    p["inputs"] = choice(rng, {2, 3, 4}, {0.5, 0.2, 0.3});
    return p;
  }
  if (starts_with(type, "resize")) {
    Params p = tensor(8, 512, 2, 128);
    p["scale"] = choice(rng, {2, 4}, {0.8, 0.2});
    return p;
  }
  if (type == "pad") {
    Params p = uniform(rng) < 0.10 ? image_params(rng) : tensor(3, 512, 4, 256);
    p["pad"] = choice(rng, {1, 2, 3}, {0.6, 0.25, 0.15});
    return p;
  }
  if (type == "channel_pad") {
    Params p = tensor(8, 512, 2, 128);
    p["cpad"] = channels(rng, 4, 256);
    return p;
  }
  if (type == "se") {
    Params p = tensor(16, 2048, 1, 112);
    p["r"] = choice(rng, {4, 8, 16}, {0.6, 0.1, 0.3});
    return p;
  }
  if (type == "channel_shuffle") {
    const std::int64_t groups = choice(rng, {2, 3, 4, 8}, {0.6, 0.1, 0.2, 0.1});
    Params p = tensor(8, 512, 2, 112);
    p["c"] *= groups;
    p["groups"] = groups;
    return p;
  }
  // A channel split into 2 (ShuffleNet's halves), 3 or 4 parts, the first part kept.
  if (type == "slice") {
    const std::int64_t parts = choice(rng, {2, 3, 4}, {0.6, 0.25, 0.15});
    Params p = tensor(8, 1024, 1, 160);
    p["c"] *= parts;
    p["parts"] = parts;
    return p;
  }
  // One axis cut to any length: the rows or the columns in 35% of draws each (Swin's cyclic
  // shift keeps 53 and 3 of 56 rows, then of 56 columns), the channels in 30%; a short
  // piece (1 to an eighth of the axis) in 40%, all but such a piece in 40%, any length in
  // 20%. A draw keeping a whole fraction of the channels is a `slice`, refused and drawn again.
  if (type == "slice_axis") {
    Params p = tensor(8, 1024, 2, 160);
    const std::int64_t axis = choice(rng, {1, 2, 3}, {0.30, 0.35, 0.35});
    const std::int64_t extent = p[axis == 1 ? "c" : axis == 2 ? "h" : "w"];
    const std::int64_t piece = log_uniform(rng, 1, std::max<double>(1, static_cast<double>(extent) / 8));
    const double u = uniform(rng);
    const std::int64_t keep =
        u < 0.4   ? piece
        : u < 0.8 ? extent - piece
                  : std::uniform_int_distribution<std::int64_t>(1, std::max<std::int64_t>(1, extent - 1))(rng);
    p["axis"] = axis;
    p["keep"] = std::clamp<std::int64_t>(keep, 1, std::max<std::int64_t>(1, extent - 1));
    return p;
  }
  // Rows of packed columns: a transformer's q/k/v (3 x 768 for ViT-B) over its tokens.
  if (type == "slice_rows") {
    const std::int64_t parts = choice(rng, {2, 3, 4}, {0.3, 0.5, 0.2});
    return Params{{"n", log_uniform(rng, 1, 3136)}, {"c", channels(rng, 16, 1024) * parts}, {"parts", parts}};
  }
  // One value for every channel in 3 of 4 draws (a BatchNormalization), else one value
  // (hard swish's x + 3 and x / 6).
  if (type == "scale" || type == "shift+relu") {
    Params p = tensor(3, 2048, 1, 320);
    p["scalar"] = uniform(rng) < 0.25 ? 1 : 0;
    return p;
  }
  if (type == "permute") return permute_params(rng);
  if (type == "transpose" && uniform(rng) < 0.10) return image_params(rng);
  return tensor(3, 2048, 1, 320);  // elementwise, activations, bn, reshape, transpose
}

// Elements of the largest activation tensor a spec reads or writes.
double largest_tensor(const KernelSpec& s) {
  const auto g = [&](const char* n) { return s.params.count(n) != 0 ? static_cast<double>(s.params.at(n)) : 1.0; };
  if (s.params.count("cin") != 0 && s.params.count("h") != 0) {
    const double in = g("n") * g("cin") * g("h") * g("w");
    const double out = g("n") * g("cout") * g("h") * g("w") / g("stride") / g("stride");
    const double up = s.type == "convtranspose" ? g("stride") * g("stride") : 1.0;
    return std::max(in, out * up);
  }
  if (s.type == "matmul" || s.type == "einsum")
    return g("b") * std::max({g("m") * g("k"), g("k") * g("n"), g("m") * g("n")});
  if (s.type == "permute") return g("d0") * g("d1") * g("d2") * g("d3") * g("d4");
  if (starts_with(s.type, "fc")) return g("n") * std::max(g("cin"), g("cout"));
  double e = g("n") * g("c") * g("h") * g("w");
  if (s.type == "concat") e *= g("inputs");
  if (starts_with(s.type, "resize")) e *= g("scale") * g("scale");
  return e;
}

// Weights of a convolution with cin and cout (dense, grouped, transposed); 0 for the rest.
double conv_weights(const KernelSpec& s) {
  if (s.params.count("k") == 0 || s.params.count("cin") == 0 || s.params.count("cout") == 0) return 0;
  const auto g = [&](const char* n) { return s.params.count(n) != 0 ? static_cast<double>(s.params.at(n)) : 1.0; };
  return g("cin") / g("groups") * g("cout") * g("k") * g("k");
}

bool plausible(const KernelSpec& s, double max_macs) {
  const bool spatial_kernel = s.params.count("k") != 0 && s.params.count("h") != 0;
  const double limit = spatial_kernel || s.type == "matmul" || s.type == "einsum" ? kMaxActivation : kMaxElementwise;
  return largest_tensor(s) <= limit && kernel_work(s) <= max_macs && conv_weights(s) <= kMaxConvWeights;
}

}  // namespace

std::optional<KernelSpec> space_kernel(const std::string& type, std::mt19937_64& rng, double max_macs) {
  kernel_parameters(type);  // throws naming an unknown type
  for (int attempt = 0; attempt < 200; ++attempt) {
    const std::optional<Params> p = draw(type, rng);
    if (!p) return std::nullopt;
    KernelSpec spec{type, *p, ir::DType::kFloat32};
    for (const auto& name : kernel_parameters(type))  // parameters the draw leaves out
      if (spec.params.count(name) == 0) spec.params[name] = name == "pad" ? 0 : 1;
    try {
      validate(spec);
    } catch (const Error&) {
      continue;
    }
    if (plausible(spec, max_macs)) return spec;
  }
  return std::nullopt;
}

int space_weight(const std::string& type) {
  // The kernels that hold most of a CNN's or a transformer's time get more of the budget.
  if (type == "conv") return 6;
  if (type == "fc" || type == "matmul") return 4;
  if (starts_with(type, "conv+") || starts_with(type, "dwconv") || type == "pad+conv") return 2;
  return 1;
}

}  // namespace infercast::bench
