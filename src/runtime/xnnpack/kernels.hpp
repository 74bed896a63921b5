// infercast's own float32 loops for what XNNPACK 2022-02 lacks (no transpose, tanh,
// GELU, layer norm, strided softmax, batched matmul of two activations, nearest
// resize, generic reductions). Plain C++ the compiler can vectorize, parallelized
// over pthreadpool when the work is large enough.
#pragma once

#include <pthreadpool.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

namespace infercast::runtime::xnnpack::kernels {

// Runs f(begin, end) over [0, n) in chunks of at least `grain`, on `pool` when it has
// more than one thread.
template <class F>
void parallel_ranges(pthreadpool_t pool, std::size_t n, std::size_t grain, F&& f) {
  if (n == 0) return;
  const std::size_t threads = pool != nullptr ? pthreadpool_get_threads_count(pool) : 1;
  if (threads <= 1 || n <= grain) {
    f(std::size_t{0}, n);
    return;
  }
  std::size_t chunks = std::min<std::size_t>((n + grain - 1) / grain, threads * 4);
  const std::size_t per = (n + chunks - 1) / chunks;
  chunks = (n + per - 1) / per;
  struct Ctx {
    F* f;
    std::size_t n, per;
  } ctx{&f, n, per};
  pthreadpool_parallelize_1d(
      pool,
      [](void* p, std::size_t i) {
        auto* c = static_cast<Ctx*>(p);
        const std::size_t begin = i * c->per;
        (*c->f)(begin, std::min(c->n, begin + c->per));
      },
      &ctx, chunks, 0);
}

// out[i0..] = in[base + Σ i_d * strides[d]] over `dims` (strides may be 0 or negative):
// transposes, slices, broadcasts and depth/space shuffles are all this copy.
struct Gather {
  std::vector<std::int64_t> dims;
  std::vector<std::int64_t> strides;
  std::int64_t base = 0;
};
// Merges axes and drops extent-1 axes without changing the result.
Gather simplify(Gather g);
void gather(const float* in, float* out, const Gather& g, pthreadpool_t pool);
// Gather for out = transpose(in, perm) (out dims[i] = in dims[perm[i]]).
Gather transpose_view(std::span<const std::int64_t> in_dims, std::span<const int> perm);

// out[i0, i1, ...] = in[offsets[0][i0] + offsets[1][i1] + ...]: per-axis element
// offsets (already multiplied by the input strides). Pads (edge, reflect), tiles and
// gathers with constant indices are this copy.
void indexed_gather(const float* in, float* out, const std::vector<std::vector<std::int64_t>>& offsets,
                    pthreadpool_t pool);

// Batched matrix product with broadcast batch offsets:
// C[b] (m×n) = alpha · op(A[b]) · op(B[b]) (+ beta · bias broadcast), op = optional transpose.
struct MatMul {
  std::size_t m = 0, k = 0, n = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f;
  std::vector<std::size_t> a_offsets, b_offsets;  // one per batch (elements)
  // bias: element (i, j) of batch b is bias[bias_offsets[b] + i*bias_row + j*bias_col]
  const float* bias = nullptr;
  float beta = 1.0f;
  std::vector<std::size_t> bias_offsets;
  std::size_t bias_row = 0, bias_col = 0;
};
void matmul(const float* a, const float* b, float* c, const MatMul& mm, pthreadpool_t pool);

// Softmax (or log-softmax) over the middle axis of [outer, axis, inner], input scaled by beta.
void softmax(const float* in, float* out, std::size_t outer, std::size_t axis, std::size_t inner, float beta, bool log,
             pthreadpool_t pool);

// Layer normalization over the trailing `inner` elements of each of `outer` rows.
// scale/bias have `inner` elements or 1 (broadcast); mean/inv_std (optional) `outer`.
void layer_norm(const float* in, float* out, std::size_t outer, std::size_t inner, const float* scale,
                std::size_t scale_size, const float* bias, std::size_t bias_size, float epsilon, float* mean,
                float* inv_std, pthreadpool_t pool);

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };
// Reduces `dims` over the axes flagged in `reduce`; the output has `dims` with the
// reduced axes set to 1.
void reduce(const float* in, float* out, std::span<const std::int64_t> dims, const std::vector<bool>& axes, Reduce op,
            pthreadpool_t pool);

// Per-axis sampling plan of a resize: for output position o, linear blends
// in[i0]·(1−w) + in[i1]·w; nearest uses i0 only.
struct ResizeAxis {
  std::vector<std::int64_t> i0, i1;
  std::vector<float> w;
};
// NHWC resize of [n, ih, iw, c] → [n, oh, ow, c].
void resize_nhwc(const float* in, float* out, std::size_t n, std::size_t ih, std::size_t iw, std::size_t c,
                 const ResizeAxis& y, const ResizeAxis& x, bool linear, pthreadpool_t pool);

// y = x · scale[c] + shift[c], clamped, over rows of `channels` (channels-last).
void channel_affine(const float* in, float* out, std::size_t rows, std::size_t channels, const float* scale,
                    const float* shift, float min, float max, pthreadpool_t pool);

// Local response normalization across the channels of each row (channels-last):
// y = x / (bias + alpha/size · Σ x²)^beta over [c − ⌊(size−1)/2⌋, c + ⌈(size−1)/2⌉].
void lrn(const float* in, float* out, std::size_t rows, std::size_t channels, std::size_t size, float alpha, float beta,
         float bias, pthreadpool_t pool);

// Instance normalization of NHWC data [n, spatial, c].
void instance_norm(const float* in, float* out, std::size_t n, std::size_t spatial, std::size_t c, const float* scale,
                   const float* bias, float epsilon, pthreadpool_t pool);

// Four floats in one SSE register (GCC/Clang vector extensions: arithmetic, comparisons
// giving lane masks, and `mask ? a : b` selects, all without jumps).
using Float4 = float __attribute__((vector_size(16)));
using Int4 = std::int32_t __attribute__((vector_size(16)));

// exp(y) for y in [-80, 0] in straight-line code: y = k ln 2 + r with |r| <= ln2 / 2, then
// 2^k (built in the exponent bits) times the degree-7 Taylor polynomial of e^r (relative
// error < 6e-9 before rounding).
inline Float4 exp_nonpositive(Float4 y) {
  const Int4 k = __builtin_convertvector(y * 1.4426950408889634f - 0.5f, Int4);  // round(y / ln 2), y <= 0
  const Float4 kf = __builtin_convertvector(k, Float4);
  const Float4 r = y - kf * 0.693145751953125f - kf * 1.428606765330187e-06f;  // ln 2 in two parts
  const Float4 p =
      1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 +
                                          r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
  return p * std::bit_cast<Float4>((k + 127) << 23);
}

// erf(x) in a time that does not depend on x. glibc's erff branches by range (2.8 ns per
// element on N(0, 0.1), 11.4 on N(0, 1), 16.6 on N(0, 3): bench/erf_flat.sh), and so does a
// scalar select the compiler turns into a jump: with both approximations computed but
// picked by `?:`, GCC 12 still jumped, and the cost went from 6.8 ns per element on
// N(0, 0.1) to 11.8 on N(0, 1) (mispredictions). That put ConvNeXt's Erf at 4.5 ns per
// element in its first stage and 7.6 in its last, and a profile measured on one input
// distribution mispredicted models fed another (GELU at 1.6x its time inside convnext_tiny).
// Here four lanes compute both approximations and select by mask, with no call and no jump:
// 2.2 ns per element on each of bench/erf_flat.sh's six input distributions.
// |x| < 0.5: the Maclaurin series through x^13 (relative error < 1e-7); otherwise
// Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7 in exact arithmetic), whose
// exponent is clamped at -80 (beyond |x| = 8.9 erf is 1 in float; clamping keeps e^-x^2
// out of subnormals). Checked against double-precision erf from 1e-30 to the saturated
// tails by tests/runtime/xnnpack.
inline Float4 erf_flat4(Float4 x) {
  const Int4 sign = std::bit_cast<Int4>(x) & std::numeric_limits<std::int32_t>::min();
  const Float4 a = std::bit_cast<Float4>(std::bit_cast<Int4>(x) ^ sign);
  const Float4 z = x * x;
  const Float4 series =
      x * (1.1283791670955126f +
           z * (-0.37612638903183754f +
                z * (0.11283791670955126f +
                     z * (-0.026866170645131252f +
                          z * (0.005223977625442188f + z * (-0.0008548327023450852f + z * 0.00012055332981789664f))))));
  const Float4 t = 1.0f / (1.0f + 0.3275911f * a);
  const Float4 poly =
      t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const Float4 z_tail = z < 80.0f ? z : Float4{} + 80.0f;
  const Float4 magnitude = 1.0f - poly * exp_nonpositive(-z_tail);
  const Float4 tail = std::bit_cast<Float4>(std::bit_cast<Int4>(magnitude) | sign);
  return a < 0.5f ? series : tail;
}

// Elementwise maps; f is inlined into the loop.
// An f that maps a Float4 runs four lanes at a time (the last, partial group padded).
template <class F>
void unary(const float* in, float* out, std::size_t count, F f, pthreadpool_t pool) {
  parallel_ranges(pool, count, 16384, [&](std::size_t begin, std::size_t end) {
    if constexpr (std::is_invocable_r_v<Float4, F, Float4>) {
      std::size_t i = begin;
      for (; i + 4 <= end; i += 4) {
        Float4 v;
        std::memcpy(&v, in + i, sizeof v);
        v = f(v);
        std::memcpy(out + i, &v, sizeof v);
      }
      if (i < end) {
        Float4 v{};
        std::memcpy(&v, in + i, (end - i) * sizeof(float));
        v = f(v);
        std::memcpy(out + i, &v, (end - i) * sizeof(float));
      }
    } else {
      for (std::size_t i = begin; i < end; ++i) out[i] = f(in[i]);
    }
  });
}

// Broadcast binary map: a and b have strides (0 on broadcast axes) over the output dims.
struct Broadcast {
  std::vector<std::int64_t> dims;
  std::vector<std::int64_t> a_strides, b_strides;
};
Broadcast broadcast(std::span<const std::int64_t> a_dims, std::span<const std::int64_t> b_dims,
                    std::span<const std::int64_t> out_dims);

template <class F>
void binary(const float* a, const float* b, float* out, const Broadcast& bc, F f, pthreadpool_t pool) {
  const std::size_t rank = bc.dims.size();
  std::int64_t total = 1;
  for (auto d : bc.dims) total *= d;
  const std::int64_t inner = rank ? bc.dims[rank - 1] : 1;
  const std::int64_t rows = inner ? total / inner : 0;
  const std::int64_t as = rank ? bc.a_strides[rank - 1] : 0, bs = rank ? bc.b_strides[rank - 1] : 0;
  parallel_ranges(pool, static_cast<std::size_t>(rows),
                  std::max<std::size_t>(1, 16384 / std::max<std::int64_t>(inner, 1)),
                  [&](std::size_t begin, std::size_t end) {
                    for (std::size_t r = begin; r < end; ++r) {
                      std::int64_t rem = static_cast<std::int64_t>(r), ao = 0, bo = 0;
                      for (std::size_t d = rank - 1; d-- > 0;) {
                        const std::int64_t i = rem % bc.dims[d];
                        rem /= bc.dims[d];
                        ao += i * bc.a_strides[d];
                        bo += i * bc.b_strides[d];
                      }
                      float* o = out + r * inner;
                      for (std::int64_t j = 0; j < inner; ++j) o[j] = f(a[ao + j * as], b[bo + j * bs]);
                    }
                  });
}

}  // namespace infercast::runtime::xnnpack::kernels
