/*
 * What the tile tests share: the single-op harness, the plain-C definition of
 * the int8 TDPs, bf16 operand helpers and a looped int8 tile GEMM.
 *
 * tile_test_kit.c is compiled into each tile test program with that
 * program's flags, so the tile operations in it are the real instructions in
 * the hardware build (amx_args) and the emulator in the `_emu`/`_san` builds
 * (AMXQ_TILE_EMULATOR). Expected values come from plain C written straight
 * from the instruction definitions, never from the emulator.
 */
#ifndef AMXQ_TILE_TEST_KIT_H
#define AMXQ_TILE_TEST_KIT_H

#include <stddef.h>
#include <stdint.h>

/* Tiles of the single-op tests. */
#define TC 0
#define TA 1
#define TB 2

/* The TDP flavours: the int8 ones by signedness of A then B, and bf16. */
enum { SS, SU, US, UU, N_KINDS, BF16 = N_KINDS };
extern const char *const k_kind_name[N_KINDS + 1];

/* TDP of `kind` on C = TC, A = TA, B = TB. */
void kit_dp_kind(int kind);

/* One AMX region with one TDP: C (m x n dwords) loaded from c, += A (m x kb
 * bytes) . B (kb/4 rows x n dwords) by `kind`, stored to out. Strides in
 * bytes; A may be loaded with the streaming hint. */
void kit_one_dp(int kind, int m, int n, int kb, const void *c, int ldc, const void *a, int lda,
                int stream_a, const void *b, int ldb, void *out, int ldo);

/* 64-byte aligned, aborts on failure; random bytes. */
void *kit_alloc(size_t n);
void kit_fill(uint8_t *p, size_t n);

/* The definition, literally: C.dword[m][n] += sum_i ext(A[m][4k+i]) ext(B[k][4n+i]),
 * wrapping (done in uint32). A, B are byte matrices with row strides; C int32. */
void kit_ref_dp_int8(int kind, int M, int N, int kbytes, const uint8_t *A, int lda, const uint8_t *B,
                     int ldb, int32_t *C, int ldc);

/* bf16 operands: the bit pattern of a float that is exactly a bf16 value
 * (aborts otherwise), and one 1x1 TDPBF16PS of c0 + sum over k < K2 of the
 * pairs (a[2k], a[2k+1]) . (b[2k], b[2k+1]), returning C's bits. */
uint16_t kit_to_bf16_exact(float f);
uint32_t kit_bf16_dp_bits(uint32_t c0, const uint16_t *a, const uint16_t *b, int K2);
uint32_t kit_bf16_dp(float c0, const float *a, const float *b, int K2);

/* B (K x N int8, element (k, n) at b[k * ldb + n]) packed for tiles: panel p
 * (16 columns) holds K/4 VNNI rows of 64 bytes, row r at (p * K/4 + r) * 64,
 * byte 4j + i = B(4r + i, 16p + j); columns >= N are zero. Free with free(). */
uint8_t *kit_pack_b_vnni(const int8_t *b, int ldb, int K, int N);

/* C (M x N int32, row stride ldc) += A (M x K int8, row stride lda) . B
 * (packed by kit_pack_b_vnni); K a multiple of 4. One AMX region with the
 * 2-2-4 blocking kernels use, partial edge blocks and a K-tail config. */
void kit_tile_gemm_s8(int M, int N, int K, const int8_t *A, int lda, const uint8_t *bp, int32_t *C,
                      int ldc);

#endif
