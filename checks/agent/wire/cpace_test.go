package wire

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// The test vectors of draft-irtf-cfrg-cpace, appendix "Test vector for
// CPace using group X25519 and hash SHA-512".

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPrefixFreeEncoding(t *testing.T) {
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{nil, "00"},
		{[]byte("1234"), "0431323334"},
		{seq(127), "7f" + hex.EncodeToString(seq(127))},
		{seq(128), "8001" + hex.EncodeToString(seq(128))},
	} {
		if got := hex.EncodeToString(prependLen(c.in)); got != c.want {
			t.Errorf("prepend_len(%d bytes) = %s, want %s", len(c.in), got, c.want)
		}
	}
	if got := hex.EncodeToString(prefixFreeCat([]byte("1234"), []byte("5"), nil, []byte("6789"))); got != "04313233340135000436373839" {
		t.Errorf("prefix_free_cat = %s", got)
	}
	parts, err := splitPrefixFree(unhex(t, "04313233340135000436373839"), 4)
	if err != nil || string(bytes.Join(parts, nil)) != "123456789" {
		t.Errorf("split = %q %v", parts, err)
	}
	for _, bad := range []string{"ffffff", "ffff03", "00ffff03", "00ffffff"} {
		if _, err := splitPrefixFree(unhex(t, bad), 2); err == nil {
			t.Errorf("invalid message %s parsed", bad)
		}
	}
}

var (
	tcPRS = []byte("Password")
	tcCI  = []byte("\nAinitiator\nBresponder")
)

func TestCPaceX25519Vectors(t *testing.T) {
	sid := unhex(t, "7e4b4791d6a8ef019b936c79fb7f2c57")
	gs := generatorString([]byte(cpaceDSI), tcPRS, tcCI, sid, sha512BlockSize)
	if want := unhex(t, `0843506163653235350850617373776f72646d000000000000000000
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000000000000000000000000000
      00000000000000000000000000000000160a41696e69746961746f72
      0a42726573706f6e646572107e4b4791d6a8ef019b936c79fb7f2c57`); !bytes.Equal(gs, want) {
		t.Fatalf("generator_string\n got %x\nwant %x", gs, want)
	}
	g := cpaceGenerator(tcPRS, tcCI, sid)
	if want := unhex(t, "4e6098733061c0e8486611a904fe5edb049804d26130a44131a6229e55c5c321"); !bytes.Equal(g, want) {
		t.Fatalf("generator g = %x, want %x", g, want)
	}
	ya := unhex(t, "45acf93116ae5d3dae995a7c627df2924321a8e857d9a200807131e38839b0c2")
	yb := unhex(t, "a145e914b347002d298ce2051394f0ed68cf3623dfe5db082c78ffa5a667acdc")
	a, err := newCPace(bytes.NewReader(ya), tcPRS, tcCI, sid)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newCPace(bytes.NewReader(yb), tcPRS, tcCI, sid)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "6f7fd31863b18b0cc9830fc842c60dea80120ccf2fd375498225e45a52065361"); !bytes.Equal(a.share, want) {
		t.Fatalf("Ya = %x", a.share)
	}
	if want := unhex(t, "e1b730a4956c0f853d96c5d125cebeeea46952c07c6f66da65bd9ffd2f71a462"); !bytes.Equal(b.share, want) {
		t.Fatalf("Yb = %x", b.share)
	}
	msgA := prefixFreeCat(a.share, []byte("ADa"))
	msgB := prefixFreeCat(b.share, []byte("ADb"))
	if want := unhex(t, "206f7fd31863b18b0cc9830fc842c60dea80120ccf2fd375498225e45a5206536103414461"); !bytes.Equal(msgA, want) {
		t.Fatalf("MSGa = %x", msgA)
	}
	k, err := cpaceMult(ya, b.share)
	if want := unhex(t, "2a905bc5f0b93ee72ac4b6ea8723520941adfc892935bf6f86d9e199befa6024"); err != nil || !bytes.Equal(k, want) {
		t.Fatalf("K = %x %v", k, err)
	}
	want := unhex(t, `99a9e0ff35acb94ad8af1cd6b32ac409dc7d00557ccd9a7d19d3b462
      9e5f1f084f9332096162438c7ecc78331b4eda17e1a229a47182eccc
      9ea58cd9cdcd8e9a`)
	iskA, errA := a.isk(b.share, msgA, msgB)
	iskB, errB := b.isk(a.share, msgA, msgB)
	if errA != nil || errB != nil || !bytes.Equal(iskA, want) || !bytes.Equal(iskB, want) {
		t.Fatalf("ISK_IR: A %x %v, B %x %v", iskA, errA, iskB, errB)
	}
}

// TestCPaceLowOrderPoints: scalar_mult_vfy's results on low-order and
// non-canonical points, and the abort for the ones that give the neutral
// element.
func TestCPaceLowOrderPoints(t *testing.T) {
	s := unhex(t, "af46e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449aff")
	zero := "0000000000000000000000000000000000000000000000000000000000000000"
	for i, c := range [][2]string{
		{"0000000000000000000000000000000000000000000000000000000000000000", zero},
		{"0100000000000000000000000000000000000000000000000000000000000000", zero},
		{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", zero},
		{"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", zero},
		{"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", zero},
		{"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", zero},
		{"daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "d8e2c776bbacd510d09fd9278b7edcd25fc5ae9adfba3b6e040e8d3b71b21806"},
		{"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", zero},
		{"dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "c85c655ebe8be44ba9c0ffde69f2fe10194458d137f09bbff725ce58803cdb38"},
		{"d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "db64dafa9b8fdd136914e61461935fe92aa372cb056314e1231bc4ec12417456"},
		{"cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880", "e062dcd5376d58297be2618c7498f55baa07d7e03184e8aada20bca28888bf7a"},
		{"4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7", "993c6ad11c4c29da9a56f7691fd0ff8d732e49de6250b6c2e80003ff4629a175"},
	} {
		got, err := cpaceMult(s, unhex(t, c[0]))
		if c[1] == zero {
			if err == nil {
				t.Errorf("u%x: %x, want the abort case", i, got)
			}
			continue
		}
		if err != nil || hex.EncodeToString(got) != c[1] {
			t.Errorf("u%x: %x %v, want %s", i, got, err, c[1])
		}
	}
	c, err := newCPace(bytes.NewReader(s), tcPRS, tcCI, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.isk(make([]byte, 32), nil, nil); err == nil {
		t.Fatal("a zero share was accepted")
	}
	if _, err := c.isk(make([]byte, 31), nil, nil); err == nil {
		t.Fatal("a short share was accepted")
	}
}
