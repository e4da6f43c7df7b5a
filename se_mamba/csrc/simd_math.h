// Vectorisable elementary functions shared by se_mamba's CPU kernels
// (mamba_cpu.cpp: the scan and the convolution + SiLU; attention_cpu.cpp).
// Plain float/int arithmetic that GCC vectorises at -O3 with any x86-64/ARM
// ISA, without -ffast-math (which would also switch the whole process to
// flush-to-zero on load).
#pragma once

#include <cstdint>
#include <cstring>

namespace se_mamba_simd {

// ---------------------------------------------------------------- exp ----
// Round-to-nearest through the "magic number" trick keeps everything in plain
// float/int arithmetic, which GCC vectorises at -O3 with any x86-64/ARM ISA.
inline float exp_approx(float x) {
  // Clamp with plain ternaries (they compile to vmaxps/vminps; std::min/max
  // compile to compare+blend). At x <= -127 ln2 the exponent field below
  // becomes 0, so exp underflows to exactly 0.0f (no denormal, no select).
  // Above 127.49 ln2 it saturates at ~2.4e38 (the scan only sees delta*A <= 0;
  // the gate only needs 1 / (1 + exp(-z)) -> 0).
  float xc = x > -88.0296919f ? x : -88.0296919f;
  xc = xc < 88.37f ? xc : 88.37f;
  const float t = xc * 1.44269504088896341f + 12582912.0f;  // 1.5 * 2^23
  const float k = t - 12582912.0f;
  int32_t ti;
  std::memcpy(&ti, &t, sizeof(ti));
  const float r = (xc - k * 0.693359375f) - k * (-2.12194440e-4f);
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t si = (ti - 0x4B400000 + 127) << 23;
  float s;
  std::memcpy(&s, &si, sizeof(s));
  return p * s;
}

inline double exp_approx(double x) {
  double xc = x > -709.0896 ? x : -709.0896;  // -1023 ln2 -> exactly 0.0
  xc = xc < 709.43 ? xc : 709.43;              // k <= 1023: saturates, no inf
  const double t = xc * 1.4426950408889634 + 6755399441055744.0;  // 1.5 * 2^52
  const double k = t - 6755399441055744.0;
  int64_t ti;
  std::memcpy(&ti, &t, sizeof(ti));
  const double r = (xc - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
  // Taylor series to degree 13 on |r| <= ln2/2: truncation error < 1e-17.
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const int64_t si = (ti - 0x4338000000000000LL + 1023) << 52;
  double s;
  std::memcpy(&s, &si, sizeof(s));
  return p * s;
}

// 1 / y for y >= 1 without a division: vdivps was the bottleneck of every
// loop with a sigmoid (perf annotate: most of the causal conv's forward sat
// on vdivps). A bit-trick seed (relative error < 1/8) and three Newton
// steps r <- r (2 - y r) reach float precision (within 2 ulp, tests/test_causal_conv.py). y is capped
// at 1e30 so that 1/y stays a normal float: sigmoid(x) for x < -69 is 1e-30
// instead of something smaller.
inline float recip_ge1(float y) {
  y = y < 1e30f ? y : 1e30f;
  int32_t i;
  std::memcpy(&i, &y, sizeof(i));
  i = 0x7EF311C7 - i;
  float r;
  std::memcpy(&r, &i, sizeof(r));
  r = r * (2.0f - y * r);
  r = r * (2.0f - y * r);
  r = r * (2.0f - y * r);
  return r;
}
inline double recip_ge1(double y) { return 1.0 / y; }

template <typename T>
inline T sigmoid(T x) {
  return recip_ge1(T(1) + exp_approx(-x));
}

// softplus(x) = max(x, 0) + log1p(exp(-|x|)). The log1p argument w lies in
// (0, 1], so log1p(w) = 2 atanh(s) with s = w / (2 + w) <= 1/3 converges fast
// as a plain polynomial in s^2 (vectorisable): 9 terms reach float precision,
// 18 double precision.
template <typename T>
struct Log1pTerms;
template <>
struct Log1pTerms<float> { static constexpr int value = 9; };
template <>
struct Log1pTerms<double> { static constexpr int value = 18; };

template <typename T>
inline T softplus(T x) {
  const T ax = x < T(0) ? -x : x;
  const T w = exp_approx(-ax);
  const T s = w * recip_ge1(T(2) + w);
  const T s2 = s * s;
  T p = T(1) / T(2 * Log1pTerms<T>::value + 1);
  for (int k = Log1pTerms<T>::value - 1; k >= 0; --k) p = p * s2 + T(1) / T(2 * k + 1);
  return (x > T(0) ? x : T(0)) + T(2) * s * p;
}

}  // namespace se_mamba_simd
