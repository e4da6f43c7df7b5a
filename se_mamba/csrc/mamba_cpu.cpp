// Fused CPU selective scan for se_mamba (forward and backward).
//
// Computes, per batch b and channel d (layout channels-last, [B, L, d]):
//   h_t[n] = exp(delta_t * A[d, n]) * h_{t-1}[n] + delta_t * u_t * B_t[n]
//   y_t    = sum_n h_t[n] * C_t[n] + D[d] * u_t
//   out_t  = y_t * silu(z_t)                       (when z is given)
// with delta = softplus(delta_raw + delta_bias) when asked: the recurrence of
// mamba-ssm's selective_scan_ref, with its arguments. Fusing the bias, the
// softplus, D and the gate saves four passes (and fresh allocations, which
// are slow on VMs) over [B, L, d] tensors in both directions.
//
// Why this shape:
//  * Work items are (batch, block of DB channels); the state of one item is
//    N * DB scalars and stays in L1 while we walk over time.
//  * The inner loops run over the DB channels of a block, contiguous in the
//    channels-last layout, so the compiler vectorises them (no gathers).
//  * exp() is our own polynomial so that it vectorises without -ffast-math
//    (which would also switch the whole process to flush-to-zero on load).
//  * The backward never stores the B*L*d*N state history: the forward sweep
//    keeps one state per chunk of K steps, and each chunk is recomputed (in
//    cache) just before the adjoint recurrence runs backwards through it.
//
// Headers: the ATen pieces used and torch's pybind11 casters, not
// <torch/extension.h>, whose C++ frontend (nn, optim, data) is unused here and
// took 55 of the 68 s that compiling this file took on 2 cores (34 s now):
// the build runs on every user's first use.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/utils/pybind.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "simd_math.h"

namespace {

using namespace se_mamba_simd;

constexpr int DB = 32;        // channels per work item (a multiple of the SIMD width)
constexpr int64_t KCHUNK = 16;  // steps recomputed together in the backward

// Pointers and sizes of one call, shared by forward and backward.
template <typename T>
struct ScanArgs {
  const T* u;      // [B, L, d]
  const T* delta;  // [B, L, d]
  const T* A;      // [d, N]
  const T* Bm;     // [B, L, N]
  const T* Cm;     // [B, L, N]
  const T* D;      // [d] or nullptr
  const T* z;      // [B, L, d] or nullptr
  const T* h0;     // [B, d, N] or nullptr
  const T* dbias;  // [d] or nullptr: added to delta before the softplus
  bool dsoftplus;
  int64_t Bsz, L, d, N;
};

template <typename T>
inline void load_row(const T* src, int nd, T* dst) {
  int dd = 0;
  for (; dd < nd; ++dd) dst[dd] = src[dd];
  for (; dd < DB; ++dd) dst[dd] = T(0);
}

// Rows of one block are d apart in memory, so the hardware prefetcher misses
// them: ask for a row ahead of time (here this took the forward from 0.39 s to
// 0.26 s on one thread at the time-pass shape). always_inline matters: GCC
// deems a function made only of __builtin_prefetch "pure" and deletes calls.
constexpr int64_t PREFETCH = 8;
template <typename T>
__attribute__((always_inline)) inline void prefetch_row(const T* base, int64_t row) {
  if (!base) return;
  for (int64_t off = 0; off < DB; off += 64 / static_cast<int64_t>(sizeof(T)))
    __builtin_prefetch(base + row + off);
}
template <typename T>
__attribute__((always_inline)) inline void prefetch_row_for_write(T* base, int64_t row) {
  if (!base) return;
  for (int64_t off = 0; off < DB; off += 64 / static_cast<int64_t>(sizeof(T)))
    __builtin_prefetch(base + row + off, 1);
}

// Local copy of one channel block: A transposed to [N][DB], D, zero padding
// in the lanes past the last channel so that padded lanes stay exactly 0.
template <typename T>
struct BlockConsts {
  std::vector<T> At;
  T Dv[DB];
  T bias[DB];
  int nd;
  bool sp;
  BlockConsts(const ScanArgs<T>& a, int64_t d0) : At(a.N * DB, T(0)), sp(a.dsoftplus) {
    nd = static_cast<int>(std::min<int64_t>(DB, a.d - d0));
    for (int dd = 0; dd < DB; ++dd) Dv[dd] = bias[dd] = T(0);
    for (int dd = 0; dd < nd; ++dd) {
      for (int64_t n = 0; n < a.N; ++n) At[n * DB + dd] = a.A[(d0 + dd) * a.N + n];
      Dv[dd] = a.D ? a.D[d0 + dd] : T(0);
      bias[dd] = a.dbias ? a.dbias[d0 + dd] : T(0);
    }
  }
  // delta of one step: bias added, softplus applied (padded lanes: harmless,
  // their u and A are 0 so their state stays 0).
  inline void load_delta(const T* src, T* dl) const {
    load_row(src, nd, dl);
    if (sp) {
#pragma omp simd
      for (int dd = 0; dd < DB; ++dd) dl[dd] = softplus(dl[dd] + bias[dd]);
    } else {
#pragma omp simd
      for (int dd = 0; dd < DB; ++dd) dl[dd] += bias[dd];
    }
  }
};

template <typename T>
inline void init_state(const ScanArgs<T>& a, int64_t b, int64_t d0, int nd, T* h) {
  std::fill(h, h + a.N * DB, T(0));
  if (!a.h0) return;
  for (int dd = 0; dd < nd; ++dd)
    for (int64_t n = 0; n < a.N; ++n) h[n * DB + dd] = a.h0[(b * a.d + d0 + dd) * a.N + n];
}

// One step of the state recurrence for a block, accumulating y.
template <typename T>
inline void step(const T* __restrict At, const T* __restrict dl, const T* __restrict du,
                 const T* __restrict Bt, const T* __restrict Ct, int64_t N,
                 T* __restrict h, T* __restrict y) {
  for (int64_t n = 0; n < N; ++n) {
    const T bn = Bt[n], cn = Ct[n];
    const T* __restrict an = At + n * DB;
    T* __restrict hn = h + n * DB;
#pragma omp simd
    for (int dd = 0; dd < DB; ++dd) {
      const T hv = exp_approx(dl[dd] * an[dd]) * hn[dd] + du[dd] * bn;
      hn[dd] = hv;
      y[dd] += hv * cn;
    }
  }
}

// Chunk-boundary states saved by the forward for the backward: one block of
// N * DB values per (batch, channel block, chunk), contiguous per work item.
inline int64_t n_chunks(int64_t L) { return (L + KCHUNK - 1) / KCHUNK; }

template <typename T>
void forward_item(const ScanArgs<T>& a, int64_t b, int64_t blk, T* out, T* last, T* ckpt) {
  const int64_t d0 = blk * DB;
  const BlockConsts<T> bc(a, d0);
  const int nd = bc.nd;
  const int64_t SZ = a.N * DB;
  const int64_t nblk = (a.d + DB - 1) / DB;
  T* ck = ckpt ? ckpt + (b * nblk + blk) * n_chunks(a.L) * SZ : nullptr;
  std::vector<T> h(SZ);
  init_state(a, b, d0, nd, h.data());
  alignas(64) T dl[DB], uu[DB], du[DB], y[DB], zz[DB];
  for (int64_t t = 0; t < a.L; ++t) {
    if (ck && t % KCHUNK == 0) std::copy(h.begin(), h.end(), ck + (t / KCHUNK) * SZ);
    const int64_t row = (b * a.L + t) * a.d + d0;
    if (t + PREFETCH < a.L) {
      prefetch_row(a.u, row + PREFETCH * a.d);
      prefetch_row(a.delta, row + PREFETCH * a.d);
      prefetch_row(a.z, row + PREFETCH * a.d);
    }
    bc.load_delta(a.delta + row, dl);
    load_row(a.u + row, nd, uu);
#pragma omp simd
    for (int dd = 0; dd < DB; ++dd) {
      du[dd] = dl[dd] * uu[dd];
      y[dd] = T(0);
    }
    const int64_t rn = (b * a.L + t) * a.N;
    step<T>(bc.At.data(), dl, du, a.Bm + rn, a.Cm + rn, a.N, h.data(), y);
#pragma omp simd
    for (int dd = 0; dd < DB; ++dd) y[dd] += bc.Dv[dd] * uu[dd];
    if (a.z) {  // gate, vectorised over the block (a scalar sigmoid here cost 50%)
      load_row(a.z + row, nd, zz);
#pragma omp simd
      for (int dd = 0; dd < DB; ++dd) y[dd] *= zz[dd] * sigmoid(zz[dd]);
    }
    std::copy(y, y + nd, out + row);
  }
  for (int dd = 0; dd < nd; ++dd)
    for (int64_t n = 0; n < a.N; ++n) last[(b * a.d + d0 + dd) * a.N + n] = h[n * DB + dd];
}

struct Grads {
  void* du;
  void* ddelta;
  void* dA_part;  // [B, d, N]  (summed over B by the caller)
  void* dB_part;  // [nblk, B, L, N]
  void* dC_part;  // [nblk, B, L, N]
  void* dD_part;  // [B, d]
  void* dz;       // [B, L, d] or nullptr
  void* dh0;      // [B, d, N]
  void* dbias_part;  // [B, d]
};

template <typename T>
void backward_item(const ScanArgs<T>& a, const T* dout, const T* ckpt_all, int64_t b,
                   int64_t blk, const Grads& g) {
  const int64_t d0 = blk * DB;
  const BlockConsts<T> bc(a, d0);
  const int nd = bc.nd;
  const int64_t N = a.N, L = a.L;
  const int64_t SZ = N * DB;
  const int64_t nchunk = n_chunks(L);
  const int64_t nblk = (a.d + DB - 1) / DB;
  const T* At = bc.At.data();
  const T* ckpt = ckpt_all + (b * nblk + blk) * nchunk * SZ;
  alignas(64) T dl[DB], uu[DB];

  // Adjoint recurrence, chunk by chunk from the end; each chunk's states and
  // decays are recomputed from its saved starting state.
  T* du_o = static_cast<T*>(g.du);
  T* ddl_o = static_cast<T*>(g.ddelta);
  T* dz_o = static_cast<T*>(g.dz);
  T* dB_o = static_cast<T*>(g.dB_part) + (blk * a.Bsz + b) * L * N;
  T* dC_o = static_cast<T*>(g.dC_part) + (blk * a.Bsz + b) * L * N;
  std::vector<T> hs((KCHUNK + 1) * SZ), as(KCHUNK * SZ);
  std::vector<T> mu(SZ, T(0)), dA_acc(SZ, T(0));
  alignas(64) T dD_acc[DB] = {};
  alignas(64) T dbias_acc[DB] = {};
  alignas(64) T gg[DB], y[DB], dua[DB], ddla[DB], zz[DB], dzr[DB], raw[DB];
  for (int64_t c = nchunk - 1; c >= 0; --c) {
    const int64_t t0 = c * KCHUNK, len = std::min(KCHUNK, L - t0);
    std::copy(ckpt + c * SZ, ckpt + (c + 1) * SZ, hs.begin());
    for (int64_t k = 0; k < len; ++k) {  // recompute states and decays of the chunk
      const int64_t t = t0 + k, row = (b * L + t) * a.d + d0;
      if (c > 0) {  // the next chunk processed is c - 1: fetch its rows meanwhile
        const int64_t prow = row - KCHUNK * a.d;
        prefetch_row(a.u, prow);
        prefetch_row(a.delta, prow);
        prefetch_row(a.z, prow);
        prefetch_row(dout, prow);
      }
      // this chunk's gradient rows are written by the adjoint pass just after
      prefetch_row_for_write(du_o, row);
      prefetch_row_for_write(ddl_o, row);
      prefetch_row_for_write(dz_o, row);
      bc.load_delta(a.delta + row, dl);
      load_row(a.u + row, nd, uu);
      const T* Bt = a.Bm + (b * L + t) * N;
      for (int64_t n = 0; n < N; ++n) {
        const T bn = Bt[n];
        const T* __restrict an = At + n * DB;
        const T* __restrict hp = hs.data() + k * SZ + n * DB;
        T* __restrict hn = hs.data() + (k + 1) * SZ + n * DB;
        T* __restrict av = as.data() + k * SZ + n * DB;
#pragma omp simd
        for (int dd = 0; dd < DB; ++dd) {
          const T e = exp_approx(dl[dd] * an[dd]);
          av[dd] = e;
          hn[dd] = e * hp[dd] + dl[dd] * uu[dd] * bn;
        }
      }
    }
    for (int64_t k = len - 1; k >= 0; --k) {
      const int64_t t = t0 + k, row = (b * L + t) * a.d + d0;
      bc.load_delta(a.delta + row, dl);
      load_row(a.u + row, nd, uu);
      load_row(dout + row, nd, gg);
      const T* Bt = a.Bm + (b * L + t) * N;
      const T* Ct = a.Cm + (b * L + t) * N;
      const T* hcur = hs.data() + (k + 1) * SZ;
      const T* hprev = hs.data() + k * SZ;
      const T* av = as.data() + k * SZ;
      if (a.z) {  // gate: out = y * silu(z); y is recomputed from the state
#pragma omp simd
        for (int dd = 0; dd < DB; ++dd) y[dd] = bc.Dv[dd] * uu[dd];
        for (int64_t n = 0; n < N; ++n) {
          const T cn = Ct[n];
#pragma omp simd
          for (int dd = 0; dd < DB; ++dd) y[dd] += hcur[n * DB + dd] * cn;
        }
        load_row(a.z + row, nd, zz);
#pragma omp simd
        for (int dd = 0; dd < DB; ++dd) {
          const T sg = sigmoid(zz[dd]);
          dzr[dd] = gg[dd] * y[dd] * sg * (T(1) + zz[dd] * (T(1) - sg));
          gg[dd] *= zz[dd] * sg;
        }
        std::copy(dzr, dzr + nd, dz_o + row);
      }
#pragma omp simd
      for (int dd = 0; dd < DB; ++dd) {
        dD_acc[dd] += gg[dd] * uu[dd];
        dua[dd] = gg[dd] * bc.Dv[dd];
        ddla[dd] = T(0);
      }
      for (int64_t n = 0; n < N; ++n) {
        const T bn = Bt[n], cn = Ct[n];
        const T* __restrict an = At + n * DB;
        T* __restrict mun = mu.data() + n * DB;
        T* __restrict dAn = dA_acc.data() + n * DB;
        const T* __restrict hc = hcur + n * DB;
        const T* __restrict hp = hprev + n * DB;
        const T* __restrict ae = av + n * DB;
        T sC = T(0), sB = T(0);
#pragma omp simd reduction(+ : sC, sB)
        for (int dd = 0; dd < DB; ++dd) {
          const T lam = gg[dd] * cn + mun[dd];  // dL/dh_t
          sC += gg[dd] * hc[dd];
          sB += lam * dl[dd] * uu[dd];
          dua[dd] += lam * dl[dd] * bn;
          const T q = lam * hp[dd] * ae[dd];  // dL/d(decay) * decay
          ddla[dd] += lam * uu[dd] * bn + q * an[dd];
          dAn[dd] += q * dl[dd];
          mun[dd] = ae[dd] * lam;  // carried to step t-1
        }
        dC_o[t * N + n] = sC;
        dB_o[t * N + n] = sB;
      }
      if (bc.sp) {  // chain rule through delta = softplus(raw + bias): d/draw = sigmoid
        load_row(a.delta + row, nd, raw);
#pragma omp simd
        for (int dd = 0; dd < DB; ++dd) ddla[dd] *= sigmoid(raw[dd] + bc.bias[dd]);
      }
#pragma omp simd
      for (int dd = 0; dd < DB; ++dd) dbias_acc[dd] += ddla[dd];  // padded lanes: 0
      std::copy(dua, dua + nd, du_o + row);
      std::copy(ddla, ddla + nd, ddl_o + row);
    }
  }
  T* dA_o = static_cast<T*>(g.dA_part);
  T* dD_o = static_cast<T*>(g.dD_part);
  T* dh0_o = static_cast<T*>(g.dh0);
  T* dbias_o = static_cast<T*>(g.dbias_part);
  for (int dd = 0; dd < nd; ++dd) {
    dD_o[b * a.d + d0 + dd] = dD_acc[dd];
    dbias_o[b * a.d + d0 + dd] = dbias_acc[dd];
    for (int64_t n = 0; n < N; ++n) {
      const int64_t o = (b * a.d + d0 + dd) * N + n;
      dA_o[o] = dA_acc[n * DB + dd];
      dh0_o[o] = mu[n * DB + dd];
    }
  }
}

void check_inputs(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                  const at::Tensor& Bm, const at::Tensor& Cm) {
  TORCH_CHECK(u.device().is_cpu(), "selective_scan_cpu: tensors must be on the CPU");
  TORCH_CHECK(u.dim() == 3 && delta.sizes() == u.sizes(),
              "selective_scan_cpu: u and delta must both be [B, L, d]");
  TORCH_CHECK(A.dim() == 2 && A.size(0) == u.size(2), "selective_scan_cpu: A must be [d, N]");
  TORCH_CHECK(Bm.dim() == 3 && Bm.size(0) == u.size(0) && Bm.size(1) == u.size(1) &&
                  Bm.size(2) == A.size(1),
              "selective_scan_cpu: B must be [B, L, N]");
  TORCH_CHECK(Cm.sizes() == Bm.sizes(), "selective_scan_cpu: C must be [B, L, N]");
  for (const auto* t : {&u, &delta, &A, &Bm, &Cm}) {
    TORCH_CHECK(t->is_contiguous(), "selective_scan_cpu: inputs must be contiguous");
    TORCH_CHECK(t->scalar_type() == u.scalar_type(), "selective_scan_cpu: dtypes must match");
  }
}

template <typename T>
ScanArgs<T> make_args(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                      const at::Tensor& Bm, const at::Tensor& Cm,
                      const std::optional<at::Tensor>& D, const std::optional<at::Tensor>& z,
                      const std::optional<at::Tensor>& dbias, bool dsoftplus,
                      const std::optional<at::Tensor>& h0) {
  ScanArgs<T> a;
  a.u = u.data_ptr<T>();
  a.delta = delta.data_ptr<T>();
  a.A = A.data_ptr<T>();
  a.Bm = Bm.data_ptr<T>();
  a.Cm = Cm.data_ptr<T>();
  a.D = D.has_value() ? D->data_ptr<T>() : nullptr;
  a.z = z.has_value() ? z->data_ptr<T>() : nullptr;
  a.h0 = h0.has_value() ? h0->data_ptr<T>() : nullptr;
  a.dbias = dbias.has_value() ? dbias->data_ptr<T>() : nullptr;
  a.dsoftplus = dsoftplus;
  a.Bsz = u.size(0);
  a.L = u.size(1);
  a.d = u.size(2);
  a.N = A.size(1);
  return a;
}

}  // namespace

std::vector<at::Tensor> scan_fwd(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                 const at::Tensor& Bm, const at::Tensor& Cm,
                                 const std::optional<at::Tensor>& D,
                                 const std::optional<at::Tensor>& z,
                                 const std::optional<at::Tensor>& dbias, bool dsoftplus,
                                 const std::optional<at::Tensor>& h0, bool save_ckpt) {
  check_inputs(u, delta, A, Bm, Cm);
  auto out = at::empty_like(u);
  auto last = at::empty({u.size(0), u.size(2), A.size(1)}, u.options());
  const int64_t nblk = (u.size(2) + DB - 1) / DB;
  auto ckpt = save_ckpt ? at::empty({u.size(0), nblk, n_chunks(u.size(1)), A.size(1) * DB}, u.options())
                        : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "se_mamba_scan_fwd", [&] {
    const auto a = make_args<scalar_t>(u, delta, A, Bm, Cm, D, z, dbias, dsoftplus, h0);
    scalar_t* o = out.data_ptr<scalar_t>();
    scalar_t* l = last.data_ptr<scalar_t>();
    scalar_t* ck = save_ckpt ? ckpt.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, a.Bsz * nblk, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) forward_item<scalar_t>(a, i / nblk, i % nblk, o, l, ck);
    });
  });
  return {out, last, ckpt};
}

std::vector<at::Tensor> scan_bwd(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                 const at::Tensor& Bm, const at::Tensor& Cm,
                                 const std::optional<at::Tensor>& D,
                                 const std::optional<at::Tensor>& z,
                                 const std::optional<at::Tensor>& dbias, bool dsoftplus,
                                 const std::optional<at::Tensor>& h0, const at::Tensor& ckpt,
                                 const at::Tensor& dout) {
  check_inputs(u, delta, A, Bm, Cm);
  TORCH_CHECK(dout.sizes() == u.sizes() && dout.is_contiguous(),
              "selective_scan_cpu: dout must be a contiguous [B, L, d]");
  const int64_t Bsz = u.size(0), L = u.size(1), d = u.size(2), N = A.size(1);
  const int64_t nblk = (d + DB - 1) / DB;
  TORCH_CHECK(ckpt.numel() == Bsz * nblk * n_chunks(L) * N * DB && ckpt.is_contiguous(),
              "selective_scan_cpu: checkpoints do not match the inputs");
  auto du = at::empty_like(u), ddelta = at::empty_like(u);
  auto dz = z.has_value() ? at::empty_like(u) : at::Tensor();
  auto dA_part = at::empty({Bsz, d, N}, u.options());
  auto dB_part = at::empty({nblk, Bsz, L, N}, u.options());
  auto dC_part = at::empty({nblk, Bsz, L, N}, u.options());
  auto dD_part = at::empty({Bsz, d}, u.options());
  auto dh0 = at::empty({Bsz, d, N}, u.options());
  auto dbias_part = at::empty({Bsz, d}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "se_mamba_scan_bwd", [&] {
    const auto a = make_args<scalar_t>(u, delta, A, Bm, Cm, D, z, dbias, dsoftplus, h0);
    Grads g{du.data_ptr(), ddelta.data_ptr(), dA_part.data_ptr(), dB_part.data_ptr(),
            dC_part.data_ptr(), dD_part.data_ptr(), z.has_value() ? dz.data_ptr() : nullptr,
            dh0.data_ptr(), dbias_part.data_ptr()};
    const scalar_t* go = dout.data_ptr<scalar_t>();
    const scalar_t* ck = ckpt.data_ptr<scalar_t>();
    at::parallel_for(0, Bsz * nblk, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) backward_item<scalar_t>(a, go, ck, i / nblk, i % nblk, g);
    });
  });
  return {du,      ddelta,          dA_part.sum(0), dB_part.sum(0), dC_part.sum(0),
          dD_part.sum(0), dz, dh0, dbias_part.sum(0)};
}

// ------------------------------------------------- causal conv + SiLU ----
// Mamba's depthwise causal convolution over time followed by SiLU, in the
// channels-last layout the scan uses:
//   pre_t[d] = bias[d] + sum_k w[d, k] * x_{t - (K-1) + k}[d],   y_t = silu(pre_t)
// where x_{-j} comes from ctx (the streaming state: the last K-1 inputs of
// the previous call) or is 0. PyTorch's conv1d wants [B, d, L]: the two
// transposes, the conv, the SiLU and their backward passes (a strided
// silu_backward among them) cost far more than this kernel (the profiles in
// docs/bench_train_step.md).
namespace {

template <typename T>
struct ConvArgs {
  const T* x;     // [B, L, d]
  const T* w;     // [d, K]
  const T* bias;  // [d] or nullptr
  const T* ctx;   // [B, K-1, d] or nullptr
  int64_t Bsz, L, d, K;
};

// Row `t` (may be negative: the context) of channel block d0 of batch b.
template <typename T>
inline void conv_src_row(const ConvArgs<T>& a, int64_t b, int64_t d0, int nd, int64_t t, T* dst) {
  if (t >= 0) {
    load_row(a.x + (b * a.L + t) * a.d + d0, nd, dst);
  } else if (a.ctx) {
    load_row(a.ctx + (b * (a.K - 1) + (a.K - 1 + t)) * a.d + d0, nd, dst);
  } else {
    std::fill(dst, dst + DB, T(0));
  }
}

template <typename T>
struct ConvConsts {
  std::vector<T> wt;  // [K][DB]
  T bias[DB];
  int nd;
  ConvConsts(const ConvArgs<T>& a, int64_t d0) : wt(a.K * DB, T(0)) {
    nd = static_cast<int>(std::min<int64_t>(DB, a.d - d0));
    for (int dd = 0; dd < DB; ++dd) bias[dd] = T(0);
    for (int dd = 0; dd < nd; ++dd) {
      for (int64_t k = 0; k < a.K; ++k) wt[k * DB + dd] = a.w[(d0 + dd) * a.K + k];
      bias[dd] = a.bias ? a.bias[d0 + dd] : T(0);
    }
  }
};

// pre-activations of one block for all t: [L][DB]
template <typename T>
void conv_pre(const ConvArgs<T>& a, const ConvConsts<T>& cc, int64_t b, int64_t d0, T* pre) {
  alignas(64) T row[DB];
  for (int64_t t = 0; t < a.L; ++t) {
    T* __restrict p = pre + t * DB;
#pragma omp simd
    for (int dd = 0; dd < DB; ++dd) p[dd] = cc.bias[dd];
    for (int64_t k = 0; k < a.K; ++k) {
      conv_src_row(a, b, d0, cc.nd, t - (a.K - 1) + k, row);
      const T* __restrict wk = cc.wt.data() + k * DB;
#pragma omp simd
      for (int dd = 0; dd < DB; ++dd) p[dd] += wk[dd] * row[dd];
    }
  }
}

// pre: scratch of L * DB values. The SiLU runs as one flat loop over the
// block: per-row loops of two vectors left the divisions of the sigmoid
// waiting on each other (2x slower, measured).
template <typename T>
void conv_silu_fwd_item(const ConvArgs<T>& a, int64_t b, int64_t d0, T* pre, T* yo) {
  const ConvConsts<T> cc(a, d0);
  conv_pre(a, cc, b, d0, pre);
  const int64_t n = a.L * DB;
  T* __restrict p = pre;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) p[i] *= sigmoid(p[i]);
  for (int64_t t = 0; t < a.L; ++t)
    std::copy(p + t * DB, p + t * DB + cc.nd, yo + (b * a.L + t) * a.d + d0);
}

// gp, gwa: scratch of L * DB and K * DB values
template <typename T>
void conv_silu_bwd_item(const ConvArgs<T>& a, const T* g, int64_t b, int64_t d0, T* gp, T* gwa,
                        T* gxo, T* gco, T* gwo, T* gbo) {
  const int64_t L = a.L, d = a.d, K = a.K;
  const ConvConsts<T> cc(a, d0);
  const int nd = cc.nd;
  alignas(64) T row[DB], gb[DB], acc[DB];
  conv_pre(a, cc, b, d0, gp);
  std::fill(gwa, gwa + K * DB, T(0));
  std::fill(gb, gb + DB, T(0));
  for (int64_t t = 0; t < L; ++t) {
    T* __restrict p = gp + t * DB;
    load_row(g + (b * L + t) * d + d0, nd, row);
#pragma omp simd
    for (int dd = 0; dd < DB; ++dd) {  // d silu(p)/dp = s (1 + p (1 - s))
      const T s = sigmoid(p[dd]);
      p[dd] = row[dd] * s * (T(1) + p[dd] * (T(1) - s));
      gb[dd] += p[dd];
    }
    for (int64_t k = 0; k < K; ++k) {
      conv_src_row(a, b, d0, nd, t - (K - 1) + k, row);
      T* __restrict gk = gwa + k * DB;
#pragma omp simd
      for (int dd = 0; dd < DB; ++dd) gk[dd] += p[dd] * row[dd];
    }
  }
  // input j feeds pre_t for t = j + (K-1) - k, k = 0..K-1 (t < L); j < 0 are
  // the context rows
  for (int64_t j = -(K - 1); j < L; ++j) {
    std::fill(acc, acc + DB, T(0));
    for (int64_t k = 0; k < K; ++k) {
      const int64_t t = j + (K - 1) - k;
      if (t < 0 || t >= L) continue;
      const T* __restrict wk = cc.wt.data() + k * DB;
      const T* __restrict p = gp + t * DB;
#pragma omp simd
      for (int dd = 0; dd < DB; ++dd) acc[dd] += wk[dd] * p[dd];
    }
    if (j >= 0)
      std::copy(acc, acc + nd, gxo + (b * L + j) * d + d0);
    else if (gco)
      std::copy(acc, acc + nd, gco + (b * (K - 1) + (K - 1 + j)) * d + d0);
  }
  for (int dd = 0; dd < nd; ++dd) {
    gbo[b * d + d0 + dd] = gb[dd];
    for (int64_t k = 0; k < K; ++k) gwo[(b * d + d0 + dd) * K + k] = gwa[k * DB + dd];
  }
}

}  // namespace

at::Tensor conv_silu_fwd(const at::Tensor& x, const at::Tensor& w,
                         const std::optional<at::Tensor>& bias,
                         const std::optional<at::Tensor>& ctx) {
  TORCH_CHECK(x.device().is_cpu() && x.dim() == 3 && x.is_contiguous(),
              "conv_silu: x must be a contiguous CPU [B, L, d]");
  TORCH_CHECK(w.dim() == 2 && w.size(0) == x.size(2) && w.is_contiguous() && w.scalar_type() == x.scalar_type(),
              "conv_silu: w must be a contiguous [d, K] of x's dtype");
  TORCH_CHECK(!bias.has_value() || (bias->numel() == x.size(2) && bias->is_contiguous() &&
                                    bias->scalar_type() == x.scalar_type()),
              "conv_silu: bias must be a contiguous [d] of x's dtype");
  const int64_t K = w.size(1);
  if (ctx.has_value())
    TORCH_CHECK(ctx->sizes() == at::IntArrayRef({x.size(0), K - 1, x.size(2)}) && ctx->is_contiguous() &&
                    ctx->scalar_type() == x.scalar_type(),
                "conv_silu: ctx must be a contiguous [B, K-1, d]");
  auto y = at::empty_like(x);
  const int64_t nblk = (x.size(2) + DB - 1) / DB;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "se_mamba_conv_silu_fwd", [&] {
    ConvArgs<scalar_t> a{x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                         bias.has_value() ? bias->data_ptr<scalar_t>() : nullptr,
                         ctx.has_value() ? ctx->data_ptr<scalar_t>() : nullptr,
                         x.size(0), x.size(1), x.size(2), K};
    scalar_t* yo = y.data_ptr<scalar_t>();
    at::parallel_for(0, a.Bsz * nblk, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> pre(a.L * DB);
      for (int64_t i = begin; i < end; ++i) {
        const int64_t b = i / nblk, d0 = (i % nblk) * DB;
        conv_silu_fwd_item<scalar_t>(a, b, d0, pre.data(), yo);
      }
    });
  });
  return y;
}

std::vector<at::Tensor> conv_silu_bwd(const at::Tensor& x, const at::Tensor& w,
                                      const std::optional<at::Tensor>& bias,
                                      const std::optional<at::Tensor>& ctx, const at::Tensor& gy) {
  TORCH_CHECK(gy.sizes() == x.sizes() && gy.is_contiguous() && gy.scalar_type() == x.scalar_type(),
              "conv_silu: gy must be a contiguous [B, L, d] of x's dtype");
  const int64_t Bsz = x.size(0), L = x.size(1), d = x.size(2), K = w.size(1);
  const int64_t nblk = (d + DB - 1) / DB;
  auto gx = at::empty_like(x);
  auto gctx = ctx.has_value() ? at::empty_like(*ctx) : at::Tensor();
  auto gw_part = at::zeros({Bsz, d, K}, x.options());
  auto gb_part = at::zeros({Bsz, d}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "se_mamba_conv_silu_bwd", [&] {
    using T = scalar_t;
    ConvArgs<T> a{x.data_ptr<T>(), w.data_ptr<T>(), bias.has_value() ? bias->data_ptr<T>() : nullptr,
                  ctx.has_value() ? ctx->data_ptr<T>() : nullptr, Bsz, L, d, K};
    const T* g = gy.data_ptr<T>();
    T* gxo = gx.data_ptr<T>();
    T* gco = ctx.has_value() ? gctx.data_ptr<T>() : nullptr;
    T* gwo = gw_part.data_ptr<T>();
    T* gbo = gb_part.data_ptr<T>();
    at::parallel_for(0, Bsz * nblk, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> gp(L * DB);  // dL/dpre for all t of the block
      std::vector<T> gwa(K * DB);
      for (int64_t i = begin; i < end; ++i) {
        const int64_t b = i / nblk, d0 = (i % nblk) * DB;
        conv_silu_bwd_item<T>(a, g, b, d0, gp.data(), gwa.data(), gxo, gco, gwo, gbo);
      }
    });
  });
  return {gx, gw_part.sum(0), gb_part.sum(0), gctx};
}

// attention_cpu.cpp
at::Tensor attention_fwd(const at::Tensor& qkv, int64_t heads, bool causal, double scale);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "se_mamba fused CPU kernels: selective scan, causal conv + SiLU, inference attention";
  m.def("scan_fwd", &scan_fwd, "selective scan forward (channels-last)");
  m.def("scan_bwd", &scan_bwd, "selective scan backward (channels-last)");
  m.def("conv_silu_fwd", &conv_silu_fwd, "depthwise causal conv1d + SiLU forward (channels-last)");
  m.def("conv_silu_bwd", &conv_silu_bwd, "depthwise causal conv1d + SiLU backward (channels-last)");
  m.def("attention_fwd", &attention_fwd, "multi-head attention for inference, [N, L, 3E] -> [N, L, E]");
}
