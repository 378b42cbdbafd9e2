package syslog

import (
	"bufio"
	"errors"
	"io"
)

// errFraming is a stream that is not syslog framing: a count of octets
// too large or not followed by a space. The connection is closed.
var errFraming = errors.New("not syslog framing")

// maxFrame is the largest octet count accepted: a frame longer than
// MaxLine is read up to MaxLine and the rest skipped, but a count beyond
// this is no syslog sender's.
const maxFrame = 1 << 20

// frameReader splits a TCP or TLS stream into syslog messages. Each
// frame is either octet-counted ("LEN SP MSG", RFC 6587 3.4.1 and RFC
// 5425) or ends with a newline (RFC 6587 3.4.2), told apart by its first
// byte, as rsyslog does: a digit starts a count, a line starts with '<'.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 16<<10), buf: make([]byte, 0, MaxLine)}
}

// next returns the next frame (valid until the next call) and whether it
// was cut to MaxLine. Empty lines are skipped. At the end of the stream
// it returns io.EOF (or io.ErrUnexpectedEOF inside a counted frame).
func (f *frameReader) next() ([]byte, bool, error) {
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, false, err
		}
		switch {
		case c == '\n' || c == '\r' || c == 0:
			continue // an empty line, or a NUL-terminated sender's trailer
		case c >= '1' && c <= '9':
			return f.counted(int(c - '0'))
		}
		f.r.UnreadByte()
		return f.line()
	}
}

// counted reads "LEN SP MSG" once LEN's first digit is read.
func (f *frameReader) counted(n int) ([]byte, bool, error) {
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, false, noEOF(err)
		}
		if c == ' ' {
			break
		}
		if c < '0' || c > '9' {
			return nil, false, errFraming
		}
		if n = n*10 + int(c-'0'); n > maxFrame {
			return nil, false, errFraming
		}
	}
	keep := min(n, MaxLine)
	f.buf = f.buf[:keep]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		return nil, false, noEOF(err)
	}
	if n > keep {
		if _, err := f.r.Discard(n - keep); err != nil {
			return nil, false, noEOF(err)
		}
	}
	return f.buf, n > keep, nil
}

// line reads up to a newline; past MaxLine the rest is skipped.
func (f *frameReader) line() ([]byte, bool, error) {
	f.buf = f.buf[:0]
	cut := false
	for {
		chunk, err := f.r.ReadSlice('\n')
		if room := MaxLine - len(f.buf); len(chunk) > room {
			f.buf = append(f.buf, chunk[:room]...)
			cut = cut || len(chunk) > room+1 || chunk[len(chunk)-1] != '\n'
		} else {
			f.buf = append(f.buf, chunk...)
		}
		switch {
		case err == nil:
			return trimTrailer(f.buf), cut, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(f.buf) > 0:
			return trimTrailer(f.buf), cut, nil // the last line of a stream may lack its newline
		}
		return nil, false, err
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
