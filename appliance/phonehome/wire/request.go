package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Request headers: which box sent which summary when, and its signature.
const (
	HeaderBox       = "X-Outpost-Box"
	HeaderSeq       = "X-Outpost-Seq"
	HeaderTime      = "X-Outpost-Time"
	HeaderSignature = "X-Outpost-Signature"
	HeaderIdem      = "Idempotency-Key"
)

// IdempotencyKey names one summary of one box.
func IdempotencyKey(box string, seq uint64) string { return box + "-" + strconv.FormatUint(seq, 10) }

// SignedBytes is what the box signs for a request: the box, the
// sequence number, the time and the SHA-256 of the body as sent.
func SignedBytes(box string, seq uint64, at string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte(fmt.Sprintf("outpost-phonehome/1\n%s\n%d\n%s\n%x", box, seq, at, sum))
}

// Sign sets the headers of a request carrying summary seq of box as
// body (gzip'd, as sent), signed at the time at (RFC 3339) with sign,
// the box's ed25519 key, over SignedBytes. The box signs every attempt
// anew, so the receiver can tell a retry from a replay.
func Sign(h http.Header, box string, seq uint64, at string, body []byte, sign func(msg []byte) []byte) {
	h.Set(HeaderBox, box)
	h.Set(HeaderSeq, strconv.FormatUint(seq, 10))
	h.Set(HeaderTime, at)
	h.Set(HeaderIdem, IdempotencyKey(box, seq))
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sign(SignedBytes(box, seq, at, body))))
}

// Verify checks a request's signature (the HeaderSignature value) with
// the box's registered key; the error says which part is wrong.
func Verify(pub ed25519.PublicKey, box string, seq uint64, at, sig string, body []byte) error {
	s, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(s) != ed25519.SignatureSize {
		return errors.New("signature header is not a base64 ed25519 signature")
	}
	if !ed25519.Verify(pub, SignedBytes(box, seq, at, body), s) {
		return errors.New("signature does not verify with the box's registered key")
	}
	return nil
}
