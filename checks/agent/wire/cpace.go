package wire

import (
	"crypto/ecdh"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519/field"
)

// CPace (draft-irtf-cfrg-cpace, suite CPACE-X25519-SHA512) is the
// password-authenticated key exchange pairing runs over the pair code:
// each side sends one X25519 share computed on a generator derived from
// the code, so a captured exchange gives nothing to test code guesses
// against offline, and an active impostor gets one guess per exchange.
// The functions below follow the draft's definitions and are checked
// against its test vectors (cpace_test.go).

// cpaceDSI is G_X25519.DSI.
const cpaceDSI = "CPace255"

// sha512BlockSize is H.s_in_bytes for SHA-512.
const sha512BlockSize = 128

// prependLen is the draft's prepend_len: the LEB128 length, then data.
func prependLen(data []byte) []byte {
	n := len(data)
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, data...)
}

// prefixFreeCat is the draft's prefix_free_cat.
func prefixFreeCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, prependLen(p)...)
	}
	return out
}

// splitPrefixFree parses a prefix_free_cat of exactly n fields; any
// other shape (a length running past the end, bytes left over, an
// overlong LEB128) is an error, as the draft requires.
func splitPrefixFree(msg []byte, n int) ([][]byte, error) {
	var out [][]byte
	for len(out) < n {
		l, shift, i := 0, 0, 0
		for {
			if i >= len(msg) || shift > 21 {
				return nil, errors.New("malformed length")
			}
			b := msg[i]
			l |= int(b&0x7f) << shift
			i++
			if b&0x80 == 0 {
				break
			}
			shift += 7
		}
		if l > len(msg)-i {
			return nil, errors.New("length past the end of the message")
		}
		out = append(out, msg[i:i+l])
		msg = msg[i+l:]
	}
	if len(msg) != 0 {
		return nil, errors.New("bytes after the last field")
	}
	return out, nil
}

// generatorString is the draft's generator_string: DSI and PRS padded to
// fill the hash's first block, then CI and sid.
func generatorString(dsi, prs, ci, sid []byte, blockSize int) []byte {
	zpad := max(0, blockSize-1-len(prependLen(prs))-len(prependLen(dsi)))
	return prefixFreeCat(dsi, prs, make([]byte, zpad), ci, sid)
}

// curve25519A is the Montgomery curve parameter A = 486662.
var curve25519A = new(field.Element).Mult32(new(field.Element).One(), 486662)

// elligator2 maps a field element to the u-coordinate of a point on
// Curve25519 (hash-to-curve's map_to_curve_elligator2 with Z = 2, the v
// coordinate dropped), in constant time: the input derives from the
// pair code.
func elligator2(r *field.Element) []byte {
	one := new(field.Element).One()
	// v = -A / (1 + 2 r^2); 1 + 2 r^2 is never 0 since -1/2 is not a
	// square modulo 2^255-19.
	d := new(field.Element).Square(r)
	d.Add(d, d)
	d.Add(d, one)
	v := new(field.Element).Invert(d)
	v.Multiply(v, curve25519A)
	v.Negate(v)
	// gx = v^3 + A v^2 + v = v (v (v + A) + 1)
	gx := new(field.Element).Add(v, curve25519A)
	gx.Multiply(gx, v)
	gx.Add(gx, one)
	gx.Multiply(gx, v)
	_, square := new(field.Element).SqrtRatio(gx, one)
	// x = v when gx is a square, else -v - A.
	other := new(field.Element).Add(v, curve25519A)
	other.Negate(other)
	return new(field.Element).Select(v, other, square).Bytes()
}

// cpaceGenerator is G_X25519.calculate_generator(SHA-512, PRS, CI, sid).
func cpaceGenerator(prs, ci, sid []byte) []byte {
	h := sha512.Sum512(generatorString([]byte(cpaceDSI), prs, ci, sid, sha512BlockSize))
	// decodeUCoordinate: 32 bytes, little-endian, bit 255 ignored
	// (SetBytes ignores it).
	u, err := new(field.Element).SetBytes(h[:32])
	if err != nil {
		panic(err) // 32 bytes always decode
	}
	return elligator2(u)
}

// errCPaceInvalid is the abort case: a peer share that is a low-order
// point (or not 32 bytes) makes the shared point the neutral element.
var errCPaceInvalid = errors.New("the peer's key share is invalid")

// cpaceMult is G_X25519.scalar_mult_vfy(y, point): X25519, failing on the
// neutral element.
func cpaceMult(y, point []byte) ([]byte, error) {
	priv, err := ecdh.X25519().NewPrivateKey(y)
	if err != nil {
		return nil, fmt.Errorf("cpace scalar: %w", err)
	}
	pub, err := ecdh.X25519().NewPublicKey(point)
	if err != nil {
		return nil, errCPaceInvalid
	}
	k, err := priv.ECDH(pub)
	if err != nil {
		return nil, errCPaceInvalid // all-zero result: a low-order point
	}
	return k, nil
}

// cpace is one party's state in one exchange.
type cpace struct {
	y, share, sid []byte
}

// newCPace samples a scalar (from rnd: crypto/rand outside tests) and
// computes this side's share on the generator for prs, ci and sid.
func newCPace(rnd io.Reader, prs, ci, sid []byte) (*cpace, error) {
	y := make([]byte, 32)
	if _, err := io.ReadFull(rnd, y); err != nil {
		return nil, err
	}
	share, err := cpaceMult(y, cpaceGenerator(prs, ci, sid))
	if err != nil {
		return nil, err
	}
	return &cpace{y: y, share: share, sid: sid}, nil
}

// isk derives the intermediate session key from the peer's share, in the
// initiator-responder order (msgA is the initiator's message, sent
// first): ISK = SHA-512(prefix_free_cat(DSI_ISK, sid, K) || MSGa || MSGb).
func (c *cpace) isk(peerShare, msgA, msgB []byte) ([]byte, error) {
	k, err := cpaceMult(c.y, peerShare)
	if err != nil {
		return nil, err
	}
	h := sha512.New()
	h.Write(prefixFreeCat([]byte(cpaceDSI+"_ISK"), c.sid, k))
	h.Write(msgA)
	h.Write(msgB)
	return h.Sum(nil), nil
}
