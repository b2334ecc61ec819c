// Copyright 2026 The lapsebox Authors. Derived from Go's image/jpeg, whose
// BSD-style license is in Go's LICENSE file.

package jpegscale

import "math"

// The reduced inverse DCT. Decoding a block to an n×n square (n = 8/denom)
// with each output the mean of the denom×denom pixels it stands for is, per
// axis, a linear map from the 8 coefficients to n values:
//
//	out[m] = Σ_k F[k] · ½C(k) · (1/denom) Σ_{j<denom} cos((2(denom·m+j)+1)kπ/16)
//
// with C(0) = 1/√2 and C(k) = 1 otherwise; the 2-D transform is that map on
// the rows and then on the columns. This is an exact box filter of the
// full-size IDCT (clipping apart), so aliasing is no worse than averaging
// the full decode, and it costs 8+n small matrix products per block instead
// of a full 8×8 IDCT. Coefficient 4 drops out (its cosines cancel), as in
// libjpeg's jidctred.c, which reaches the same 4×4 and 2×2 outputs with a
// factored rather than a matrix form.
//
// Outputs are mirror images per axis: the weights of out[n-1-m] are those
// of out[m] times (-1)^k, so each pair costs one even and one odd sum.

// scaledBits is the fixed-point precision of the weights. The sums are in
// int64, so no input, however corrupt, overflows them.
const scaledBits = 13

// scaledWeights[n] holds, for n = 4 and 2, the weights of out[m] for m < n/2,
// scaled by 1<<scaledBits.
var scaledWeights = func() (w [5][2][8]int64) {
	for _, n := range []int{4, 2} {
		denom := 8 / n
		for m := 0; m < n/2; m++ {
			for k := 0; k < 8; k++ {
				ck := 1.0
				if k == 0 {
					ck = 1 / math.Sqrt2
				}
				var s float64
				for j := 0; j < denom; j++ {
					s += math.Cos(float64(2*(denom*m+j)+1) * float64(k) * math.Pi / 16)
				}
				w[n][m][k] = int64(math.Round(0.5 * ck * s / float64(denom) * (1 << scaledBits)))
			}
		}
	}
	return w
}()

// idctScaled transforms the dequantized coefficients in b (natural order)
// into an n×n square of level-shifted samples, stored row by row in b[:n*n]
// (n = 4, 2 or 1).
func idctScaled(b *block, n int) {
	if n == 1 {
		// The DC term alone: the mean of the block, rounded as idct does.
		b[0] = (b[0] + 4) >> 3
		return
	}
	wt := &scaledWeights[n]
	var tmp [8][4]int64
	for v := range 8 {
		f := b[8*v : 8*v+8 : 8*v+8]
		if f[1]|f[2]|f[3]|f[4]|f[5]|f[6]|f[7] == 0 {
			// Common in photos: a row with its DC term only is flat.
			t := wt[0][0] * int64(f[0])
			for x := range n {
				tmp[v][x] = t
			}
			continue
		}
		for m := 0; m < n/2; m++ {
			w := &wt[m]
			e := w[0]*int64(f[0]) + w[2]*int64(f[2]) + w[4]*int64(f[4]) + w[6]*int64(f[6])
			o := w[1]*int64(f[1]) + w[3]*int64(f[3]) + w[5]*int64(f[5]) + w[7]*int64(f[7])
			tmp[v][m], tmp[v][n-1-m] = e+o, e-o
		}
	}
	const round = 1 << (2*scaledBits - 1)
	for x := range n {
		for m := 0; m < n/2; m++ {
			w := &wt[m]
			e := w[0]*tmp[0][x] + w[2]*tmp[2][x] + w[4]*tmp[4][x] + w[6]*tmp[6][x]
			o := w[1]*tmp[1][x] + w[3]*tmp[3][x] + w[5]*tmp[5][x] + w[7]*tmp[7][x]
			b[m*n+x] = int32((e + o + round) >> (2 * scaledBits))
			b[(n-1-m)*n+x] = int32((e - o + round) >> (2 * scaledBits))
		}
	}
}

// storeScaled level-shifts the n×n samples in b by +128, clips them to
// [0, 255] and writes them to dst, as reconstructBlock does for 8×8.
func storeScaled(dst []byte, stride int, b *block, n int) {
	for y := range n {
		row := dst[y*stride : y*stride+n]
		for x := range row {
			c := b[y*n+x]
			if c < -128 {
				c = 0
			} else if c > 127 {
				c = 255
			} else {
				c += 128
			}
			row[x] = uint8(c)
		}
	}
}
