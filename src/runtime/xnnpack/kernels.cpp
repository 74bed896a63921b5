#include "runtime/xnnpack/kernels.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

namespace infercast::runtime::xnnpack::kernels {

Gather simplify(Gather g) {
  Gather s;
  s.base = g.base;
  for (std::size_t d = 0; d < g.dims.size(); ++d) {
    if (g.dims[d] == 1) continue;
    if (!s.dims.empty() && s.strides.back() == g.strides[d] * g.dims[d]) {
      s.dims.back() *= g.dims[d];
      s.strides.back() = g.strides[d];
      continue;
    }
    s.dims.push_back(g.dims[d]);
    s.strides.push_back(g.strides[d]);
  }
  if (s.dims.empty()) {
    s.dims.push_back(1);
    s.strides.push_back(1);
  }
  return s;
}

Gather transpose_view(std::span<const std::int64_t> in_dims, std::span<const int> perm) {
  std::vector<std::int64_t> in_strides(in_dims.size(), 1);
  for (std::size_t d = in_dims.size(); d-- > 1;) in_strides[d - 1] = in_strides[d] * in_dims[d];
  Gather g;
  for (int p : perm) {
    g.dims.push_back(in_dims[static_cast<std::size_t>(p)]);
    g.strides.push_back(in_strides[static_cast<std::size_t>(p)]);
  }
  return g;
}

namespace {

// Offset of row `row` (row-major over dims[0..rank-1)) of a gather.
std::int64_t row_offset(const Gather& g, std::size_t rank, std::int64_t row) {
  std::int64_t off = g.base;
  for (std::size_t d = rank - 1; d-- > 0;) {
    const std::int64_t i = row % g.dims[d];
    row /= g.dims[d];
    off += i * g.strides[d];
  }
  return off;
}

}  // namespace

void gather(const float* in, float* out, const Gather& raw, pthreadpool_t pool) {
  const Gather g = simplify(raw);
  const std::size_t rank = g.dims.size();
  std::int64_t total = 1;
  for (auto d : g.dims) total *= d;
  if (total == 0) return;
  const std::int64_t inner = g.dims[rank - 1];
  const std::int64_t inner_stride = g.strides[rank - 1];

  // A transpose of the last two axes (the second-to-last reads contiguously): copy in
  // square tiles so that both sides stay in cache.
  if (rank >= 2 && g.strides[rank - 2] == 1 && inner_stride != 1 && g.dims[rank - 2] >= 8 && inner >= 8) {
    constexpr std::int64_t kTile = 32;
    const std::int64_t rows = g.dims[rank - 2];
    const std::int64_t outer = total / (rows * inner);
    const std::int64_t row_tiles = (rows + kTile - 1) / kTile;
    Gather outer_g = g;
    outer_g.dims.resize(rank - 1);
    outer_g.strides.resize(rank - 1);
    parallel_ranges(pool, static_cast<std::size_t>(outer * row_tiles), 1, [&](std::size_t begin, std::size_t end) {
      for (std::size_t t = begin; t < end; ++t) {
        const std::int64_t o = static_cast<std::int64_t>(t) / row_tiles;
        const std::int64_t i0 = (static_cast<std::int64_t>(t) % row_tiles) * kTile;
        const std::int64_t i1 = std::min(rows, i0 + kTile);
        // Offset of (o, i=0, j=0): outer index o over dims[0..rank-2).
        std::int64_t off = g.base, rem = o;
        for (std::size_t d = rank - 2; d-- > 0;) {
          off += (rem % g.dims[d]) * g.strides[d];
          rem /= g.dims[d];
        }
        float* dst = out + o * rows * inner;
        for (std::int64_t j0 = 0; j0 < inner; j0 += kTile) {
          const std::int64_t j1 = std::min(inner, j0 + kTile);
          for (std::int64_t i = i0; i < i1; ++i) {
            const float* src = in + off + i;
            float* d = dst + i * inner;
            for (std::int64_t j = j0; j < j1; ++j) d[j] = src[j * inner_stride];
          }
        }
      }
    });
    return;
  }

  const std::int64_t rows = total / inner;
  const std::size_t grain = static_cast<std::size_t>(std::max<std::int64_t>(1, 16384 / inner));
  parallel_ranges(pool, static_cast<std::size_t>(rows), grain, [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      const float* src = in + row_offset(g, rank, static_cast<std::int64_t>(r));
      float* dst = out + static_cast<std::int64_t>(r) * inner;
      if (inner_stride == 1) {
        std::memcpy(dst, src, static_cast<std::size_t>(inner) * sizeof(float));
      } else {
        for (std::int64_t j = 0; j < inner; ++j) dst[j] = src[j * inner_stride];
      }
    }
  });
}

void indexed_gather(const float* in, float* out, const std::vector<std::vector<std::int64_t>>& offsets,
                    pthreadpool_t pool) {
  const std::size_t rank = offsets.size();
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  std::int64_t total = 1;
  for (const auto& o : offsets) total *= static_cast<std::int64_t>(o.size());
  if (total == 0) return;
  const auto& last = offsets[rank - 1];
  const std::int64_t inner = static_cast<std::int64_t>(last.size());
  const std::int64_t rows = total / inner;
  parallel_ranges(pool, static_cast<std::size_t>(rows),
                  static_cast<std::size_t>(std::max<std::int64_t>(1, 16384 / inner)),
                  [&](std::size_t begin, std::size_t end) {
                    for (std::size_t r = begin; r < end; ++r) {
                      std::int64_t rem = static_cast<std::int64_t>(r), base = 0;
                      for (std::size_t d = rank - 1; d-- > 0;) {
                        const auto n = static_cast<std::int64_t>(offsets[d].size());
                        base += offsets[d][static_cast<std::size_t>(rem % n)];
                        rem /= n;
                      }
                      float* dst = out + static_cast<std::int64_t>(r) * inner;
                      const float* src = in + base;
                      for (std::int64_t j = 0; j < inner; ++j) dst[j] = src[last[static_cast<std::size_t>(j)]];
                    }
                  });
}

namespace {

// The matmul inner loops are built twice on x86-64 (AVX2+FMA and baseline) and picked
// at load time: the rest of the build targets the baseline ISA.
// GCC's -O2 cost model leaves these loops scalar; ask for its full vectorizer here.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define INFERCAST_MATMUL_CLONES \
  __attribute__((target_clones("arch=haswell", "default"), optimize("tree-vectorize", "vect-cost-model=dynamic")))
#elif defined(__x86_64__) && defined(__clang__)
#define INFERCAST_MATMUL_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define INFERCAST_MATMUL_CLONES
#endif

// c_r[0..n) += Σ_kk a_r[kk] · b[kk·n + j] for four rows at once: each row of b is loaded
// once for the four (restrict lets the compiler vectorize the inner loop).
INFERCAST_MATMUL_CLONES void rows4(float* __restrict c0, float* __restrict c1, float* __restrict c2,
                                   float* __restrict c3, const float* __restrict a0, const float* __restrict a1,
                                   const float* __restrict a2, const float* __restrict a3, const float* __restrict b,
                                   std::size_t k, std::size_t n) {
  for (std::size_t kk = 0; kk < k; ++kk) {
    const float x0 = a0[kk], x1 = a1[kk], x2 = a2[kk], x3 = a3[kk];
    const float* __restrict br = b + kk * n;
    for (std::size_t j = 0; j < n; ++j) {
      const float v = br[j];
      c0[j] += x0 * v;
      c1[j] += x1 * v;
      c2[j] += x2 * v;
      c3[j] += x3 * v;
    }
  }
}

INFERCAST_MATMUL_CLONES void rows1(float* __restrict c0, const float* __restrict a0, const float* __restrict b,
                                   std::size_t k, std::size_t n) {
  for (std::size_t kk = 0; kk < k; ++kk) {
    const float x0 = a0[kk];
    const float* __restrict br = b + kk * n;
    for (std::size_t j = 0; j < n; ++j) c0[j] += x0 * br[j];
  }
}

}  // namespace

void matmul(const float* a, const float* b, float* c, const MatMul& mm, pthreadpool_t pool) {
  const std::size_t batches = mm.a_offsets.size();
  const std::size_t rows = batches * mm.m;
  const std::size_t work = std::max<std::size_t>(1, mm.k * mm.n);
  parallel_ranges(pool, rows, std::max<std::size_t>(4, 65536 / work), [&](std::size_t begin, std::size_t end) {
    std::vector<float> a_rows(4 * mm.k);  // alpha · op(A) rows, contiguous
    std::vector<float> b_t;               // op(B) as [k, n] when B is transposed
    std::size_t b_t_batch = static_cast<std::size_t>(-1);
    std::size_t r = begin;
    while (r < end) {
      const std::size_t bi = r / mm.m, i = r % mm.m;
      const std::size_t group = std::min<std::size_t>({4, end - r, mm.m - i});  // rows of one batch
      const float* ab = a + mm.a_offsets[bi];
      const float* bk = b + mm.b_offsets[bi];
      if (mm.trans_b) {
        if (b_t_batch != bi) {
          b_t.resize(mm.k * mm.n);
          for (std::size_t j = 0; j < mm.n; ++j)
            for (std::size_t kk = 0; kk < mm.k; ++kk) b_t[kk * mm.n + j] = bk[j * mm.k + kk];
          b_t_batch = bi;
        }
        bk = b_t.data();
      }
      float* crow[4];
      const float* arow[4];
      for (std::size_t g = 0; g < 4; ++g) {
        const std::size_t row = i + std::min(g, group - 1);
        float* dst = a_rows.data() + g * mm.k;
        for (std::size_t kk = 0; kk < mm.k; ++kk) {
          dst[kk] = mm.alpha * (mm.trans_a ? ab[kk * mm.m + row] : ab[row * mm.k + kk]);
        }
        arow[g] = dst;
        crow[g] = c + (r + std::min(g, group - 1)) * mm.n;
      }
      for (std::size_t g = 0; g < group; ++g) {
        if (mm.bias != nullptr) {
          const float* brow = mm.bias + mm.bias_offsets[bi] + (i + g) * mm.bias_row;
          for (std::size_t j = 0; j < mm.n; ++j) crow[g][j] = mm.beta * brow[j * mm.bias_col];
        } else {
          std::fill(crow[g], crow[g] + mm.n, 0.0f);
        }
      }
      if (group == 4) {
        rows4(crow[0], crow[1], crow[2], crow[3], arow[0], arow[1], arow[2], arow[3], bk, mm.k, mm.n);
      } else {
        for (std::size_t g = 0; g < group; ++g) rows1(crow[g], arow[g], bk, mm.k, mm.n);
      }
      r += group;
    }
  });
}

void softmax(const float* in, float* out, std::size_t outer, std::size_t axis, std::size_t inner, float beta, bool log,
             pthreadpool_t pool) {
  const std::size_t lines = outer * inner;
  parallel_ranges(pool, lines, std::max<std::size_t>(1, 4096 / std::max<std::size_t>(axis, 1)),
                  [&](std::size_t begin, std::size_t end) {
                    for (std::size_t l = begin; l < end; ++l) {
                      const std::size_t o = l / inner, j = l % inner;
                      const float* x = in + o * axis * inner + j;
                      float* y = out + o * axis * inner + j;
                      float mx = -std::numeric_limits<float>::infinity();
                      for (std::size_t i = 0; i < axis; ++i) mx = std::max(mx, beta * x[i * inner]);
                      double sum = 0.0;
                      for (std::size_t i = 0; i < axis; ++i) sum += std::exp(beta * x[i * inner] - mx);
                      if (log) {
                        const float lse = static_cast<float>(std::log(sum));
                        for (std::size_t i = 0; i < axis; ++i) y[i * inner] = beta * x[i * inner] - mx - lse;
                      } else {
                        const float inv = static_cast<float>(1.0 / sum);
                        for (std::size_t i = 0; i < axis; ++i) y[i * inner] = std::exp(beta * x[i * inner] - mx) * inv;
                      }
                    }
                  });
}

void layer_norm(const float* in, float* out, std::size_t outer, std::size_t inner, const float* scale,
                std::size_t scale_size, const float* bias, std::size_t bias_size, float epsilon, float* mean,
                float* inv_std, pthreadpool_t pool) {
  parallel_ranges(pool, outer, std::max<std::size_t>(1, 8192 / std::max<std::size_t>(inner, 1)),
                  [&](std::size_t begin, std::size_t end) {
                    for (std::size_t r = begin; r < end; ++r) {
                      const float* x = in + r * inner;
                      float* y = out + r * inner;
                      double s = 0.0;
                      for (std::size_t i = 0; i < inner; ++i) s += x[i];
                      const double mu = s / static_cast<double>(inner);
                      double v = 0.0;
                      for (std::size_t i = 0; i < inner; ++i) v += (x[i] - mu) * (x[i] - mu);
                      const double var = v / static_cast<double>(inner);
                      const float inv = static_cast<float>(1.0 / std::sqrt(var + epsilon));
                      const float m = static_cast<float>(mu);
                      for (std::size_t i = 0; i < inner; ++i) {
                        const float g = scale != nullptr ? scale[scale_size == 1 ? 0 : i] : 1.0f;
                        const float b = bias != nullptr ? bias[bias_size == 1 ? 0 : i] : 0.0f;
                        y[i] = (x[i] - m) * inv * g + b;
                      }
                      if (mean != nullptr) mean[r] = m;
                      if (inv_std != nullptr) inv_std[r] = inv;
                    }
                  });
}

namespace {

float reduce_init(Reduce op) {
  switch (op) {
    case Reduce::kMax: return -std::numeric_limits<float>::infinity();
    case Reduce::kMin: return std::numeric_limits<float>::infinity();
    case Reduce::kProd: return 1.0f;
    default: return 0.0f;
  }
}

inline float reduce_step(Reduce op, float acc, float x) {
  switch (op) {
    case Reduce::kMax: return std::max(acc, x);
    case Reduce::kMin: return std::min(acc, x);
    case Reduce::kProd: return acc * x;
    case Reduce::kL1: return acc + std::fabs(x);
    case Reduce::kL2:
    case Reduce::kSumSquare: return acc + x * x;
    default: return acc + x;
  }
}

float reduce_finish(Reduce op, float acc, std::int64_t count) {
  switch (op) {
    case Reduce::kMean: return acc / static_cast<float>(count);
    case Reduce::kL2: return std::sqrt(acc);
    case Reduce::kLogSum: return std::log(acc);
    default: return acc;
  }
}

// One pass of `op` over [outer, r, inner] (reduce the middle), optional per-output shift
// subtracted before exp (log-sum-exp's second pass).
void reduce_middle(const float* in, float* out, std::int64_t outer, std::int64_t r, std::int64_t inner, Reduce op,
                   const float* shift, pthreadpool_t pool) {
  parallel_ranges(pool, static_cast<std::size_t>(outer),
                  static_cast<std::size_t>(std::max<std::int64_t>(1, 16384 / std::max<std::int64_t>(r * inner, 1))),
                  [&](std::size_t begin, std::size_t end) {
                    for (std::size_t o = begin; o < end; ++o) {
                      float* y = out + static_cast<std::int64_t>(o) * inner;
                      const float* x = in + static_cast<std::int64_t>(o) * r * inner;
                      const float* sh = shift != nullptr ? shift + static_cast<std::int64_t>(o) * inner : nullptr;
                      for (std::int64_t j = 0; j < inner; ++j) y[j] = shift != nullptr ? 0.0f : reduce_init(op);
                      for (std::int64_t i = 0; i < r; ++i) {
                        const float* xi = x + i * inner;
                        if (sh != nullptr) {
                          for (std::int64_t j = 0; j < inner; ++j) y[j] += std::exp(xi[j] - sh[j]);
                        } else {
                          for (std::int64_t j = 0; j < inner; ++j) y[j] = reduce_step(op, y[j], xi[j]);
                        }
                      }
                    }
                  });
}

}  // namespace

void reduce(const float* in, float* out, std::span<const std::int64_t> dims, const std::vector<bool>& axes, Reduce op,
            pthreadpool_t pool) {
  // Merge neighbouring axes with the same flag; drop extent-1 axes.
  std::vector<std::int64_t> d;
  std::vector<bool> f;
  std::int64_t count = 1, total = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    total *= dims[i];
    if (axes[i]) count *= dims[i];
    if (dims[i] == 1) continue;
    if (!d.empty() && f.back() == axes[i]) {
      d.back() *= dims[i];
    } else {
      d.push_back(dims[i]);
      f.push_back(axes[i]);
    }
  }
  const std::int64_t out_count = count ? total / count : 0;
  if (total == 0) {
    for (std::int64_t i = 0; i < out_count; ++i) out[i] = reduce_finish(op, reduce_init(op), 0);
    return;
  }
  // Pattern [outer?, reduced, inner?]: the fast path.
  auto run_middle = [&](std::int64_t outer, std::int64_t r, std::int64_t inner) {
    if (op == Reduce::kLogSumExp) {
      reduce_middle(in, out, outer, r, inner, Reduce::kMax, nullptr, pool);
      std::vector<float> mx(out, out + outer * inner);
      reduce_middle(in, out, outer, r, inner, Reduce::kSum, mx.data(), pool);
      for (std::int64_t i = 0; i < outer * inner; ++i) out[i] = std::log(out[i]) + mx[i];
      return;
    }
    reduce_middle(in, out, outer, r, inner, op, nullptr, pool);
    if (op == Reduce::kMean || op == Reduce::kL2 || op == Reduce::kLogSum) {
      for (std::int64_t i = 0; i < outer * inner; ++i) out[i] = reduce_finish(op, out[i], count);
    }
  };
  std::size_t reduced_groups = 0;
  for (bool b : f) reduced_groups += b ? 1 : 0;
  if (reduced_groups == 0) {
    // Nothing (or only extent-1 axes) reduced.
    for (std::int64_t i = 0; i < total; ++i) {
      out[i] = op == Reduce::kLogSumExp ? in[i] : reduce_finish(op, reduce_step(op, reduce_init(op), in[i]), 1);
    }
    return;
  }
  if (reduced_groups == 1) {
    std::int64_t outer = 1, r = 1, inner = 1;
    bool seen = false;
    for (std::size_t i = 0; i < d.size(); ++i) {
      if (f[i]) {
        r = d[i];
        seen = true;
      } else if (seen) {
        inner *= d[i];
      } else {
        outer *= d[i];
      }
    }
    run_middle(outer, r, inner);
    return;
  }
  // General case: transpose the reduced axes to the middle, then the fast path.
  std::vector<int> perm;
  std::int64_t kept = 1, r = 1;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (!f[i]) {
      perm.push_back(static_cast<int>(i));
      kept *= d[i];
    }
  }
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (f[i]) {
      perm.push_back(static_cast<int>(i));
      r *= d[i];
    }
  }
  std::vector<float> moved(static_cast<std::size_t>(total));
  gather(in, moved.data(), transpose_view(d, perm), pool);
  const float* saved = in;
  in = moved.data();
  run_middle(kept, r, 1);
  in = saved;
}

void resize_nhwc(const float* in, float* out, std::size_t n, std::size_t ih, std::size_t iw, std::size_t c,
                 const ResizeAxis& y, const ResizeAxis& x, bool linear, pthreadpool_t pool) {
  const std::size_t oh = y.i0.size(), ow = x.i0.size();
  parallel_ranges(pool, n * oh, 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t row = begin; row < end; ++row) {
      const std::size_t b = row / oh, oy = row % oh;
      const float* img = in + b * ih * iw * c;
      float* dst = out + row * ow * c;
      const float* r0 = img + static_cast<std::size_t>(y.i0[oy]) * iw * c;
      if (!linear) {
        for (std::size_t ox = 0; ox < ow; ++ox) {
          std::memcpy(dst + ox * c, r0 + static_cast<std::size_t>(x.i0[ox]) * c, c * sizeof(float));
        }
        continue;
      }
      const float* r1 = img + static_cast<std::size_t>(y.i1[oy]) * iw * c;
      const float wy = y.w[oy];
      for (std::size_t ox = 0; ox < ow; ++ox) {
        const float wx = x.w[ox];
        const float* p00 = r0 + static_cast<std::size_t>(x.i0[ox]) * c;
        const float* p01 = r0 + static_cast<std::size_t>(x.i1[ox]) * c;
        const float* p10 = r1 + static_cast<std::size_t>(x.i0[ox]) * c;
        const float* p11 = r1 + static_cast<std::size_t>(x.i1[ox]) * c;
        float* o = dst + ox * c;
        for (std::size_t k = 0; k < c; ++k) {
          const float top = p00[k] + (p01[k] - p00[k]) * wx;
          const float bottom = p10[k] + (p11[k] - p10[k]) * wx;
          o[k] = top + (bottom - top) * wy;
        }
      }
    }
  });
}

void channel_affine(const float* in, float* out, std::size_t rows, std::size_t channels, const float* scale,
                    const float* shift, float min, float max, pthreadpool_t pool) {
  parallel_ranges(pool, rows, std::max<std::size_t>(1, 16384 / std::max<std::size_t>(channels, 1)),
                  [&](std::size_t begin, std::size_t end) {
                    for (std::size_t r = begin; r < end; ++r) {
                      const float* x = in + r * channels;
                      float* y = out + r * channels;
                      for (std::size_t c = 0; c < channels; ++c) {
                        y[c] = std::min(std::max(x[c] * scale[c] + shift[c], min), max);
                      }
                    }
                  });
}

void lrn(const float* in, float* out, std::size_t rows, std::size_t channels, std::size_t size, float alpha, float beta,
         float bias, pthreadpool_t pool) {
  const std::int64_t lo = static_cast<std::int64_t>((size - 1) / 2), hi = static_cast<std::int64_t>(size / 2);
  const auto c = static_cast<std::int64_t>(channels);
  parallel_ranges(pool, rows, std::max<std::size_t>(1, 4096 / std::max<std::size_t>(channels, 1)),
                  [&](std::size_t begin, std::size_t end) {
                    for (std::size_t r = begin; r < end; ++r) {
                      const float* x = in + r * channels;
                      float* y = out + r * channels;
                      for (std::int64_t i = 0; i < c; ++i) {
                        float sum = 0.0f;
                        for (std::int64_t j = std::max<std::int64_t>(0, i - lo); j <= std::min(c - 1, i + hi); ++j) {
                          sum += x[j] * x[j];
                        }
                        y[i] = x[i] / std::pow(bias + alpha / static_cast<float>(size) * sum, beta);
                      }
                    }
                  });
}

void instance_norm(const float* in, float* out, std::size_t n, std::size_t spatial, std::size_t c, const float* scale,
                   const float* bias, float epsilon, pthreadpool_t pool) {
  parallel_ranges(pool, n * c, 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t l = begin; l < end; ++l) {
      const std::size_t b = l / c, ch = l % c;
      const float* x = in + b * spatial * c + ch;
      float* y = out + b * spatial * c + ch;
      double s = 0.0;
      for (std::size_t i = 0; i < spatial; ++i) s += x[i * c];
      const double mu = s / static_cast<double>(spatial);
      double v = 0.0;
      for (std::size_t i = 0; i < spatial; ++i) v += (x[i * c] - mu) * (x[i * c] - mu);
      const float inv = static_cast<float>(1.0 / std::sqrt(v / static_cast<double>(spatial) + epsilon));
      const float g = scale[ch] * inv, m = static_cast<float>(mu);
      for (std::size_t i = 0; i < spatial; ++i) y[i * c] = (x[i * c] - m) * g + bias[ch];
    }
  });
}

Broadcast broadcast(std::span<const std::int64_t> a_dims, std::span<const std::int64_t> b_dims,
                    std::span<const std::int64_t> out_dims) {
  Broadcast bc;
  const std::size_t rank = std::max<std::size_t>(out_dims.size(), 1);
  bc.dims.assign(rank, 1);
  for (std::size_t i = 0; i < out_dims.size(); ++i) bc.dims[rank - out_dims.size() + i] = out_dims[i];
  auto strides = [&](std::span<const std::int64_t> dims) {
    std::vector<std::int64_t> s(rank, 0);
    std::int64_t step = 1;
    for (std::size_t i = dims.size(); i-- > 0;) {
      const std::size_t o = rank - dims.size() + i;
      s[o] = dims[i] == 1 ? 0 : step;
      step *= dims[i];
    }
    return s;
  };
  bc.a_strides = strides(a_dims);
  bc.b_strides = strides(b_dims);
  return bc;
}

}  // namespace infercast::runtime::xnnpack::kernels
