// Multi-head scaled dot-product attention on CPU, inference only, for the
// small heads of se_mamba's models (MambAttention: 8 heads of 8 channels;
// MP-SENet's Conformer: 4 of 16).
//
// Input: the in-projection's output as it comes, [N, L, 3 * H * Dh]
// (q, k, v of every head side by side, nn.MultiheadAttention's in_proj
// order). Output: [N, L, H * Dh], the heads side by side, which is what the
// out-projection reads. Per query i of sequence n and head h:
//   s_j = scale * q_i . k_j,  p = softmax_j(s),  o_i = sum_j p_j v_j
// over j <= i when causal (PyTorch's is_causal, top-left aligned).
//
// Why not PyTorch's flash kernel: at 8-channel heads its blocked products have
// an inner dimension of 8, and its per-block bookkeeping (online rescaling,
// small GEMM calls) cost more than the arithmetic: in one 2 s MambAttention
// call it ran at about 8 GFLOP/s, a quarter of the call (docs/performance.md).
// Here one work item is one (sequence, head): its keys and values are
// transposed once into [Dh, L] (a few KB, in L1/L2), and each query's scores
// are a plain vectorised loop over keys, exp and sum over keys, and Dh dot
// products over keys. A whole score row (L values) is kept, so the softmax
// needs no rescaling.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <cstdint>
#include <vector>

#include "simd_math.h"

namespace {

using se_mamba_simd::exp_approx;

// Lanes per block of keys: one 512-bit vector of float (two of double); the
// accumulators of a block stay in registers.
constexpr int64_t W = 16;

// DH > 0: the head size known at compile time (the inner loops unroll and
// the accumulators stay in registers); DH == 0: any head size up to MAX_HEAD,
// from dh.
constexpr int64_t MAX_HEAD = 64;
template <typename T, int64_t DH>
void attend_item(const T* qkv, T* out, int64_t L, int64_t H, int64_t dh, bool causal, T scale,
                 int64_t n, int64_t h, T* kt, T* vt, T* s) {
  constexpr int64_t CAP = DH > 0 ? DH : MAX_HEAD;
  const int64_t Dh = DH > 0 ? DH : dh;
  const int64_t E = H * Dh, row = 3 * E;
  const int64_t Lp = (L + W - 1) / W * W;  // rows of kt/vt padded to whole blocks
  const T* base = qkv + n * L * row + h * Dh;
  // keys and values in blocks of W: block b holds [Dh][W], contiguous, so a
  // pass over keys reads memory in order
  for (int64_t j = 0; j < L; ++j) {
    const T* kj = base + j * row + E;
    const T* vj = kj + E;
    T* kb = kt + (j / W) * Dh * W + j % W;
    T* vb = vt + (j / W) * Dh * W + j % W;
    for (int64_t d = 0; d < Dh; ++d) {
      kb[d * W] = kj[d];
      vb[d * W] = vj[d];
    }
  }
  for (int64_t j = L; j < Lp; ++j)
    for (int64_t d = 0; d < Dh; ++d)
      kt[(j / W) * Dh * W + d * W + j % W] = vt[(j / W) * Dh * W + d * W + j % W] = T(0);
  T q[CAP];
  for (int64_t i = 0; i < L; ++i) {
    const T* qi = base + i * row;
    for (int64_t d = 0; d < Dh; ++d) q[d] = qi[d] * scale;
    const int64_t lc = causal ? i + 1 : L;
    const int64_t lb = (lc + W - 1) / W * W;  // whole blocks; lanes past lc are masked below
    // pass 1: the scores of this query and their maximum
    T mv[W];
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) mv[w] = T(-1e30);
    for (int64_t j0 = 0; j0 < lb; j0 += W) {
      T sc[W];
#pragma omp simd
      for (int64_t w = 0; w < W; ++w) sc[w] = T(0);
      for (int64_t d = 0; d < Dh; ++d) {
        const T qd = q[d];
        const T* __restrict kd = kt + j0 * Dh + d * W;
#pragma omp simd
        for (int64_t w = 0; w < W; ++w) sc[w] += qd * kd[w];
      }
#pragma omp simd
      for (int64_t w = 0; w < W; ++w) {
        s[j0 + w] = sc[w];
        mv[w] = (j0 + w < lc && sc[w] > mv[w]) ? sc[w] : mv[w];
      }
    }
    T m = mv[0];
    for (int64_t w = 1; w < W; ++w) m = mv[w] > m ? mv[w] : m;
    // pass 2: exp, their sum and the weighted values, block by block in registers
    T acc[CAP][W], sv[W];
    for (int64_t d = 0; d < Dh; ++d)
#pragma omp simd
      for (int64_t w = 0; w < W; ++w) acc[d][w] = T(0);
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) sv[w] = T(0);
    for (int64_t j0 = 0; j0 < lb; j0 += W) {
      T p[W];
#pragma omp simd
      for (int64_t w = 0; w < W; ++w) {
        // <= 0 in, (0, 1] out (the largest is 1); masked lanes: 0
        p[w] = j0 + w < lc ? exp_approx(s[j0 + w] - m) : T(0);
        sv[w] += p[w];
      }
      for (int64_t d = 0; d < Dh; ++d) {
        const T* __restrict vd = vt + j0 * Dh + d * W;
#pragma omp simd
        for (int64_t w = 0; w < W; ++w) acc[d][w] += p[w] * vd[w];
      }
    }
    T sum = T(0);
    for (int64_t w = 0; w < W; ++w) sum += sv[w];
    const T inv = T(1) / sum;
    T* o = out + (n * L + i) * E + h * Dh;
    for (int64_t d = 0; d < Dh; ++d) {
      T t = T(0);
      for (int64_t w = 0; w < W; ++w) t += acc[d][w];
      o[d] = t * inv;
    }
  }
}

}  // namespace

at::Tensor attention_fwd(const at::Tensor& qkv, int64_t heads, bool causal, double scale) {
  TORCH_CHECK(qkv.device().is_cpu() && qkv.dim() == 3 && qkv.is_contiguous(),
              "attention_cpu: qkv must be a contiguous CPU tensor [N, L, 3 * E]");
  const int64_t N = qkv.size(0), L = qkv.size(1);
  TORCH_CHECK(heads > 0 && qkv.size(2) % (3 * heads) == 0,
              "attention_cpu: the last size of qkv must be 3 * heads * head_dim");
  const int64_t Dh = qkv.size(2) / (3 * heads);
  TORCH_CHECK(Dh <= MAX_HEAD, "attention_cpu: heads of at most ", MAX_HEAD, " channels, got ", Dh);
  auto out = at::empty({N, L, heads * Dh}, qkv.options());
  if (N == 0 || L == 0 || Dh == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "se_mamba_attention_fwd", [&] {
    const scalar_t* src = qkv.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    const auto sc = static_cast<scalar_t>(scale);
    const int64_t Lp = (L + W - 1) / W * W;
    at::parallel_for(0, N * heads, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> buf(2 * Dh * Lp + Lp);  // kt, vt, one row of scores
      scalar_t *kt = buf.data(), *vt = kt + Dh * Lp, *s = vt + Dh * Lp;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t n = item / heads, h = item % heads;
        if (Dh == 8)  // MambAttention's heads
          attend_item<scalar_t, 8>(src, dst, L, heads, Dh, causal, sc, n, h, kt, vt, s);
        else
          attend_item<scalar_t, 0>(src, dst, L, heads, Dh, causal, sc, n, h, kt, vt, s);
      }
    });
  });
  return out;
}
